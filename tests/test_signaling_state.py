"""Signaling's bookkeeping and presence orchestration with fakes: who is told of a departure,
and a join that waited for a room while it closed (no server, no sockets)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

from api.auth.service import AuthService
from api.background import BackgroundTasks
from api.errors import NotAuthenticated, RoomClosed
from api.rooms.presence import RoomPresence
from api.rooms.service import RoomService, RoomView
from api.signaling.audience import AudienceUpdates
from api.signaling.locks import RoomLocks
from api.signaling.payloads import JoinPayload
from api.signaling.presence import Presence
from api.signaling.sfu_bridge import SfuBridge
from api.signaling.sockets import Sockets
from api.signaling.state import Departure, SignalingState
from api.store.rooms import Room

ROOM_ID = "rm_AAAAAAAAAAAAAAAA"


def a_room(room_id: str = ROOM_ID) -> Room:
    return Room(
        id=room_id,
        owner_id="usr_owner",
        topic="A room",
        visibility="public",
        media="mesh",
        slots=None,
        max_participants=8,
        status="open",
        created_at=datetime.now(UTC),
    )


def connected(state: SignalingState, *names: str) -> list[Any]:
    return [
        state.connect(f"sid-{name}", f"usr_{name.rstrip('0123456789')}", "ses", {})
        for name in names
    ]


# --- SignalingState ----------------------------------------------------------------------------


def test_those_who_arrived_after_a_departure_are_known() -> None:
    state = SignalingState(RoomPresence())
    room = a_room()
    ann, bob, cat = connected(state, "ann", "bob", "cat")
    state.join(ann, room)
    state.join(bob, room)
    departure = state.leave(bob)
    assert departure is not None and state.arrived_since(departure) == []
    state.join(cat, room)
    assert state.arrived_since(departure) == [cat]
    # The departed connection coming back is a newcomer too.
    state.join(bob, room)
    assert state.arrived_since(departure) == [bob, cat]


def test_a_replaced_tab_is_not_announced_to_the_tab_that_replaced_it() -> None:
    state = SignalingState(RoomPresence())
    room = a_room()
    first, second, bob = connected(state, "ann1", "ann2", "bob")
    state.join(first, room)
    state.join(bob, room)
    arrival = state.join(second, room)
    [replaced] = arrival.departures
    assert replaced.connection is first and replaced.replaced
    assert state.arrived_since(replaced) == [second]
    assert state.occupants(room.id) == [bob, second]


def test_a_room_emptied_and_filled_again_knows_its_newcomers() -> None:
    state = SignalingState(RoomPresence())
    room = a_room()
    ann, bob = connected(state, "ann", "bob")
    state.join(ann, room)
    departure = state.leave(ann)
    assert departure is not None and state.room_count() == 0
    state.join(bob, room)
    assert state.arrived_since(departure) == [bob]


def test_a_disconnected_connection_cannot_join() -> None:
    presence = RoomPresence()
    state = SignalingState(presence)
    [ann] = connected(state, "ann")
    state.disconnect(ann)
    with pytest.raises(NotAuthenticated):
        state.join(ann, a_room())
    assert state.room_count() == 0 and presence.count(ROOM_ID) == 0 and ann.stay is None


# --- Presence, with fakes ----------------------------------------------------------------------


class RecordingSockets(Sockets):
    """Socket.IO rooms as sets; every message recorded as (sid, event, data). The first
    `room-state` can be held at a gate, which keeps its join holding the room's lock."""

    def __init__(self) -> None:
        self.rooms: defaultdict[str, set[str]] = defaultdict(set)
        self.sent: list[tuple[str, str, Any]] = []
        self.gate: asyncio.Event | None = None
        self.at_gate = asyncio.Event()

    async def enter(self, sid: str, room_id: str) -> None:
        self.rooms[room_id].add(sid)

    async def leave(self, sid: str, room_id: str) -> None:
        self.rooms[room_id].discard(sid)

    async def to_room(
        self, room_id: str, event: str, data: Any, skip: Collection[str] = ()
    ) -> None:
        await self.to_each(sorted(self.rooms[room_id] - set(skip)), event, data)

    async def to_one(self, sid: str, event: str, data: Any) -> None:
        if event == "room-state" and self.gate is not None and not self.gate.is_set():
            self.at_gate.set()
            await self.gate.wait()
        self.sent.append((sid, event, data))

    async def to_each(self, sids: Collection[str], event: str, data: Any) -> None:
        self.sent.extend((sid, event, data) for sid in sids)

    async def disconnect(self, sid: str) -> None:
        self.sent.append((sid, "(disconnected)", None))


