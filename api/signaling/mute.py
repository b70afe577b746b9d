"""Microphone state: a participant's own `mute`/`unmute` (or `mute-info {isMute}`, as clients
written for the original Gethory send it), and the owner's (in stage rooms, any host's)
`mute-participant` and `unmute-participant`.

The state changes here only; in sfu rooms the SFU then drops a muted publisher's audio too.
Who is muted is part of `room-state`, so a later arrival learns it. An owner's mute holds
against the participant's own `unmute` (`muted_by_owner`) until the owner lifts it: enforced
in the server, whatever the client does.

What the room is told carries the original Gethory client's fields as well as ours (DESIGN §3):
`mute-info` has both `mute` and `isMute`, and in mesh rooms a participant's own change is also
echoed as `mute`/`unmute {peerId, userId}` to everyone, the sender included (that client
changes its own icon only on the echo).
"""

from __future__ import annotations

from typing import Any

from api.errors import MutedByOwner, NotRoomHost, NotRoomOwner, NotYourself, PeerNotInRoom
from api.signaling.payloads import MuteInfoPayload, MuteParticipantPayload, MutePayload
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
        return await self._set_own(connection, payload.roomId, payload.userId, muted=True)

    async def unmute(self, connection: Connection, payload: MutePayload) -> Ack:
        return await self._set_own(connection, payload.roomId, payload.userId, muted=False)

    async def mute_info(self, connection: Connection, payload: MuteInfoPayload) -> Ack:
        """The original Gethory client's own state, as `mute` or `unmute` would set it."""
        return await self._set_own(connection, payload.roomId, payload.userId, muted=payload.isMute)

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
        if room.stage:
            # Hosts: the owner and co-hosts; a co-host's mute stops short of other hosts.
            if connection.role != "host":
                raise NotRoomHost()
        elif room.owner_id != connection.user_id:
            raise NotRoomOwner()
        target = self._state.occupant_of_user(room.id, payload.userId)
        if target is None:
            raise PeerNotInRoom()
        if target.role == "host" and room.owner_id != connection.user_id:
            # Themselves included: a co-host the owner muted does not lift it this way.
            raise NotRoomOwner("Only the room's owner mutes or unmutes a co-host.")
        self._set(target, room, muted, by_owner=True)
        # Everyone, the target included: its client must obey and show it.
        info = mute_info(target.user_id, muted) | {"by": connection.user_id}
        await self._sockets.to_room(room.id, "mute-info", info)
        return {}

    async def _set_own(
        self, connection: Connection, room_id: str, user_id: str | None, muted: bool
    ) -> Ack:
        room = self._state.current_room(connection, room_id)
        if user_id is not None and user_id != connection.user_id:
            raise NotYourself("Owners mute others with mute-participant.")
        if not muted and connection.muted_by_owner:
            raise MutedByOwner()
        stay = connection.stay
        self._set(connection, room, muted, by_owner=connection.muted_by_owner)
        if self._state.is_audience(connection):
            # Nobody hears the audience, and its toggles must not cost a write per occupant:
            # the state is kept (room-state, REST, audience-update) but not broadcast.
            return {}
        info = mute_info(connection.user_id, muted)
        await self._sockets.to_room(room.id, "mute-info", info, skip=(connection.sid,))
        # The emit may have suspended. Echo only if this is still the same stay (a departure
        # already told the room this connection is gone) and the same state (a later mute or
        # unmute of this connection already echoed its own; ours, last, would undo it).
        if room.media == "mesh" and connection.stay is stay and connection.muted is muted:
            echo = {"peerId": connection.sid, "userId": connection.user_id}
            await self._sockets.to_room(room.id, "mute" if muted else "unmute", echo)
        return {}

    def _set(self, connection: Connection, room: Room, muted: bool, by_owner: bool) -> None:
        self._state.set_muted(connection, muted, by_owner)
        self._media.set_muted(room, connection, muted)


def mute_info(user_id: str, muted: bool) -> dict[str, Any]:
    """`{userId, mute, isMute}`: `isMute` is the original Gethory client's name for `mute`."""
    return {"userId": user_id, "mute": muted, "isMute": muted}
