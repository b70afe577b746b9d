"""Who is connected and who is in which room: the one place signaling state changes.

Pure bookkeeping, no I/O: each change returns what happened, and the namespace turns that
into Socket.IO messages. It also keeps `RoomPresence` (what room listings read) in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api.rooms.presence import RoomPresence
from api.store.rooms import Room


@dataclass
class Connection:
    sid: str
    user_id: str
    session_id: str
    # The public profile shown to other participants, as sent on the wire.
    profile: dict[str, Any]
    room: Room | None = None
    muted: bool = False


@dataclass
class RoomMembers:
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


class SignalingState:
    def __init__(self, presence: RoomPresence) -> None:
        self._presence = presence
        self._connections: dict[str, Connection] = {}
        self._rooms: dict[str, RoomMembers] = {}

    def connect(
        self, sid: str, user_id: str, session_id: str, profile: dict[str, Any]
    ) -> Connection:
        connection = Connection(sid, user_id, session_id, profile)
        self._connections[sid] = connection
        return connection

    def connection(self, sid: str) -> Connection | None:
        return self._connections.get(sid)

    def connections_of_user(self, user_id: str) -> list[Connection]:
        return [c for c in self._connections.values() if c.user_id == user_id]

    def disconnect(self, sid: str) -> Departure | None:
        departure = self.leave(sid)
        self._connections.pop(sid, None)
        return departure

    def members(self, room_id: str) -> list[Connection]:
        members = self._rooms.get(room_id)
        return list(members.connections.values()) if members else []

    def join(self, sid: str, room: Room) -> list[Connection]:
        """Put the connection in `room`; returns the members who were already there."""
        connection = self._connections[sid]
        members = self._rooms.setdefault(room.id, RoomMembers(room))
        existing = list(members.connections.values())
        members.connections[sid] = connection
        members.by_user[connection.user_id] = connection
        connection.room = room
        connection.muted = False
        self._presence.enter(room.id, connection.user_id)
        return existing

    def leave(self, sid: str) -> Departure | None:
        connection = self._connections.get(sid)
        if connection is None or connection.room is None:
            return None
        room = connection.room
        connection.room = None
        connection.muted = False
        members = self._rooms.get(room.id)
        remaining: list[Connection] = []
        if members is not None:
            members.connections.pop(sid, None)
            if members.by_user.get(connection.user_id) is connection:
                del members.by_user[connection.user_id]
            remaining = list(members.connections.values())
            if not remaining:
                del self._rooms[room.id]
        self._presence.leave(room.id, connection.user_id)
        return Departure(connection, room, remaining)

    def set_muted(self, sid: str, muted: bool) -> Connection:
        connection = self._connections[sid]
        connection.muted = muted
        return connection

    def member_by_user(self, room_id: str, user_id: str) -> Connection | None:
        members = self._rooms.get(room_id)
        return members.by_user.get(user_id) if members else None

    def connection_count(self) -> int:
        return len(self._connections)

    def room_count(self) -> int:
        return len(self._rooms)
