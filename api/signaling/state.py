"""Who is connected and who is in which room: the one place signaling state changes.

Pure bookkeeping, no I/O and no awaits: each change checks its rules and applies them in one
step, so no other coroutine can slip in between a check and the change it guards. Each change
returns what happened, and the jobs (`presence.py`, `mute.py`, ...) turn that into Socket.IO
messages. It also keeps `RoomPresence` (what room listings read) in step.

Names: a *connection* is one Socket.IO connection (its id is the sid); the connections in a
room right now are its *occupants*, and a connection's *stay* is its time in one room, from
join to leave. The store's *room members* (the users who may enter a private room) are another
thing and are never called occupants here. Every cleanup starts from the connection object and
removes exactly what that connection holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from api.errors import AlreadyConnected, NotAuthenticated, NotInRoom, RoomFull
from api.rooms.presence import RoomPresence
from api.signaling.rights_log import RightsLog, room_key
from api.store.rooms import Room


class Stay:
    """One connection's stay in one room, from join to leave. A new object per join, so a
    coroutine that awaited can tell whether the stay it started with is still the current one
    (`connection.stay is stay`). `serial` orders every join of the process: a stay whose serial
    is higher than a departure's began after that departure."""

    __slots__ = ("room_id", "serial")

    def __init__(self, room_id: str, serial: int) -> None:
        self.room_id = room_id
        self.serial = serial


@dataclass(eq=False)
class Connection:
    sid: str
    user_id: str
    session_id: str
    # The public profile shown to other participants, as sent on the wire.
    profile: dict[str, Any]
    stay: Stay | None = None
    muted: bool = False
    # Muted by the room's owner: only the owner lifts it (`unmute-participant`).
    muted_by_owner: bool = False
    # False once disconnected: a handler still running for it must not put it anywhere.
    live: bool = True

    @property
    def room_id(self) -> str | None:
        return self.stay.room_id if self.stay is not None else None


@dataclass
class RoomOccupants:
    # The room's current record (a topic edit replaces it for everyone at once).
    room: Room
    # sid → connection, in order of arrival (so in order of their stays' serials).
    connections: dict[str, Connection] = field(default_factory=dict)
    by_user: dict[str, Connection] = field(default_factory=dict)


@dataclass(frozen=True)
class Departure:
    """A connection that left a room. The occupants to tell are those who were there when it
    left: the room's occupants now, less those whose stay's serial is above `serial`."""

    connection: Connection
    room: Room
    # The last serial handed to a stay when it left.
    serial: int
    # Left because the same user joined from another connection.
    replaced: bool = False


@dataclass(frozen=True)
class Arrival:
    """A connection that joined a room: who was there before, and whom it displaced."""

    room: Room
    stay: Stay
    existing: list[Connection]
    departures: list[Departure]


class SignalingState:
    def __init__(self, presence: RoomPresence) -> None:
        self._presence = presence
        self._connections: dict[str, Connection] = {}
        self._rooms: dict[str, RoomOccupants] = {}
        self._serial = 0
        # Who lost which right when (room closed, member removed, session ended): a coroutine
        # that checked a right before an await checks it again if that right was lost.
        self.rights = RightsLog()
        # Called (synchronously) each time the last occupied room empties (api.drain waits on it).
        self._emptied: list[Callable[[], None]] = []

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

    # --- rooms ----------------------------------------------------------------------------

    def room(self, room_id: str) -> Room | None:
        occupants = self._rooms.get(room_id)
        return occupants.room if occupants else None

    def current_room(self, connection: Connection, room_id: str) -> Room:
        """The room `room_id` if the connection is in it; raises NotInRoom otherwise."""
        room = self.room(room_id) if connection.room_id == room_id else None
        if room is None:
            raise NotInRoom()
        return room

    def occupants(self, room_id: str) -> list[Connection]:
        """The connections in the room now, in order of arrival."""
        occupants = self._rooms.get(room_id)
        return list(occupants.connections.values()) if occupants else []

    def occupant_of_user(self, room_id: str, user_id: str) -> Connection | None:
        occupants = self._rooms.get(room_id)
        return occupants.by_user.get(user_id) if occupants else None

    def arrived_since(self, departure: Departure) -> list[Connection]:
        """The room's occupants who arrived after `departure`: they never saw it there."""
        occupants = self._rooms.get(departure.room.id)
        if occupants is None:
            return []
        newcomers = []
        for connection in reversed(occupants.connections.values()):
            if connection.stay is None or connection.stay.serial <= departure.serial:
                break  # arrival order: everyone before this one arrived earlier
            newcomers.append(connection)
        return newcomers

    def join(self, connection: Connection, room: Room) -> Arrival:
        """Put the connection in `room`, taking it out of any other room, and the same user's
        other connections out of every room (one presence per user).

        Raises RoomFull when the room holds `max_participants` other users, NotAuthenticated
        when the connection is already gone.
        """
        if not connection.live:
            raise NotAuthenticated()
        occupants = self._rooms.get(room.id)
        others = 0 if occupants is None else len(occupants.by_user)
        if occupants is not None and connection.user_id in occupants.by_user:
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
        occupants = self._rooms.setdefault(room.id, RoomOccupants(room))
        existing = list(occupants.connections.values())
        self._serial += 1
        stay = Stay(room.id, self._serial)
        occupants.connections[connection.sid] = connection
        occupants.by_user[connection.user_id] = connection
        connection.stay = stay
        connection.muted = False
        connection.muted_by_owner = False
        self._presence.enter(room.id, connection.user_id)
        return Arrival(occupants.room, stay, existing, departures)

    def leave(self, connection: Connection) -> Departure | None:
        return self._take_out(connection, replaced=False)

    def close_room(self, room_id: str) -> list[Departure]:
        """Everyone out at once; the room is not told of each departure (it is gone)."""
        self.rights.lost(room_key(room_id))
        occupants = self._rooms.get(room_id)
        if occupants is None:
            return []
        return [
            departure
            for connection in list(occupants.connections.values())
            if (departure := self._take_out(connection, replaced=False)) is not None
        ]

    def update_room(self, room: Room) -> None:
        occupants = self._rooms.get(room.id)
        if occupants is not None:
            occupants.room = room

    def set_muted(self, connection: Connection, muted: bool, by_owner: bool = False) -> None:
        """`by_owner`: the owner's mute (or unmute), which only the owner lifts."""
        connection.muted = muted
        connection.muted_by_owner = muted and by_owner

    def on_all_rooms_empty(self, listener: Callable[[], None]) -> None:
        """`listener()` runs each time a departure leaves no room occupied."""
        self._emptied.append(listener)

    def connection_count(self) -> int:
        return len(self._connections)

    def room_count(self) -> int:
        return len(self._rooms)

    def _take_out(self, connection: Connection, replaced: bool) -> Departure | None:
        stay = connection.stay
        if stay is None:
            return None
        connection.stay = None
        connection.muted = False
        connection.muted_by_owner = False
        occupants = self._rooms[stay.room_id]
        del occupants.connections[connection.sid]
        if occupants.by_user.get(connection.user_id) is connection:
            del occupants.by_user[connection.user_id]
            self._presence.leave(stay.room_id, connection.user_id)
        if not occupants.connections:
            del self._rooms[stay.room_id]
            if not self._rooms:
                for listener in self._emptied:
                    listener()
        return Departure(connection, occupants.room, self._serial, replaced)
