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

Roles (`host`, `speaker`, `listener`): the owner is always a host; in stage rooms everyone else
is a listener unless a host made them more (`StageBook`, kept while the room is open in this
process); in other rooms everyone else is a speaker. A room is in *audience mode* when it is a
stage room or an sfu room that grew past `AUDIENCE_THRESHOLD` occupants (until it empties): its
*audience*
(stage rooms: the listeners; other rooms: everyone but hosts) is told of as a count and pages,
not one by one (`presence.py`, `audience.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from api.errors import AlreadyConnected, NoSpeakInvite, NotAuthenticated, NotInRoom, RoomFull
from api.rooms.presence import RoomPresence
from api.signaling.rights_log import RightsLog, room_key
from api.signaling.stage_book import RaisedHand, SpeakInvite, StageBook, StageRole
from api.store.rooms import Room

# Above this many occupants an sfu room tells of its audience in counts and pages.
AUDIENCE_THRESHOLD = 50


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
    # Muted by a host (the owner, or a stage room's co-host): only a host lifts it
    # (`unmute-participant`).
    muted_by_owner: bool = False
    # Its role in its current room (meaningless outside a room).
    role: StageRole = "speaker"
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
    # sid → connection of the hosts and speakers, in order of coming on stage.
    on_stage: dict[str, Connection] = field(default_factory=dict)
    # Grew past AUDIENCE_THRESHOLD once: stays in audience mode until it empties, so clients
    # that switched their view on the first `audience-update` never have to switch back.
    large: bool = False


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
    # Was in the room's audience when it left (told in counts, not one by one).
    audience: bool = False
    # The user left the room with a hand up (hosts see it go down).
    hand_lowered: bool = False


@dataclass(frozen=True)
class Arrival:
    """A connection that joined a room: who was there before, and whom it displaced."""

    room: Room
    stay: Stay
    existing: list[Connection]
    departures: list[Departure]
    # Joined the room's audience (told in counts, not one by one).
    audience: bool = False


@dataclass(frozen=True)
class RoleChange:
    connection: Connection
    room: Room
    role: StageRole
    previous: StageRole
    # The user's hand was up and is now down (coming on stage lowers it).
    hand_lowered: bool
    # Users whose invitations (given by this user as a host) ended with the host role.
    withdrawn: list[str] = field(default_factory=list)


class SignalingState:
    def __init__(self, presence: RoomPresence) -> None:
        self._presence = presence
        self._connections: dict[str, Connection] = {}
        # user id → that user's connections (a join looks them up: one presence per user).
        self._by_user: dict[str, dict[str, Connection]] = {}
        self._rooms: dict[str, RoomOccupants] = {}
        # room id → its stage book, while the room is open (it outlives emptying).
        self._books: dict[str, StageBook] = {}
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
        self._by_user.setdefault(user_id, {})[sid] = connection
        return connection

    def connection(self, sid: str) -> Connection | None:
        return self._connections.get(sid)

    def connections_of_user(self, user_id: str) -> list[Connection]:
        return list(self._by_user.get(user_id, {}).values())

    def disconnect(self, connection: Connection) -> Departure | None:
        connection.live = False
        if self._connections.get(connection.sid) is connection:
            del self._connections[connection.sid]
            of_user = self._by_user[connection.user_id]
            del of_user[connection.sid]
            if not of_user:
                del self._by_user[connection.user_id]
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
        # The owner and co-hosts of an sfu room always get in: an audience that filled the
        # room must not lock out the people who run it.
        host = room.media == "sfu" and self.role_of(room, connection.user_id) == "host"
        if others >= room.max_participants and not host:
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
        if len(occupants.connections) > AUDIENCE_THRESHOLD:
            occupants.large = True
        connection.stay = stay
        book = self._books.get(room.id)
        # A host's mute holds across a reconnect: coming back is no way around it.
        connection.muted = connection.muted_by_owner = (
            book is not None and connection.user_id in book.host_muted
        )
        connection.role = self.role_of(occupants.room, connection.user_id)
        if connection.role != "listener":
            occupants.on_stage[connection.sid] = connection
        self._presence.enter(
            room.id, connection.user_id, stay.serial, connection.role, connection.muted
        )
        audience = self._in_audience(occupants, connection.role)
        return Arrival(occupants.room, stay, existing, departures, audience)

    def leave(self, connection: Connection) -> Departure | None:
        return self._take_out(connection, replaced=False)

    def close_room(self, room_id: str) -> list[Departure]:
        """Everyone out at once; the room is not told of each departure (it is gone)."""
        self.rights.lost(room_key(room_id))
        self._books.pop(room_id, None)
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
        """`by_owner`: a host's mute (or unmute), which only a host lifts."""
        connection.muted = muted
        connection.muted_by_owner = muted and by_owner
        if connection.stay is None:
            return
        room_id = connection.stay.room_id
        self._presence.update(room_id, connection.user_id, muted=muted)
        if by_owner:
            host_muted = self._books.setdefault(room_id, StageBook()).host_muted
            if muted:
                host_muted.add(connection.user_id)
            else:
                host_muted.discard(connection.user_id)

    # --- roles (stage rooms) ----------------------------------------------------------------

    def role_of(self, room: Room, user_id: str) -> StageRole:
        if user_id == room.owner_id:
            return "host"
        book = self._books.get(room.id)
        given = book.roles.get(user_id) if book is not None else None
        if given is not None:
            return given
        return "listener" if room.stage else "speaker"

    def on_stage(self, connection: Connection) -> bool:
        """Whether its audio may be heard: hosts and speakers (everyone outside stage rooms)."""
        return connection.role != "listener"

    def is_audience(self, connection: Connection) -> bool:
        occupants = self._occupants_of(connection)
        return occupants is not None and self._in_audience(occupants, connection.role)

    def set_role(self, connection: Connection, role: StageRole) -> RoleChange:
        """Give the connection's user `role` in its room (kept for the user while the room is
        open). Coming on stage lowers a raised hand and ends an invite. Raises NotInRoom."""
        occupants = self._occupants_of(connection)
        if occupants is None:
            raise NotInRoom()
        room, user_id, previous = occupants.room, connection.user_id, connection.role
        book = self._books.setdefault(room.id, StageBook())
        book.roles.pop(user_id, None)
        if role != self.role_of(room, user_id):
            book.roles[user_id] = role
        connection.role = role
        occupants.on_stage.pop(connection.sid, None)
        hand_lowered = False
        if role != "listener":
            occupants.on_stage[connection.sid] = connection
            hand_lowered = book.lower_hand(user_id)
            book.invites.pop(user_id, None)
        withdrawn = book.drop_invites_by(user_id) if previous == "host" != role else []
        self._presence.update(room.id, user_id, role=role)
        return RoleChange(connection, room, role, previous, hand_lowered, withdrawn)

    def forget_user(self, room_id: str, user_id: str) -> tuple[SpeakInvite | None, list[str]]:
        """The user was removed from the room: a role, hand or invitation they held there
        ends with it (someone let back in comes back as a newcomer). Returns their own
        invitation, if any, and whom the invitations they gave were for."""
        book = self._books.get(room_id)
        return book.forget(user_id) if book is not None else (None, [])

    def raise_hand(self, connection: Connection, raised_at_ms: int) -> RaisedHand | None:
        """The hand, or None if it was up already (it keeps its place in the queue)."""
        book = self._book_of(connection)
        if connection.user_id in book.hands:
            return None
        book.hands[connection.user_id] = hand = RaisedHand(raised_at_ms)
        return hand

    def lower_hand(self, connection: Connection) -> bool:
        """Whether a hand was up."""
        return self._book_of(connection).hands.pop(connection.user_id, None) is not None

    def invite(self, connection: Connection, by: str, expires_at: float) -> SpeakInvite:
        """A new invite for the connection's user (replacing any older one)."""
        invite = SpeakInvite(by, expires_at)
        self._book_of(connection).invites[connection.user_id] = invite
        return invite

    def take_invite(self, connection: Connection, now: float) -> SpeakInvite:
        """End the user's live invite and return it; raises NoSpeakInvite if none is live."""
        invites = self._book_of(connection).invites
        invite = invites.get(connection.user_id)
        if invite is None or invite.expires_at <= now:
            # An expired one stays for its timer, which tells the hosts it expired.
            raise NoSpeakInvite()
        del invites[connection.user_id]
        return invite

    def expire_invite(self, room_id: str, user_id: str, invite: SpeakInvite) -> bool:
        """Drop `invite` if it is still the user's live one; whether it was."""
        book = self._books.get(room_id)
        if book is None or book.invites.get(user_id) is not invite:
            return False
        del book.invites[user_id]
        return True

    def invite_of(self, connection: Connection) -> SpeakInvite | None:
        book = self._books.get(connection.room_id or "")
        return book.invites.get(connection.user_id) if book is not None else None

    def hand_of(self, connection: Connection) -> RaisedHand | None:
        book = self._books.get(connection.room_id or "")
        return book.hands.get(connection.user_id) if book is not None else None

    def raised_hands(self, room_id: str) -> list[tuple[Connection, RaisedHand]]:
        """Occupants with a hand up, in order of raising."""
        book, occupants = self._books.get(room_id), self._rooms.get(room_id)
        if book is None or occupants is None:
            return []
        return [
            (occupants.by_user[user_id], hand)
            for user_id, hand in book.hands.items()
            if user_id in occupants.by_user
        ]

    def hosts(self, room_id: str) -> list[Connection]:
        occupants = self._rooms.get(room_id)
        if occupants is None:
            return []
        return [c for c in occupants.on_stage.values() if c.role == "host"]

    # --- audience mode ----------------------------------------------------------------------

    def stage_members(self, room_id: str) -> list[Connection]:
        """Who is told of one by one, in full: everyone in a room not in audience mode."""
        occupants = self._rooms.get(room_id)
        if occupants is None:
            return []
        room = occupants.room
        if room.stage:
            return list(occupants.on_stage.values())
        if not self._audience_mode(occupants):
            return list(occupants.connections.values())
        owner = occupants.by_user.get(room.owner_id)
        return [owner] if owner is not None else []

    def audience_count(self, room_id: str) -> int:
        occupants = self._rooms.get(room_id)
        if occupants is None:
            return 0
        if occupants.room.stage:
            return len(occupants.connections) - len(occupants.on_stage)
        if not self._audience_mode(occupants):
            return 0
        return len(occupants.connections) - (occupants.room.owner_id in occupants.by_user)

    def audience_page(self, room_id: str, limit: int) -> tuple[list[Connection], int | None]:
        """The first `limit` of the audience in order of arrival, and the serial to page on
        from (`GET /api/rooms/{id}/participants`), None if that was all."""
        occupants = self._rooms.get(room_id)
        if occupants is None:
            return [], None
        page: list[Connection] = []
        for connection in occupants.connections.values():
            if not self._in_audience(occupants, connection.role):
                continue
            if len(page) == limit:
                last = page[-1].stay
                return page, last.serial if last is not None else None
            page.append(connection)
        return page, None

    def audience_role(self, room: Room) -> StageRole:
        """The role to page the audience by: listeners in stage rooms, else speakers."""
        return "listener" if room.stage else "speaker"

    def on_all_rooms_empty(self, listener: Callable[[], None]) -> None:
        """`listener()` runs each time a departure leaves no room occupied."""
        self._emptied.append(listener)

    def room_size(self, room_id: str) -> int:
        """How many connections are in the room."""
        occupants = self._rooms.get(room_id)
        return len(occupants.connections) if occupants is not None else 0

    def connection_count(self) -> int:
        return len(self._connections)

    def room_count(self) -> int:
        return len(self._rooms)

    def _occupants_of(self, connection: Connection) -> RoomOccupants | None:
        room_id = connection.room_id
        return self._rooms.get(room_id) if room_id is not None else None

    def _book_of(self, connection: Connection) -> StageBook:
        occupants = self._occupants_of(connection)
        if occupants is None:
            raise NotInRoom()
        return self._books.setdefault(occupants.room.id, StageBook())

    @staticmethod
    def _audience_mode(occupants: RoomOccupants) -> bool:
        room = occupants.room
        return room.stage or (room.media == "sfu" and occupants.large)

    def _in_audience(self, occupants: RoomOccupants, role: StageRole) -> bool:
        if occupants.room.stage:
            return role == "listener"
        return role != "host" and self._audience_mode(occupants)

    def _take_out(self, connection: Connection, replaced: bool) -> Departure | None:
        stay = connection.stay
        if stay is None:
            return None
        occupants = self._rooms[stay.room_id]
        audience = self._in_audience(occupants, connection.role)
        connection.stay = None
        connection.muted = False
        connection.muted_by_owner = False
        del occupants.connections[connection.sid]
        occupants.on_stage.pop(connection.sid, None)
        hand_lowered = False
        if occupants.by_user.get(connection.user_id) is connection:
            del occupants.by_user[connection.user_id]
            self._presence.leave(stay.room_id, connection.user_id)
            book = self._books.get(stay.room_id)
            if book is not None:
                hand_lowered = book.lower_hand(connection.user_id)
        if not occupants.connections:
            del self._rooms[stay.room_id]
            book = self._books.get(stay.room_id)
            if book is not None and book.is_empty():
                del self._books[stay.room_id]  # an emptied room keeps only what outlives it
            if not self._rooms:
                for listener in self._emptied:
                    listener()
        return Departure(connection, occupants.room, self._serial, replaced, audience, hand_lowered)
