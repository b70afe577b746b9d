"""Who is connected and who is in which room: the one place signaling state changes.

Pure bookkeeping, no I/O and no awaits: each change checks its rules and applies them in one
step, so no other coroutine can slip in between a check and the change it guards. Each change
returns what happened, and the hub turns that into Socket.IO messages. It also keeps
`RoomPresence` (what room listings read) in step.

Names: a *connection* is one Socket.IO connection (its id is the sid); a connection's
*membership* is its presence in one room (the store's room members, who may enter a private
room, are another thing). Every cleanup starts from the connection object and removes exactly
what that connection holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api.errors import AlreadyConnected, RoomFull
from api.rooms.presence import RoomPresence
from api.store.rooms import Room


class Membership:
    """One connection's stay in one room, from join to leave. A new object per join, so a
    coroutine that awaited can tell whether the stay it started with is still the current one
    (`connection.membership is membership`)."""

    __slots__ = ("room_id",)

    def __init__(self, room_id: str) -> None:
        self.room_id = room_id


@dataclass(eq=False)
class Connection:
    sid: str
    user_id: str
    session_id: str
    # The public profile shown to other participants, as sent on the wire.
    profile: dict[str, Any]
    membership: Membership | None = None
    muted: bool = False
    # False once disconnected: a handler still running for it must not put it anywhere.
    live: bool = True

    @property
    def room_id(self) -> str | None:
        return self.membership.room_id if self.membership is not None else None


@dataclass
class RoomMembers:
    # The room's current record (a topic edit replaces it for everyone at once).
    room: Room
    # sid → connection, in order of arrival.
    connections: dict[str, Connection] = field(default_factory=dict)
    by_user: dict[str, Connection] = field(default_factory=dict)


@dataclass(frozen=True)
class Departure:
    """A connection that left a room, and who was left behind to be told."""

    connection: Connection
    room: Room
    remaining: list[Connection]
    # Left because the same user joined from another connection.
    replaced: bool = False


@dataclass(frozen=True)
class Arrival:
    """A connection that joined a room: who was there before, and whom it displaced."""

    room: Room
    membership: Membership
    existing: list[Connection]
    departures: list[Departure]


class SignalingState:
    def __init__(self, presence: RoomPresence) -> None:
        self._presence = presence
        self._connections: dict[str, Connection] = {}
        self._rooms: dict[str, RoomMembers] = {}
        # Goes up whenever anyone loses a right (room closed, member removed, session ended):
        # a coroutine that checked a right before an await re-checks it if this moved.
        self.access_epoch = 0

    # --- connections ----------------------------------------------------------------------

    def connect(
        self, sid: str, user_id: str, session_id: str, profile: dict[str, Any]
    ) -> Connection:
        """Raises AlreadyConnected: a connection's identity is fixed once, at connect."""
        if sid in self._connections:
            raise AlreadyConnected()
        connection = Connection(sid, user_id, session_id, profile)
        self._connections[sid] = connection
        return connection

    def connection(self, sid: str) -> Connection | None:
        return self._connections.get(sid)

    def connections_of_user(self, user_id: str) -> list[Connection]:
        return [c for c in self._connections.values() if c.user_id == user_id]

    def disconnect(self, connection: Connection) -> Departure | None:
        connection.live = False
        if self._connections.get(connection.sid) is connection:
            del self._connections[connection.sid]
        return self.leave(connection)

    def access_lost(self) -> None:
        self.access_epoch += 1

    # --- rooms ----------------------------------------------------------------------------

    def room(self, room_id: str) -> Room | None:
        members = self._rooms.get(room_id)
        return members.room if members else None

    def members(self, room_id: str) -> list[Connection]:
        members = self._rooms.get(room_id)
        return list(members.connections.values()) if members else []

    def member_by_user(self, room_id: str, user_id: str) -> Connection | None:
        members = self._rooms.get(room_id)
        return members.by_user.get(user_id) if members else None

    def join(self, connection: Connection, room: Room) -> Arrival:
        """Put the connection in `room`, taking it out of any other room, and the same user's
        other connections out of every room (one presence per user).

        Raises RoomFull when the room holds `max_participants` other users.
        """
        members = self._rooms.get(room.id)
        others = 0 if members is None else len(members.by_user)
        if members is not None and connection.user_id in members.by_user:
            others -= 1  # the same user from another connection: it is replaced, not added
        if others >= room.max_participants:
            raise RoomFull()
        departures = [
            departure
            for other in self.connections_of_user(connection.user_id)
            if other is not connection
            and (departure := self._take_out(other, replaced=True)) is not None
        ]
        own = self._take_out(connection, replaced=False)
        if own is not None:
            departures.append(own)
        members = self._rooms.setdefault(room.id, RoomMembers(room))
        existing = list(members.connections.values())
        membership = Membership(room.id)
        members.connections[connection.sid] = connection
        members.by_user[connection.user_id] = connection
        connection.membership = membership
        connection.muted = False
        self._presence.enter(room.id, connection.user_id)
        return Arrival(members.room, membership, existing, departures)

    def leave(self, connection: Connection) -> Departure | None:
        return self._take_out(connection, replaced=False)

    def close_room(self, room_id: str) -> list[Departure]:
        """Everyone out at once; the room is not told of each departure (it is gone)."""
        self.access_lost()
        members = self._rooms.get(room_id)
        if members is None:
            return []
        return [
            departure
            for connection in list(members.connections.values())
            if (departure := self._take_out(connection, replaced=False, announce=False)) is not None
        ]

    def update_room(self, room: Room) -> None:
        members = self._rooms.get(room.id)
        if members is not None:
            members.room = room

    def set_muted(self, connection: Connection, muted: bool) -> None:
        connection.muted = muted

    def connection_count(self) -> int:
        return len(self._connections)

    def room_count(self) -> int:
        return len(self._rooms)

    def _take_out(
        self, connection: Connection, replaced: bool, announce: bool = True
    ) -> Departure | None:
        membership = connection.membership
        if membership is None:
            return None
        connection.membership = None
        connection.muted = False
        members = self._rooms[membership.room_id]
        del members.connections[connection.sid]
        if members.by_user.get(connection.user_id) is connection:
            del members.by_user[connection.user_id]
            self._presence.leave(membership.room_id, connection.user_id)
        remaining = list(members.connections.values()) if announce else []
        if not members.connections:
            del self._rooms[membership.room_id]
        return Departure(connection, members.room, remaining, replaced)
