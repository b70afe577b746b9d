"""The mesh rooms' relays: an SDP or ICE candidate from one connection to a peer in its room.

Relayed payloads are rebuilt from the validated models (`payloads.py`), so nothing a client
adds beyond the contract reaches the peer; the peer learns the sender as `peerId`.
"""

from __future__ import annotations

from typing import Any

from api.errors import NotInRoom, PeerNotInRoom, WrongMediaMode
from api.signaling.payloads import RelayIcePayload, RelaySdpPayload
from api.signaling.sockets import Sockets
from api.signaling.state import Connection, SignalingState

Ack = dict[str, Any]


class MeshRelay:
    def __init__(self, state: SignalingState, sockets: Sockets) -> None:
        self._state = state
        self._sockets = sockets

    async def relay_ice(self, connection: Connection, payload: RelayIcePayload) -> Ack:
        target = self._peer(connection, payload.peerId)
        candidate = payload.icecandidate.model_dump() if payload.icecandidate else None
        await self._sockets.to_one(
            target.sid, "ice-candidate", {"peerId": connection.sid, "icecandidate": candidate}
        )
        return {}

    async def relay_sdp(self, connection: Connection, payload: RelaySdpPayload) -> Ack:
        target = self._peer(connection, payload.peerId)
        description = payload.sessionDescription.model_dump()
        await self._sockets.to_one(
            target.sid,
            "session-description",
            {"peerId": connection.sid, "sessionDescription": description},
        )
        return {}

    def _peer(self, connection: Connection, peer_id: str) -> Connection:
        """Another connection in the sender's room, which must be a mesh room."""
        room_id = connection.room_id
        room = self._state.room(room_id) if room_id is not None else None
        if room is None:
            raise NotInRoom()
        if room.media != "mesh":
            raise WrongMediaMode("Peer-to-peer relays are for mesh rooms only.")
        target = self._state.connection(peer_id)
        if target is None or target is connection or target.room_id != room_id:
            raise PeerNotInRoom()
        return target
