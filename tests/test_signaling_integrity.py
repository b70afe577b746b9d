"""Membership holds under hostile frames, races and vanished clients (issue 9, items 1-3, 7, 10).

Each test drives the real server over real sockets; the SFU tests use real aiortc peers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from api.services import SERVICES
from api.settings import Settings
from api.signaling.client_fault_log import LINES_PER_WINDOW
from api.signaling.hub import SIGNALING
from sfu.config import RtcConfig
from tests.conftest import RunningServer, start_server
from tests.people import Person, invite
from tests.sfu_client import SfuClient
from tests.sfu_state import is_connected
from tests.sockets import SocketClient
from tests.test_sfu import enter

MakePerson = Callable[[str], Awaitable[Person]]


def received(client: SfuClient) -> int:
    return sum(len(numbers) for numbers in client.sequence_numbers)


async def until_received(client: SfuClient, count: int, timeout: float = 10.0) -> None:
    """Waits for the client's slots to receive `count` more packets (a real event: RTP)."""
    target = received(client) + count
    deadline = time.monotonic() + timeout
    while received(client) < target:
        assert time.monotonic() < deadline, f"{received(client)} of {target} packets"
        await asyncio.sleep(0.02)  # the receive hook has no awaitable; sample it


async def participant_count(someone: Person, room: str) -> int:
    reply = await someone.http.get(f"/api/rooms/{room}")
    assert reply.status == 200, reply.body
    return int(reply.body["participantCount"])


# --- item 1: reserved event names -----------------------------------------------------------


async def test_reserved_event_names_change_nothing_and_a_removed_member_hears_nothing(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    server: RunningServer,
) -> None:
    ann, bob, cat = await person("Ann"), await person("Bob"), await person("Cat")
    room = await ann.create_room(media="sfu", visibility="private")
    await invite(ann, room, bob)
    await invite(ann, room, cat)
    await enter(ann, room, loopback_only, sfu_clients, frequency=440.0)
    control = await enter(cat, room, loopback_only, sfu_clients)
    removed = await enter(bob, room, loopback_only, sfu_clients)
    await until_received(removed, 25)

    fake_environ = {"aiohttp.request": 1}
    for event, args in (
        ("connect", (fake_environ, {"token": bob.access_token})),
        ("connect", ()),
        ("disconnect", ()),
        ("disconnect", ("client namespace disconnect",)),
    ):
        ack = await removed.socket.sio.call(event, args or None, timeout=10)
        assert ack["error"]["code"] == "reserved_event", (event, ack)
    # Still the same, still authenticated connection, still in the room, once.
    assert (await removed.socket.call("join", {"roomId": room}))["ok"]
    assert await participant_count(ann, room) == 3
    sfu = server.app[SERVICES].sfu
    assert sfu.participant_count() == 3

    assert (await ann.http.delete(f"/api/rooms/{room}/members/{bob.user_id}")).status == 204
    assert sfu.participant_count() == 2 and not is_connected(sfu, room, removed.socket.peer_id)
    heard_before = received(removed)
    await removed.socket.next("removed-from-room")
    await until_received(control, 50)  # a second of audio still flows to the room...
    assert received(removed) - heard_before <= 2, "...but not to the removed member"
    assert await participant_count(ann, room) == 2

    await bob.http.post("/api/auth/logout")
    await removed.socket.disconnected.wait()
    assert await participant_count(ann, room) == 2


async def test_reserved_names_cannot_leave_ghosts_that_fill_a_room(person: MakePerson) -> None:
    owner, guest = await person("Owner"), await person("Guest")
    room = await owner.create_room(maxParticipants=2)
    for _ in range(8):
        socket = await guest.socket()
        await socket.join(room)
        ack = await socket.sio.call(
            "connect", ({"aiohttp.request": 1}, {"token": guest.access_token}), timeout=10
        )
        assert ack["error"]["code"] == "reserved_event"
        await socket.close()
    assert await participant_count(owner, room) == 0
    socket = await owner.socket()
    await socket.join(room)
    assert await participant_count(owner, room) == 1


# --- item 2: joins race their own checks ------------------------------------------------------


