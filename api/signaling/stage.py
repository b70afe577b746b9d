"""Stage rooms' events: raise and lower a hand, invite to speak and answer, set a role, leave
the stage, and remove a participant (every room: the owner is its host).

Roles change only in `SignalingState.set_role`; right after, before anything is awaited, the
SFU learns whether the participant's audio may be heard (`SfuBridge.set_on_stage`: a
listener's audio is dropped in the server whatever its client sends). Every message that
tells a room about a change is one emit: `role-changed` to the room, `hand-raised` and
`speak-invite-answered` to the hosts at once. Who may do what (docs/protocol.md, "Stage
rooms"): hosts invite, move speakers back to the audience and remove; only the owner makes or
unmakes co-hosts, or acts on one; nobody acts on the owner; a listener comes on stage only by
accepting an invite (consent: nobody is put on air unasked).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from api.auth.rate_limiter import Limit, RateLimiter
from api.background import BackgroundTasks
from api.errors import (
    AlreadyOnStage,
    NotRoomHost,
    NotRoomOwner,
    NotStageRoom,
    OwnerRoleFixed,
    PeerNotInRoom,
    SpeakInviteRequired,
)
from api.rooms.events import Removal
from api.rooms.service import RoomService
from api.signaling.locks import RoomLocks
from api.signaling.payloads import RoomPayload, SetRolePayload, TargetPayload
from api.signaling.presence import hand_object
from api.signaling.sfu_bridge import SfuBridge
from api.signaling.sockets import Sockets
from api.signaling.stage_book import SpeakInvite, StageRole
from api.signaling.state import Connection, RoleChange, SignalingState
from api.signaling.wire_objects import participant_object
from api.store.rooms import Room

Ack = dict[str, Any]
SPEAK_INVITE_SECONDS = 60.0
# Each raise or lower reaches every host: plenty for a person, no way to flood the hosts.
HAND_CHANGES = Limit(20, 60.0)


class StageControl:
    def __init__(
        self,
        state: SignalingState,
        sockets: Sockets,
        media: SfuBridge,
        rooms: RoomService,
        background: BackgroundTasks,
        locks: RoomLocks,
        rate_limiter: RateLimiter,
        invite_seconds: float = SPEAK_INVITE_SECONDS,
    ) -> None:
        self._state = state
        self._sockets = sockets
        self._media = media
        self._rooms = rooms
        self._background = background
        self._locks = locks
        self._rate_limiter = rate_limiter
        # How long an invitation to speak may be accepted.
        self.invite_seconds = invite_seconds

    # --- listeners ------------------------------------------------------------------------

    async def raise_hand(self, connection: Connection, payload: RoomPayload) -> Ack:
        room = self._stage_room(connection, payload.roomId)
        if connection.role != "listener":
            raise AlreadyOnStage()
        self._rate_limiter.hit("hand", connection.sid, HAND_CHANGES)
        hand = self._state.raise_hand(connection, int(time.time() * 1000))
        if hand is not None:
            await self._to_hosts(room, "hand-raised", hand_object(room.id, connection, hand, True))
        return {}

    async def lower_hand(self, connection: Connection, payload: RoomPayload) -> Ack:
        room = self._stage_room(connection, payload.roomId)
        self._rate_limiter.hit("hand", connection.sid, HAND_CHANGES)
        if self._state.lower_hand(connection):
            await self._to_hosts(room, "hand-raised", hand_object(room.id, connection, None, False))
        return {}

    async def accept_speak(self, connection: Connection, payload: RoomPayload) -> Ack:
        room = self._stage_room(connection, payload.roomId)
        if connection.role != "listener":
            raise AlreadyOnStage()
        invite = self._state.take_invite(connection, time.monotonic())
        await self._change_role(room, connection, "speaker", by=None)
        await self._answered(room, connection.user_id, "accepted", invite.by)
        return {}

    async def decline_speak(self, connection: Connection, payload: RoomPayload) -> Ack:
        room = self._stage_room(connection, payload.roomId)
        invite = self._state.take_invite(connection, time.monotonic())
        await self._answered(room, connection.user_id, "declined", invite.by)
        return {}

    async def leave_stage(self, connection: Connection, payload: RoomPayload) -> Ack:
        room = self._stage_room(connection, payload.roomId)
        if connection.user_id == room.owner_id:
            raise OwnerRoleFixed()
        if connection.role != "listener":
            await self._change_role(room, connection, "listener", by=None)
        return {}

    # --- hosts ----------------------------------------------------------------------------

    async def invite_to_speak(self, connection: Connection, payload: TargetPayload) -> Ack:
        room = self._stage_room(connection, payload.roomId)
        self._require_host(connection)
        target = self._target(room, connection, payload.userId)
        if target.role != "listener":
            raise AlreadyOnStage("They are on stage already.")
        seconds = self.invite_seconds
        invite = self._state.invite(target, connection.user_id, time.monotonic() + seconds)
        asyncio.get_running_loop().call_later(
            seconds, self._expire, room.id, target.user_id, invite
        )
        offered = {"roomId": room.id, "by": connection.user_id, "expiresInSeconds": seconds}
        await self._sockets.to_one(target.sid, "speak-invite", offered)
        await self._answered(room, target.user_id, "pending", invite.by)
        return {"expiresInSeconds": seconds}

    async def set_role(self, connection: Connection, payload: SetRolePayload) -> Ack:
        room = self._stage_room(connection, payload.roomId)
        self._require_host(connection)
        target = self._target(room, connection, payload.userId)
        if payload.role == target.role:
            return {}
        if "host" in (payload.role, target.role) and connection.user_id != room.owner_id:
            raise NotRoomOwner("Only the room's owner makes or unmakes co-hosts.")
        if target.role == "listener":
            raise SpeakInviteRequired()
        await self._change_role(room, target, payload.role, by=connection.user_id)
        return {}

    async def remove_participant(self, connection: Connection, payload: TargetPayload) -> Ack:
        """Every room: the owner (and a stage room's co-hosts) take someone out; a public room
        bans them for its lifetime, a private one drops their membership."""
        room = self._state.current_room(connection, payload.roomId)
        self._require_host(connection)
        target = self._target(room, connection, payload.userId)
        if target.role == "host" and connection.user_id != room.owner_id:
            raise NotRoomOwner("Only the room's owner removes a co-host.")
        removal = await self._rooms.remove_participant(room, target.user_id, connection.user_id)
        return {"banned": removal.banned}

    # --- from the services' events --------------------------------------------------------

    async def member_removed(self, removal: Removal) -> None:
        """Before `Presence.eject_user`: a role, hand or invitation the user held in the room
        ends with the removal (the departure is still told as the stage's or the audience's,
        by the role held until now), and so do the invitations they gave as a host."""
        own, withdrawn = self._state.forget_user(removal.room_id, removal.user_id)
        room = self._state.room(removal.room_id)
        if room is None:
            return
        if own is not None:  # the hosts would otherwise see it pending for ever
            await self._answered(room, removal.user_id, "withdrawn", own.by)
        await self.invitations_withdrawn(room, withdrawn, removal.user_id)

    # --- helpers --------------------------------------------------------------------------

    def _stage_room(self, connection: Connection, room_id: str) -> Room:
        room = self._state.current_room(connection, room_id)
        if not room.stage:
            raise NotStageRoom()
        return room

    @staticmethod
    def _require_host(connection: Connection) -> None:
        if connection.role != "host":
            raise NotRoomHost()

    def _target(self, room: Room, connection: Connection, user_id: str) -> Connection:
        """Another occupant who is not the owner; raises PeerNotInRoom."""
        target = self._state.occupant_of_user(room.id, user_id)
        if target is None or target is connection or user_id == connection.user_id:
            raise PeerNotInRoom("That user is not in your room (or is yourself).")
        if user_id == room.owner_id:
            raise PeerNotInRoom("Nobody acts on the room's owner.")
        return target

    async def _change_role(
        self, room: Room, connection: Connection, role: StageRole, by: str | None
    ) -> None:
        change = self._state.set_role(connection, role)
        self._media.set_on_stage(room, connection)  # before any await: heard or not at once
        async with self._locks.hold(room.id):
            await self._announce(change, by)

    async def _announce(self, change: RoleChange, by: str | None) -> None:
        connection, room = change.connection, change.room
        # What the change ended is told even if its connection left meanwhile.
        if change.hand_lowered:
            lowered = hand_object(room.id, connection, None, False)
            await self._to_hosts(room, "hand-raised", lowered)
        await self.invitations_withdrawn(room, change.withdrawn, connection.user_id)
        if connection.stay is None or connection.room_id != room.id:
            return  # left while we waited: its departure was told instead of the change
        changed: dict[str, Any] = {
            "roomId": room.id,
            "userId": connection.user_id,
            "role": change.role,
            "participant": participant_object(connection),
        }
        if by is not None:
            changed["by"] = by
        await self._sockets.to_room(room.id, "role-changed", changed)
        if change.role == "host" and change.previous != "host" and connection.stay is not None:
            # A new co-host sees the queue it now manages.
            hands = [
                hand_object(room.id, raiser, hand, True)
                for raiser, hand in self._state.raised_hands(room.id)
            ]
            await self._sockets.to_one(
                connection.sid, "raised-hands", {"roomId": room.id, "hands": hands}
            )

    async def invitations_withdrawn(self, room: Room, invited: list[str], by: str) -> None:
        """`by` is no longer a host (or was removed): the listeners it had invited hear the
        invitation end, and the hosts what became of it."""
        for user_id in invited:
            listener = self._state.occupant_of_user(room.id, user_id)
            if listener is not None:
                ended = {"roomId": room.id, "reason": "withdrawn"}
                await self._sockets.to_one(listener.sid, "speak-invite-ended", ended)
            await self._answered(room, user_id, "withdrawn", by)

    async def _answered(self, room: Room, user_id: str, answer: str, by: str) -> None:
        """Hosts see what became of an invitation: pending, accepted, declined, expired,
        withdrawn."""
        answered = {"roomId": room.id, "userId": user_id, "answer": answer, "by": by}
        await self._to_hosts(room, "speak-invite-answered", answered)

    async def _to_hosts(self, room: Room, event: str, data: dict[str, Any]) -> None:
        await self._sockets.to_each([c.sid for c in self._state.hosts(room.id)], event, data)

    def _expire(self, room_id: str, user_id: str, invite: SpeakInvite) -> None:
        if not self._state.expire_invite(room_id, user_id, invite):
            return  # answered, renewed, withdrawn, or the user was removed
        room = self._state.room(room_id)
        if room is None:
            return  # nobody left to tell
        self._background.spawn(self._tell_expired(room, user_id, invite), name="invite-expired")

    async def _tell_expired(self, room: Room, user_id: str, invite: SpeakInvite) -> None:
        invited = self._state.occupant_of_user(room.id, user_id)  # may be away, reconnecting
        if invited is not None:
            ended = {"roomId": room.id, "reason": "expired"}
            await self._sockets.to_one(invited.sid, "speak-invite-ended", ended)
        await self._answered(room, user_id, "expired", invite.by)
