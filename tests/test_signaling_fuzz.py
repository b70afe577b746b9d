"""Bounded versions of the attack runs behind issue 9: random payloads on every socket event,
and connection/join churn, against the real server.

What held when a person attacked it must keep holding: every event is answered with an
`ok`/error ack and a machine-readable code (never `internal_error`), nothing reaches the log
at ERROR, and churn leaves no connection, room, lock, descriptor or thread behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import re
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from api.services import SERVICES
from api.settings import Settings
from api.signaling.hub import SIGNALING
from api.signaling.sockets import NAMESPACE, room_name
from api.signaling.state import Connection
from tests.conftest import RunningServer
from tests.people import Person

MakePerson = Callable[[str], Awaitable[Person]]

ACKED_EVENTS = (
    "join",
    "leave",
    "relay-ice",
    "relay-sdp",
    "mute",
    "unmute",
    "mute-participant",
    "sfu-join",
    "sfu-leave",
    "connect",
    "disconnect",
)
UNACKED_EVENTS = ("connect_error", "message", "*", "room-state", "x" * 300, "")
CODE = re.compile(r"^[a-z][a-z0-9_]*$")
EVENTS_PER_SOCKET = 140  # under the 300 per 10 s a connection may send


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(10 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice((True, False))
    if kind == 2:
        return rng.choice((0, -1, 2**63, -(2**70), 65535, 1e308, -0.0))
    if kind == 3:
        return "".join(rng.choice("ab\x00\u202e\u200b\U0001f600{}[]\"'\\") for _ in range(9))
    if kind == 4:
        return rng.choice(("", "rm_" + "x" * 16, "offer", "v=0\r\n", "a" * 9_000))
    if kind == 5:
        return rng.choice(("roomId", "peerId", "sdp"))
    if kind in (6, 7):
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        rng.choice(("roomId", "peerId", "sdp", "type", "userId", "icecandidate", "x")): (
            random_value(rng, depth + 1)
        )
        for _ in range(rng.randrange(5))
    }


def payload_for(rng: random.Random, room: str, peer: str) -> Any:
    """Mostly near-valid shapes (the real ids in the wrong places), some pure noise."""
    if rng.random() < 0.3:
        return random_value(rng)
    shape: dict[str, Any] = {"roomId": rng.choice((room, "rm_nope", random_value(rng)))}
    if rng.random() < 0.6:
        shape["peerId"] = rng.choice((peer, "nope", random_value(rng)))
    if rng.random() < 0.4:
        shape["sessionDescription"] = {"type": rng.choice(("offer", "bad")), "sdp": "v=0\r\n"}
    if rng.random() < 0.4:
        shape["icecandidate"] = rng.choice((None, {"candidate": "x"}, random_value(rng)))
    if rng.random() < 0.3:
        shape["sdp"] = rng.choice(("v=0\r\n", "", random_value(rng)))
    if rng.random() < 0.3:
        shape["userId"] = random_value(rng)
    return shape


async def test_random_payloads_on_every_event_get_coded_answers(
    person: MakePerson, server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    ann, bob = await person("Ann"), await person("Bob")
    mesh, sfu = await ann.create_room(), await ann.create_room(media="sfu")
    sockets = [await ann.socket(), await bob.socket(), await bob.socket(), await ann.socket()]
    rng = random.Random(9)
    codes: set[str] = set()
    for index, socket in enumerate(sockets):
        room = (mesh, sfu)[index % 2]
        await socket.join(room)
        for _ in range(EVENTS_PER_SOCKET):
            peer = sockets[rng.randrange(len(sockets))].peer_id
            if rng.random() < 0.1:
                await socket.sio.emit(rng.choice(UNACKED_EVENTS), random_value(rng))
                continue
            event = rng.choice(ACKED_EVENTS)
            data = payload_for(rng, room, peer)
            ack = await socket.sio.call(event, data, timeout=10)
            assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), (event, ack)
            if not ack["ok"]:
                code = ack["error"]["code"]
                assert CODE.match(code) and code != "internal_error", (event, data, ack)
                codes.add(code)
    assert {"validation_failed", "reserved_event", "not_in_room"} <= codes, codes
    # Everyone still connected and served: a clean join and a relay work.
    for socket in sockets:
        assert socket.sio.connected
    hub = server.app[SIGNALING]
    assert hub.state.connection_count() == len(sockets)
    a, b = await ann.socket(), await bob.socket()
    await a.join(mesh)
    await b.join(mesh)
    ack = await a.call("relay-ice", {"peerId": b.peer_id, "icecandidate": None})
    assert ack == {"ok": True}
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


def open_descriptors(except_to_port: int) -> int:
    """This process's open descriptors, less its TCP connections to `except_to_port` (the
    database's: pymongo's pool grows with concurrent queries, up to its bounded size)."""
    pooled = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(":")[1], 16) == except_to_port:
            pooled.add(f"socket:[{fields[9]}]")
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            count += os.readlink(f"/proc/self/fd/{fd}") not in pooled
    return count


def census(database_port: int) -> tuple[int, int, int]:
    gc.collect()
    connections = sum(1 for o in gc.get_objects() if isinstance(o, Connection))
    # The default executor's threads (asyncio_N) are a bounded pool that grows on demand.
    threads = sum(1 for t in threading.enumerate() if not t.name.startswith("asyncio_"))
    return threads, open_descriptors(database_port), connections


async def test_churn_leaves_nothing_behind(
    person: MakePerson, server: RunningServer, settings: Settings
) -> None:
    assert settings.database_url is not None
    database_port = urlsplit(settings.database_url).port or 27017
    ann, bob = await person("Ann"), await person("Bob")
    rooms = [await ann.create_room(), await ann.create_room(media="sfu")]
    hub = server.app[SIGNALING]
    presence = server.app[SERVICES].presence

    async def cycle(n: int) -> None:
        socket = await (ann if n % 2 else bob).socket()
        for room in rooms:
            await socket.join(room)
            if n % 3 == 0:
                assert (await socket.call("leave", {"roomId": room}))["ok"]
        await socket.close()

    # Warm-up at the same concurrency: lazy imports, caches and connection pools (pymongo's
    # grows with concurrent queries) reach their size first.
    await asyncio.gather(*(cycle(n) for n in range(10)))
    ann.sockets.clear()
    bob.sockets.clear()
    threads, fds, _ = census(database_port)

    for start in range(10, 110, 10):  # 100 connections, 200 joins, ten at a time
        await asyncio.gather(*(cycle(n) for n in range(start, start + 10)))
        ann.sockets.clear()
        bob.sockets.clear()

    deadline = asyncio.get_running_loop().time() + 10
    while hub.state.connection_count() or hub.state.room_count():
        # The last disconnects are still being handled; sample the server's state.
        assert asyncio.get_running_loop().time() < deadline, hub.state.connection_count()
        await asyncio.sleep(0.05)
    assert all(presence.count(room) == 0 for room in rooms)
    socket_rooms = hub.sio.manager.rooms.get(NAMESPACE, {})
    assert not any(room_name(room) in socket_rooms for room in rooms)
    after_threads, after_fds, connections = census(database_port)
    assert connections == 0
    assert after_threads <= threads, [t.name for t in threading.enumerate()]
    assert after_fds <= fds