async def test_concurrent_joins_never_exceed_capacity(person: MakePerson) -> None:
    owner = await person("Owner")
    people = [await person(f"Guest{n}") for n in range(4)]
    lobby = await owner.create_room()
    for attempt in range(6):
        room = await owner.create_room(maxParticipants=2)
        first = await owner.socket()
        await first.join(room)
        sockets = [await someone.socket() for someone in people]
        for socket in sockets:
            await socket.join(lobby)  # so each join also has a room to leave (an await)
        acks = await asyncio.gather(*(s.call("join", {"roomId": room}) for s in sockets))
        admitted = [a for a in acks if a["ok"]]
        refused = [a["error"]["code"] for a in acks if not a["ok"]]
        assert len(admitted) == 1 and refused == ["room_full"] * 3, (attempt, acks)
        assert await participant_count(owner, room) == 2
        for socket in [first, *sockets]:
            await socket.close()


async def test_a_join_racing_the_close_never_stays_inside(
    person: MakePerson, server: RunningServer
) -> None:
    owner, guest = await person("Owner"), await person("Guest")
    hub = server.app[SIGNALING]
    for delay in (0.0, 0.001, 0.002, 0.005, 0.01, 0.02) * 2:
        room = await owner.create_room(media="sfu")
        socket = await guest.socket()

        async def close_later(room: str = room, delay: float = delay) -> int:
            await asyncio.sleep(delay)  # the offset of the race, not a wait for an event
            return (await owner.http.delete(f"/api/rooms/{room}")).status

        ack, status = await asyncio.gather(socket.call("join", {"roomId": room}), close_later())
        assert status == 204
        if ack["ok"]:
            assert await socket.next("room-closed") == {"roomId": room}
        else:
            assert ack["error"]["code"] == "room_closed", ack
        assert hub.state.occupants(room) == []
        refused = await socket.call("sfu-join", {"roomId": room, "sdp": "v=0\r\n"})
        assert refused["error"]["code"] == "not_in_room"
        assert room not in server.app[SERVICES].sfu.rooms
        await socket.close()


async def test_two_tabs_joining_at_once_leave_one_presence(
    person: MakePerson, server: RunningServer
) -> None:
    ann, bob = await person("Ann"), await person("Bob")
    room, lobby = await bob.create_room(), await bob.create_room()
    hub = server.app[SIGNALING]
    for _ in range(10):
        tabs = [await ann.socket() for _ in range(3)]
        for tab in tabs:
            await tab.join(lobby)
        acks = await asyncio.gather(*(t.call("join", {"roomId": room}) for t in tabs))
        assert all(a["ok"] for a in acks), acks
        inside = [c for c in hub.state.occupants(room) if c.user_id == ann.user_id]
        assert len(inside) == 1
        assert await participant_count(bob, room) == 1
        assert hub.state.occupants(lobby) == []
        for tab in tabs:
            await tab.close()
        assert await participant_count(bob, room) == 0


# --- item 3: live state refers to the one current room record -------------------------------


async def test_members_who_joined_before_and_after_a_rename_can_relay(person: MakePerson) -> None:
    ann, bob = await person("Ann"), await person("Bob")
    room = await ann.create_room()
    a, b = await ann.socket(), await bob.socket()
    await a.join(room)
    renamed = await ann.http.call("PATCH", f"/api/rooms/{room}", {"topic": "A new topic"})
    assert renamed.status == 200, renamed.body
    await b.join(room)
    offer = {"type": "offer", "sdp": "v=0\r\n"}
    for sender, target in ((a, b), (b, a)):
        ack = await sender.call(
            "relay-sdp", {"peerId": target.peer_id, "sessionDescription": offer}
        )
        assert ack == {"ok": True}, ack
        assert (await target.next("session-description"))["peerId"] == sender.peer_id


# --- item 7: malformed frames cost one short line at most -----------------------------------

MALFORMED_FRAMES = (
    "9",
    "4x",
    "4{",
    "42",
    '42["x"',
    "42{}",
    "42[1]",
    '42["join",',
    "43",
    "440",
    "45-[]",
    '40/nope,{"a":1}',
    "41/nope,",
    '42/nope,["join"]',
    "4" + "[" * 5000,
    '42["join",' + "[" * 3000,
    "\x00\xff",
)


