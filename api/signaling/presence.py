"""Who is in which room, live: joins, leaves, disconnects, replacements and ejections, and what
each room is told about them. (`RoomPresence` in api/rooms is the read model of the same
thing, kept in step by `SignalingState`; the store's room members, who may enter a private
room, are another thing.)

How membership changes stay consistent (one process, one event loop):
- every change of who is where is one synchronous call into `SignalingState`, which checks
  its rules (capacity, one presence per user, a live connection) in the same step;
- right after it, before anything can suspend, the departed connections lose their media
  (`SfuBridge.end_media`) and their place in the room's Socket.IO room, and an arrival gets
  its place (`Sockets`): broadcasts reach exactly the room's occupants;
- a right checked before an await (room entry, a live session) is checked again when that
  right was lost meanwhile (`SignalingState.rights`: this room closed, this user removed from
  it, this user's sessions ended), including while a join waited for the room's lock; a
  media session set up across an await is dropped if its connection's stay is no longer the
  one it started from;
- what tells a room about a change is sent under that room's lock (`RoomLocks`), so nobody
  hears "left" before "joined"; a departure is told to the occupants who were there when it
  happened (not to those who arrived after it: their `room-state` already lacked it);
- cleanup starts from the connection object: the SFU participant of a connection is keyed by
  its sid, never by its user;
- in audience mode (`state.py`) the audience's arrivals and departures are not announced one
  by one but noted in `AudienceUpdates`, which tells the room at most once a second; the
  stage's (hosts and speakers) still are. `room-state` holds the stage in full and the first
  page of the audience, so a join costs the same however large the room.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from api.auth.service import AuthService
from api.errors import NotAuthenticated, NotInRoom, TryAgain
from api.rooms.events import Removal
from api.rooms.service import RoomService
from api.signaling.audience import AudienceUpdates
from api.signaling.locks import RoomLocks
from api.signaling.payloads import JoinPayload, RoomPayload
from api.signaling.rights_log import Mark, membership_key, room_key, sessions_key
from api.signaling.sfu_bridge import SfuBridge
from api.signaling.sockets import Sockets
from api.signaling.stage_book import RaisedHand
from api.signaling.state import Arrival, Connection, Departure, SignalingState
from api.signaling.wire_objects import participant_object
from api.store.database import DATABASE_UNREACHABLE
from api.store.rooms import Room

Ack = dict[str, Any]
# How often a right is re-checked when rights keep changing while it is being checked.
RECHECKS = 5
# How many of the audience `room-state` lists (`GET /api/rooms/{id}/participants` has the rest).
AUDIENCE_PAGE = 50


class Presence:
    def __init__(
        self,
        state: SignalingState,
        sockets: Sockets,
        media: SfuBridge,
        rooms: RoomService,
        auth: AuthService,
        audience: AudienceUpdates,
        locks: RoomLocks,
    ) -> None:
        self._state = state
        self._sockets = sockets
        self._media = media
        self._rooms = rooms
        self._auth = auth
        self._audience = audience
        self._locks = locks

    # --- from clients ---------------------------------------------------------------------

    async def join(self, connection: Connection, payload: JoinPayload) -> Ack:
        for _ in range(RECHECKS):
            room, mark = await self._room_to_enter(connection, payload.roomId)
            if not connection.live:
                raise NotAuthenticated()
            async with self._locks.hold(room.id):
                if self._entry_lost(room.id, connection.user_id, mark):
                    continue  # the right was lost while we waited for the room: check again
                if connection.room_id == room.id:
                    await self._send_room_state(connection, room.id)
                    return {"peerId": connection.sid}
                arrival = self._state.join(connection, room)
                await self._moved(connection, arrival)
                await self._send_room_state(connection, room.id)
                await self._announce_arrival(connection, arrival)
            for departure in arrival.departures:
                await self._announce_departure(departure)
            return {"peerId": connection.sid}
        raise TryAgain()

    async def leave(self, connection: Connection, payload: RoomPayload) -> Ack:
        if connection.room_id is None:
            return {}
        if connection.room_id != payload.roomId:
            raise NotInRoom()
        await self._depart(self._state.leave(connection))
        return {}

    async def disconnect(self, connection: Connection) -> None:
        await self._depart(self._state.disconnect(connection))

    # --- from the services' events --------------------------------------------------------

    async def drop_revoked_connections(self, user_id: str) -> None:
        """Called when sessions of `user_id` end: close the sockets they were holding.

        Fails closed: a connection whose session cannot be checked (database down) is
        taken out too; its client reconnects once the database answers."""
        self._state.rights.lost(sessions_key(user_id))
        for connection in self._state.connections_of_user(user_id):
            if await self._session_is_live(connection):
                continue
            if not connection.live:
                continue  # gone while we asked
            await self._depart(self._state.disconnect(connection))
            await self._sockets.to_one(connection.sid, "session-ended", {})
            await self._sockets.disconnect(connection.sid)

    async def eject_room(self, room: Room) -> None:
        """The room was closed: everyone in it is taken out at once, then told."""
        departures = self._state.close_room(room.id)
        self._media.close_room(room.id)
        self._audience.forget(room.id)
        for departure in departures:
            await self._sockets.leave(departure.connection.sid, room.id)
        async with self._locks.hold(room.id):
            ejected = [d.connection.sid for d in departures]
            await self._sockets.to_each(ejected, "room-closed", {"roomId": room.id})

    async def eject_user(self, removal: Removal) -> None:
        """The user lost the right to be in the room (removed from its members, or removed
        and banned by a host)."""
        room_id, user_id = removal.room_id, removal.user_id
        self._state.rights.lost(membership_key(room_id, user_id))
        occupant = self._state.occupant_of_user(room_id, user_id)
        if occupant is None:
            return
        departure = self._state.leave(occupant)
        if departure is None:
            return
        await self._out((departure,))
        removed: dict[str, object] = {"roomId": room_id, "banned": removal.banned}
        if removal.by is not None:
            removed["by"] = removal.by
        await self._sockets.to_one(occupant.sid, "removed-from-room", removed)
        await self._announce_departure(departure)

    async def room_changed(self, room: Room) -> None:
        """The owner edited the room (its topic): live state holds the new record and everyone
        in the room sees the new topic without reloading."""
        self._state.update_room(room)
        update = {"roomId": room.id, "topic": room.topic}
        await self._sockets.to_room(room.id, "room-updated", update)

    # --- helpers ----------------------------------------------------------------------------

    async def _session_is_live(self, connection: Connection) -> bool:
        try:
            return await self._auth.session_is_live(connection.session_id)
        except DATABASE_UNREACHABLE:
            return False

    async def _room_to_enter(self, connection: Connection, room_id: str) -> tuple[Room, Mark]:
        """The same entry rule as GET /api/rooms/{id} (404 unless allowed, 410 once closed),
        re-checked if this right was lost while it was being read; with the mark it held."""
        for _ in range(RECHECKS):
            mark = self._state.rights.mark()
            room = (await self._rooms.view(connection.user_id, room_id)).room
            if not self._entry_lost(room.id, connection.user_id, mark):
                return room, mark
        raise TryAgain()

    def _entry_lost(self, room_id: str, user_id: str, mark: Mark) -> bool:
        rights = self._state.rights
        return rights.changed_since(room_key(room_id), mark) or rights.changed_since(
            membership_key(room_id, user_id), mark
        )

    async def _moved(self, connection: Connection, arrival: Arrival) -> None:
        """Right after the state change: what the arrival displaced is out, it is in."""
        await self._out(arrival.departures)
        await self._sockets.enter(connection.sid, arrival.room.id)

    async def _out(self, departures: Iterable[Departure]) -> None:
        """Right after the state change: departed connections hear nothing more."""
        departures = list(departures)
        self._media.end_media(departures)
        for departure in departures:
            await self._sockets.leave(departure.connection.sid, departure.room.id)

    async def _depart(self, departure: Departure | None) -> None:
        if departure is not None:
            await self._out((departure,))
            await self._announce_departure(departure)

    async def _send_room_state(self, connection: Connection, room_id: str) -> None:
        await self._sockets.to_one(connection.sid, "room-state", self._room_state(connection))

    def _room_state(self, connection: Connection) -> dict[str, object]:
        """The stage in full and the first page of the audience: its size does not grow with
        the room's."""
        state = self._state
        room = state.room(connection.room_id or "")
        assert room is not None, "sent only to an occupant"
        page, next_after = state.audience_page(room.id, AUDIENCE_PAGE)
        invite, hand = state.invite_of(connection), state.hand_of(connection)
        now = time.monotonic()
        room_state: dict[str, object] = {
            "roomId": room.id,
            "media": room.media,
            "ownerId": room.owner_id,
            "stage": room.stage,
            "selfPeerId": connection.sid,
            "role": connection.role,
            "handRaised": hand is not None,
            "speakInvite": None
            if invite is None or invite.expires_at <= now
            else {"by": invite.by, "expiresInSeconds": round(invite.expires_at - now, 1)},
            "participants": [participant_object(c) for c in state.stage_members(room.id)],
            "audience": {
                "count": state.audience_count(room.id),
                "role": state.audience_role(room),
                "participants": [participant_object(c) for c in page],
                "nextCursor": None if next_after is None else str(next_after),
            },
        }
        if room.stage and connection.role == "host":
            room_state["raisedHands"] = [
                hand_object(room.id, raiser, raised, True)
                for raiser, raised in state.raised_hands(room.id)
            ]
        return room_state

    async def _announce_arrival(self, connection: Connection, arrival: Arrival) -> None:
        """Under the room's lock, to everyone in it but the newcomer (the audience's arrivals
        go out together, at most once a second)."""
        room_id, sid, profile = arrival.room.id, connection.sid, connection.profile
        if arrival.audience:
            self._audience.joined(room_id, connection)
        else:
            joined = participant_object(connection)
            await self._sockets.to_room(room_id, "participant-joined", joined, skip=(sid,))
        if arrival.room.media != "mesh":
            return
        add_newcomer = {"peerId": sid, "createOffer": False, "user": profile}
        await self._sockets.to_room(room_id, "add-peer", add_newcomer, skip=(sid,))
        for occupant in arrival.existing:
            await self._sockets.to_one(
                sid,
                "add-peer",
                {"peerId": occupant.sid, "createOffer": True, "user": occupant.profile},
            )

    async def _announce_departure(self, departure: Departure) -> None:
        room_id = departure.room.id
        sid, user_id = departure.connection.sid, departure.connection.user_id
        async with self._locks.hold(room_id):
            if departure.replaced:
                await self._sockets.to_one(sid, "replaced", {"roomId": room_id})
            if departure.hand_lowered:
                hosts = [c.sid for c in self._state.hosts(room_id)]
                lowered = hand_object(room_id, departure.connection, None, False)
                await self._sockets.to_each(hosts, "hand-raised", lowered)
            if departure.audience:
                self._audience.left(room_id, departure.connection)
                return
            # Under the lock nobody arrives: the same occupants hear both messages.
            skip = [sid, *(c.sid for c in self._state.arrived_since(departure))]
            left = {"peerId": sid, "userId": user_id}
            await self._sockets.to_room(room_id, "participant-left", left, skip=skip)
            if departure.room.media == "mesh":
                # `userId` too: clients written for the original Gethory drop people by it.
                await self._sockets.to_room(room_id, "remove-peer", left, skip=skip)


def hand_object(
    room_id: str, connection: Connection, hand: RaisedHand | None, raised: bool
) -> dict[str, object]:
    """`hand-raised {roomId, userId, peerId, user, raised, raisedAt?}` (to hosts only)."""
    item: dict[str, object] = {
        "roomId": room_id,
        "userId": connection.user_id,
        "peerId": connection.sid,
        "user": connection.profile,
        "raised": raised,
    }
    if hand is not None:
        item["raisedAt"] = hand.raised_at_ms
    return item
