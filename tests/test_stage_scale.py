"""A join storm in a stage room: 300 listeners join over real Socket.IO connections through the
real server, and a listener who was there before receives a number of messages bounded by
the coalescing interval (about one `audience-update` a second), not by the number of joins;
the last `audience-update` counts everyone present (docs/protocol.md, audience mode)."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import pytest

from tests.conftest import RunningServer
from tests.people import Person
from tests.stage_people import (
    AudienceView,
    CrowdMember,
    CrowdSockets,
    StageSocket,
    crowd,
    ids_of,
    settled,
    stage_room,
    stage_socket,
)

MakePerson = Callable[[str], Awaitable[Person]]
STORM = 300
IN_FLIGHT = 10  # joins (and connects) at once
# Joins a second: the storm spans several coalescing intervals (the load test joins
# 20 a second; faster here to stay well inside a minute).
RATE = 50.0
# Messages an existing listener may get beyond one per second of the storm: the interval's
# edges (a first update at once, a last one after the storm) and scheduling noise.
SLACK = 3


@pytest.fixture
async def crowd_sockets(server: RunningServer) -> AsyncIterator[CrowdSockets]:
    sockets = CrowdSockets(server.base_url)
    yield sockets
    await sockets.close()


async def bounded(jobs: Sequence[Callable[[], Awaitable[None]]], limit: int) -> None:
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await job()

    async with asyncio.TaskGroup() as group:
        for job in jobs:
            group.create_task(run(job))


async def paced(
    due: float, job: Callable[[CrowdMember], Awaitable[None]], member: CrowdMember
) -> None:
    """`job(member)` once time.monotonic() reaches `due`: pacing the load, like a clock."""
    while True:
        if time.monotonic() >= due:
            break
        await asyncio.sleep(0.005)
    await job(member)


async def follow_until_count(socket: StageSocket, view: AudienceView, count: int) -> None:
    while True:
        for update in socket.drain("audience-update"):
            view.apply(update)
        if view.count == count:
            return
        await asyncio.sleep(0.01)


async def test_a_join_storm_costs_a_listener_messages_per_second_not_per_join(
    person: MakePerson, server: RunningServer, crowd_sockets: CrowdSockets
) -> None:
    ann, bob = await person("Ann"), await person("Bob")
    room = await stage_room(ann)
    host = await stage_socket(ann)
    await host.join(room)
    existing = await stage_socket(bob)
    state = await existing.join(room)
    members = await crowd(server, STORM)
    sockets: dict[str, StageSocket] = {}

    async def connect(member: CrowdMember) -> None:
        sockets[member.user_id] = await crowd_sockets.open(member)

    await bounded([partial(connect, m) for m in members], IN_FLIGHT)
    for socket in (host, existing):
        await settled(socket)
    views = {
        "host": AudienceView(count=1, present={bob.user_id}),
        "listener": AudienceView(
            count=state["audience"]["count"], present=set(ids_of(state["audience"]["participants"]))
        ),
    }
    for socket, view in ((host, views["host"]), (existing, views["listener"])):
        for update in socket.drain("audience-update"):
            view.apply(update)
    marks = {"host": len(host.received), "listener": len(existing.received)}

    states: list[dict[str, Any]] = []

    async def join(member: CrowdMember) -> None:
        states.append(await sockets[member.user_id].join(room))

    started = time.monotonic()
    await bounded(
        [partial(paced, started + n / RATE, join, m) for n, m in enumerate(members)], IN_FLIGHT
    )
    storm = time.monotonic() - started
    everyone = {bob.user_id} | {m.user_id for m in members}
    await asyncio.wait_for(
        asyncio.gather(
            follow_until_count(host, views["host"], len(everyone)),
            follow_until_count(existing, views["listener"], len(everyone)),
        ),
        15,
    )
    elapsed = time.monotonic() - started

    for name, socket in (("host", host), ("listener", existing)):
        received = socket.received[marks[name] :]
        kinds = Counter(event for _, event in received)
        print(f"{name}: {len(received)} messages {dict(kinds)} for {STORM} joins in {storm:.1f} s")
        assert set(kinds) <= {"audience-update"}, kinds
        assert len(received) <= math.ceil(elapsed) + SLACK, (len(received), elapsed, storm)
        view = views[name]
        assert view.count == len(everyone), "the last update counts everyone present"
        if not view.more:
            assert view.present == everyone
    await settled(existing)
    assert existing.pending("participant-joined") == 0
    for joined in states:
        audience = joined["audience"]
        assert len(audience["participants"]) <= 50
    # A newcomer's first page, then REST from its cursor: every listener exactly once.
    newcomer = await stage_socket(await person("Nat"))
    first_page = (await newcomer.join(room))["audience"]
    assert first_page["role"] == "listener" and len(first_page["participants"]) == 50
    seen = ids_of(first_page["participants"])
    cursor = first_page["nextCursor"]
    while cursor is not None:
        page = await ann.http.get(
            f"/api/rooms/{room}/participants",
            params={"role": first_page["role"], "cursor": cursor, "limit": "100"},
        )
        seen += ids_of(page.body["participants"])
        cursor = page.body["nextCursor"]
    assert len(seen) == len(set(seen)) == len(everyone) + 1
    assert set(seen) - everyone == {seen[-1]}, "the newcomer last"
    listed = await ann.http.get(
        f"/api/rooms/{room}/participants", params={"role": "listener", "limit": "1"}
    )
    assert listed.body["count"] == len(everyone) + 1


async def test_an_update_names_at_most_a_hundred_and_says_more(
    person: MakePerson, server: RunningServer, crowd_sockets: CrowdSockets
) -> None:
    """Joins faster than 100 a second: an interval's update names 100 and says `more`; the
    counts still add up (each count is the audience then, however many were named)."""
    ann = await person("Ann")
    room = await stage_room(ann)
    host = await stage_socket(ann)
    await host.join(room)
    members = await crowd(server, 250)
    sockets = [await crowd_sockets.open(m) for m in members]
    await sockets[0].join(room)
    first = await host.next("audience-update")  # at once: the next waits for its second
    assert first["count"] == 1

    async def join(socket: StageSocket) -> None:
        await socket.join(room)

    await bounded([partial(join, s) for s in sockets[1:]], 2 * IN_FLIGHT)
    view = AudienceView(count=1, present={members[0].user_id})
    view.apply(first)
    await asyncio.wait_for(follow_until_count(host, view, len(members)), 15)
    counts = [u["count"] for u in view.updates]
    jumps = [
        (later - earlier, update)
        for (earlier, later), update in zip(
            itertools.pairwise(counts), view.updates[1:], strict=True
        )
    ]
    big = [(jump, u) for jump, u in jumps if jump > 100]
    if not big:
        pytest.skip(f"joins never outran 100 a second here: {counts}")
    print(f"counts per update: {counts}")
    for jump, update in big:
        assert len(update["joined"]) == 100 and update["more"] is True, (jump, update["more"])
    for _, update in jumps:
        if not update["more"]:
            assert len(update["joined"]) <= 100