async def test_malformed_frames_cost_no_tracebacks(
    person: MakePerson, server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    ann = await person("Ann")
    url = f"{server.base_url}/socket.io/?EIO=4&transport=websocket"
    caplog.set_level(logging.DEBUG)
    sent = 0
    async with aiohttp.ClientSession() as http:
        for round_ in range(10):
            async with http.ws_connect(url) as ws:
                await ws.receive()  # Engine.IO open
                await ws.send_str('40{"token": "%s"}' % ann.access_token)  # noqa: UP031
                for frame in MALFORMED_FRAMES:
                    await ws.send_str(frame)
                    sent += 1
                await ws.send_str(f'42{round_}["leave",{{"roomId":"rm_x"}}]')
                # The connection may be dropped for its garbage; either way nothing breaks.
                async for message in ws:
                    if message.type != aiohttp.WSMsgType.TEXT:
                        break
                    if message.data.startswith(f"43{round_}"):
                        break
    # Still serving: a well-behaved client connects and joins.
    socket = await ann.socket()
    await socket.join(await ann.create_room())
    library_lines = [
        r
        for r in caplog.records
        if r.name.startswith(("socketio", "engineio", "asyncio", "api", "aiohttp"))
        and r.levelno >= logging.WARNING
    ]
    assert not any(r.exc_info for r in library_lines), "no traceback for a client's garbage"
    assert not any("never retrieved" in r.getMessage() for r in caplog.records)
    text = sum(len(r.getMessage()) for r in library_lines)
    most = LINES_PER_WINDOW  # one budget for all the lines a client's bytes can cause
    assert len(library_lines) <= most and text < 150 * most, (sent, len(library_lines), text)


# --- item 10: deadlines for what a client holds -----------------------------------------------


@pytest.fixture
async def quick_setup_server(settings: Settings) -> AsyncIterator[RunningServer]:
    from dataclasses import replace

    from api.app import create_app

    sfu = replace(settings.sfu, media_setup_seconds=2.0)
    running = await start_server(create_app(replace(settings, sfu=sfu)))
    yield running
    await running.runner.cleanup()


async def test_an_offer_that_never_connects_is_dropped_at_the_deadline(
    person: MakePerson,
    loopback_only: RtcConfig,
    quick_setup_server: RunningServer,
    sfu_clients: list[SfuClient],
) -> None:
    someone = await person("Someone")
    room = await someone.create_room(media="sfu")
    socket = SocketClient()
    await socket.connect(quick_setup_server.base_url, someone.access_token)
    someone.sockets.append(socket)
    await socket.join(room)
    client = SfuClient(socket, loopback_only, 1, 440.0)
    sfu_clients.append(client)
    # An offer with no candidates: the client will never complete ICE.
    sdp = "\r\n".join(
        line for line in (await client.offer()).split("\r\n") if not line.startswith("a=candidate")
    )
    asked = time.monotonic()
    ack = await socket.call("sfu-join", {"roomId": room, "sdp": sdp})
    assert ack["ok"], ack
    sfu = quick_setup_server.app[SERVICES].sfu
    assert is_connected(sfu, room, socket.peer_id)
    assert await socket.next("sfu-failed", timeout=10) == {"roomId": room}
    assert 1.5 < time.monotonic() - asked < 6
    assert not is_connected(sfu, room, socket.peer_id) and sfu.participant_count() == 0


async def test_a_silently_vanished_client_leaves_presence_within_20_seconds(
    person: MakePerson, server: RunningServer
) -> None:
    ann, ghost = await person("Ann"), await person("Ghost")
    room = await ann.create_room()
    watcher = await ann.socket()
    await watcher.join(room)
    url = f"{server.base_url}/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http, http.ws_connect(url, autoping=False) as ws:
        await ws.receive()
        await ws.send_str('40{"token": "%s"}' % ghost.access_token)  # noqa: UP031
        assert (await ws.receive()).data.startswith("40")
        await ws.send_str(f'420["join",{{"roomId":"{room}"}}]')
        joined: Any = await watcher.next("participant-joined")
        assert joined["user"]["id"] == ghost.user_id
        vanished = time.monotonic()  # from now on it never reads, so never answers a ping
        left = await watcher.next("participant-left", timeout=25)
        assert left["userId"] == ghost.user_id
        assert time.monotonic() - vanished < 20
    assert await participant_count(ann, room) == 1
