"""Microphone state: a participant's own `mute`/`unmute`, and the owner's `mute-participant`
and `unmute-participant`.

The state changes here only; in sfu rooms the SFU then drops a muted publisher's audio too.
Who is muted is part of `room-state`, so a later arrival learns it. An owner's mute holds
against the participant's own `unmute` (`muted_by_owner`) until the owner lifts it: enforced
in the server, whatever the client does.
"""

from __future__ import annotations

from typing import Any

from api.errors import MutedByOwner, NotRoomOwner, NotYourself, PeerNotInRoom
from api.signaling.payloads import MuteParticipantPayload, MutePayload
from api.signaling.sfu_bridge import SfuBridge
from api.signaling.sockets import Sockets
from api.signaling.state import Connection, SignalingState
from api.store.rooms import Room

Ack = dict[str, Any]


class MuteControl:
    def __init__(self, state: SignalingState, sockets: Sockets, media: SfuBridge) -> None:
        self._state = state
        self._sockets = sockets
        self._media = media

    async def mute(self, connection: Connection, payload: MutePayload) -> Ack:
        return await self._set_own(connection, payload, muted=True)

    async def unmute(self, connection: Connection, payload: MutePayload) -> Ack:
        return await self._set_own(connection, payload, muted=False)

    async def mute_participant(
        self, connection: Connection, payload: MuteParticipantPayload
    ) -> Ack:
        return await self._set_by_owner(connection, payload, muted=True)

    async def unmute_participant(
        self, connection: Connection, payload: MuteParticipantPayload
    ) -> Ack:
        return await self._set_by_owner(connection, payload, muted=False)

    async def _set_by_owner(
        self, connection: Connection, payload: MuteParticipantPayload, muted: bool
    ) -> Ack:
        room = self._state.current_room(connection, payload.roomId)
        if room.owner_id != connection.user_id:
            raise NotRoomOwner()
        target = self._state.occupant_of_user(room.id, payload.userId)
        if target is None:
            raise PeerNotInRoom()
        self._set(target, room, muted, by_owner=True)
        # Everyone, the target included: its client must obey and show it.
        info = {"userId": target.user_id, "mute": muted, "by": connection.user_id}
        await self._sockets.to_room(room.id, "mute-info", info)
        return {}

    async def _set_own(self, connection: Connection, payload: MutePayload, muted: bool) -> Ack:
        room = self._state.current_room(connection, payload.roomId)
        if payload.userId is not None and payload.userId != connection.user_id:
            raise NotYourself("Owners mute others with mute-participant.")
        if not muted and connection.muted_by_owner:
            raise MutedByOwner()
        self._set(connection, room, muted, by_owner=connection.muted_by_owner)
        info = {"userId": connection.user_id, "mute": muted}
        await self._sockets.to_room(room.id, "mute-info", info, skip=(connection.sid,))
        return {}

    def _set(self, connection: Connection, room: Room, muted: bool, by_owner: bool) -> None:
        self._state.set_muted(connection, muted, by_owner)
        self._media.set_muted(room, connection, muted)