class NoMedia(SfuBridge):
    def __init__(self, sockets: Sockets) -> None:
        super().__init__(sockets)
        self.closed_rooms: list[str] = []
        self.room_closed = asyncio.Event()

    def end_media(self, departures: Iterable[Departure]) -> None:
        pass

    def close_room(self, room_id: str) -> None:
        self.closed_rooms.append(room_id)
        self.room_closed.set()


class OneRoom(RoomService):
    """The entry check for one room: open until `closed`, for everyone."""

    def __init__(self, room: Room) -> None:
        self.room = room
        self.closed = False
        self.viewers: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)

    async def view(self, user_id: str, room_id: str) -> RoomView:
        self.viewers[user_id].set()
        if self.closed:
            raise RoomClosed()
        return RoomView(self.room, "visitor")


class NoAuth(AuthService):
    def __init__(self) -> None:
        pass


def jobs_of(state: SignalingState, sockets: Sockets) -> tuple[AudienceUpdates, RoomLocks]:
    return AudienceUpdates(state, sockets, BackgroundTasks()), RoomLocks()


async def test_a_join_that_waited_for_the_room_while_it_closed_is_refused() -> None:
    room = a_room()
    state, sockets, rooms = SignalingState(RoomPresence()), RecordingSockets(), OneRoom(room)
    media = NoMedia(sockets)
    presence = Presence(state, sockets, media, rooms, NoAuth(), *jobs_of(state, sockets))
    ann, bob = connected(state, "ann", "bob")
    sockets.gate = asyncio.Event()

    ann_joins = asyncio.create_task(presence.join(ann, JoinPayload(roomId=room.id)))
    await sockets.at_gate.wait()  # Ann is in, holding the room's lock
    bob_joins = asyncio.create_task(presence.join(bob, JoinPayload(roomId=room.id)))
    await rooms.viewers["usr_bob"].wait()  # Bob may enter; he now waits for the lock
    rooms.closed = True
    closing = asyncio.create_task(presence.eject_room(room))
    await media.room_closed.wait()  # Ann is out; the notice waits for the lock
    sockets.gate.set()

    assert await ann_joins == {"peerId": ann.sid}
    with pytest.raises(RoomClosed):
        await bob_joins
    await closing
    assert state.occupants(room.id) == [] and bob.stay is None and ann.stay is None
    assert sockets.rooms[room.id] == set()
    assert [m for m in sockets.sent if m[1] == "room-closed"] == [
        (ann.sid, "room-closed", {"roomId": room.id})
    ]
    assert all(sid != bob.sid for sid, _, _ in sockets.sent)


async def test_a_departure_reaches_the_occupants_of_its_moment_once() -> None:
    room = a_room()
    state, sockets = SignalingState(RoomPresence()), RecordingSockets()
    presence = Presence(
        state, sockets, NoMedia(sockets), OneRoom(room), NoAuth(), *jobs_of(state, sockets)
    )
    people = connected(state, *("ann", "bob", "cat", "dan", "eve", "fay"))
    for someone in people:
        await presence.join(someone, JoinPayload(roomId=room.id))
    sockets.sent.clear()
    leaver = people[2]
    await presence.disconnect(leaver)
    told = [(sid, event) for sid, event, _ in sockets.sent]
    others = sorted(p.sid for p in people if p is not leaver)
    assert sorted(sid for sid, event in told if event == "participant-left") == others
    assert sorted(sid for sid, event in told if event == "remove-peer") == others
    assert sockets.rooms[room.id] == set(others)
