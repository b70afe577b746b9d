"""Clients written for the original Gethory hold a mesh call unchanged (issue 11).

`OriginalClient` keys people by `add-peer.user._id`, drops them on `remove-peer` by `userId`,
reads mute state only from `mute-info.isMute` and the `mute`/`unmute` echoes, and sends
`mute-info {userId, roomId, isMute}` itself. Before the aliases existed, every test here
failed: the third never heard the first, a departure cut the others' audio, every tile stayed
"muted", and `mute-info` from a client was an `unknown_event`.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from sfu.config import RtcConfig
from tests.original_client import OriginalClient, Shown, settled
from tests.people import Person
from tests.sockets import SocketClient

MakePerson = Callable[[str], Awaitable[Person]]
TONES = {"Ann": 440.0, "Bob": 660.0, "Cat": 990.0}


@pytest.fixture
async def call(person: MakePerson, loopback_only: RtcConfig) -> AsyncIterator[list[OriginalClient]]:
    """Ann (the room's owner), Bob and Cat join Ann's mesh room in that order."""
    clients: list[OriginalClient] = []
    people = [await person(name) for name in TONES]
    room = await people[0].create_room()
    for someone in people:
        client = OriginalClient(someone, await someone.socket(), TONES[someone.name], loopback_only)
        clients.append(client)
        await client.join(room)
    yield clients
    for client in clients:
        await client.close()


async def everyone_sees(clients: list[OriginalClient], expected: Shown) -> None:
    for client in clients:
        await client.sees(expected)


async def test_everyone_hears_everyone(call: list[OriginalClient]) -> None:
    for listener, speaker in itertools.permutations(call, 2):
        await listener.hears(speaker)
    for client in call:
        await client.quiet()
        assert client.refusals == []


async def test_every_mute_state_is_right_on_every_side(call: list[OriginalClient]) -> None:
    ann, bob, cat = call
    for listener, speaker in itertools.permutations(call, 2):
        await listener.hears(speaker)  # every tile is up: each came with its track
    for client in call:
        await client.quiet()
    state: Shown = {ann.user_id: True, bob.user_id: True, cat.user_id: True}
    await everyone_sees(call, state)  # each muted itself on arrival

    steps: list[tuple[Callable[[], Awaitable[None]], OriginalClient, bool]] = [
        (lambda: ann.set_muted(False), ann, False),
        (lambda: bob.set_muted(False, via_mute_info=True), bob, False),
        (lambda: cat.set_muted(False), cat, False),
        (lambda: owner_mutes(ann, cat, True), cat, True),
        (lambda: owner_mutes(ann, cat, False), cat, False),
        (lambda: bob.set_muted(True, via_mute_info=True), bob, True),
        (lambda: ann.set_muted(True), ann, True),
    ]
    for step, target, muted in steps:
        await step()
        state[target.user_id] = muted
        await everyone_sees(call, state)
    for client in call:
        assert client.refusals == []


async def owner_mutes(owner: OriginalClient, target: OriginalClient, muted: bool) -> None:
    """The owner's `mute-participant` (our addition): its client reads only `mute-info`."""
    event = "mute-participant" if muted else "unmute-participant"
    ack = await owner.socket.call(event, {"roomId": owner.room_id, "userId": target.user_id})
    assert ack == {"ok": True}, ack


async def test_one_leaving_keeps_the_others_talking(call: list[OriginalClient]) -> None:
    ann, bob, cat = call
    for client in call:
        await client.connected_to(2)
    await bob.leave()
    for stays, other in ((ann, cat), (cat, ann)):
        await stays.sees({ann.user_id: True, cat.user_id: True})  # Bob's tile is gone
        await stays.hears(other)
        assert bob.user_id not in stays.audio and len(stays.connections) == 1


# --- the payloads, one by one ---------------------------------------------------------------


@dataclass
class Pair:
    room: str
    ann: Person
    bob: Person
    a: SocketClient
    b: SocketClient


@pytest.fixture
async def pair(person: MakePerson) -> Pair:
    """Ann (the owner) and Bob in Ann's mesh room, each on one connection."""
    ann, bob = await person("Ann"), await person("Bob")
    room = await ann.create_room()
    a, b = await ann.socket(), await bob.socket()
    await a.join(room)
    await b.join(room)
    return Pair(room, ann, bob, a, b)


def assert_original_user(user: dict[str, Any], someone: Person) -> None:
    assert (user["_id"], user["id"]) == (someone.user_id, someone.user_id), user
    assert user["avatar"] == user["avatarUrl"] != "", user
    assert "email" not in user, user


async def test_people_carry_the_original_clients_fields(pair: Pair, person: MakePerson) -> None:
    assert_original_user((await pair.a.next("participant-joined"))["user"], pair.bob)
    assert_original_user((await pair.a.next("add-peer"))["user"], pair.bob)
    assert_original_user((await pair.b.next("add-peer"))["user"], pair.ann)
    cat = await (await person("Cat")).socket()
    state = await cat.join(pair.room)
    for participant, someone in zip(state["participants"][:2], (pair.ann, pair.bob), strict=True):
        assert_original_user(participant["user"], someone)

    assert (await pair.b.call("leave", {"roomId": pair.room}))["ok"]
    for member in (pair.a, cat):
        assert await member.next("remove-peer") == {
            "peerId": pair.b.peer_id,
            "userId": pair.bob.user_id,
        }


async def test_the_rest_user_carries_the_original_clients_fields(pair: Pair) -> None:
    """That client takes its own `_id` from REST (sign-in, /api/users/me) to find its own
    tile among the people a room sends and to fill the `userId` of its mute events."""
    me = await pair.ann.http.call("GET", "/api/users/me")
    assert me.status == 200, me
    assert_original_user({k: v for k, v in me.body.items() if k != "email"}, pair.ann)
    profile = await pair.ann.http.call("GET", f"/api/users/{pair.bob.user_id}")
    assert profile.status == 200, profile
    assert_original_user(profile.body, pair.bob)


async def test_mute_info_from_a_client_is_its_own_mute(pair: Pair) -> None:
    ack = await pair.b.call(
        "mute-info", {"userId": pair.bob.user_id, "roomId": pair.room, "isMute": True}
    )
    assert ack == {"ok": True}, ack
    info = {"userId": pair.bob.user_id, "mute": True, "isMute": True}
    assert await pair.a.next("mute-info") == info
    echo = {"peerId": pair.b.peer_id, "userId": pair.bob.user_id}
    for member in (pair.a, pair.b):  # the sender too: its own tile changes on the echo
        assert await member.next("mute") == echo
    assert (await pair.b.call("unmute", {"roomId": pair.room}))["ok"]
    assert await pair.a.next("mute-info") == info | {"mute": False, "isMute": False}
    for member in (pair.a, pair.b):
        assert await member.next("unmute") == echo


async def test_owner_mutes_reach_the_original_client(pair: Pair) -> None:
    muted = await pair.a.call("mute-participant", {"roomId": pair.room, "userId": pair.bob.user_id})
    assert muted == {"ok": True}, muted
    for member in (pair.a, pair.b):
        info = await member.next("mute-info")
        assert (info["userId"], info["mute"], info["isMute"]) == (pair.bob.user_id, True, True)
    lift = {"userId": pair.bob.user_id, "roomId": pair.room, "isMute": False}
    assert (await pair.b.call("mute-info", lift))["error"]["code"] == "muted_by_owner"


BAD_MUTE_INFO: list[tuple[str, Callable[[Pair], Any], str]] = [
    (
        "another user",
        lambda p: {"userId": p.ann.user_id, "roomId": p.room, "isMute": True},
        "not_yourself",
    ),
    (
        "isMute a string",
        lambda p: {"userId": p.bob.user_id, "roomId": p.room, "isMute": "yes"},
        "validation_failed",
    ),
    (
        "isMute a number",
        lambda p: {"userId": p.bob.user_id, "roomId": p.room, "isMute": 1},
        "validation_failed",
    ),
    ("isMute missing", lambda p: {"userId": p.bob.user_id, "roomId": p.room}, "validation_failed"),
    ("roomId missing", lambda p: {"userId": p.bob.user_id, "isMute": True}, "validation_failed"),
    (
        "roomId a number",
        lambda p: {"userId": p.bob.user_id, "roomId": 7, "isMute": True},
        "validation_failed",
    ),
    (
        "userId a list",
        lambda p: {"userId": [p.bob.user_id], "roomId": p.room, "isMute": True},
        "validation_failed",
    ),
    ("not an object", lambda p: [p.bob.user_id, p.room, True], "validation_failed"),
    ("nothing", lambda p: None, "validation_failed"),
    (
        "another room",
        lambda p: {"userId": p.bob.user_id, "roomId": "rm_elsewhereAAAAAA", "isMute": True},
        "not_in_room",
    ),
]


async def test_bad_mute_info_is_refused_and_changes_nothing(pair: Pair, person: MakePerson) -> None:
    for name, payload, code in BAD_MUTE_INFO:
        ack = await pair.b.call("mute-info", payload(pair))
        assert ack["ok"] is False and ack["error"]["code"] == code, (name, ack)
    for member in (pair.a, pair.b):
        await settled(member)
        assert [member.pending(e) for e in ("mute-info", "mute", "unmute")] == [0, 0, 0]
    late = await (await person("Cat")).socket()
    state = await late.join(pair.room)
    assert [p["muted"] for p in state["participants"]] == [False, False, False]
