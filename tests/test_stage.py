"""Stage rooms over REST and Socket.IO, against the contract in docs/protocol.md (stage rooms):
roles on entry, raised hands, invitations to speak, set-role and leave-stage, removal with a
ban, roles kept across reconnects, paging the audience while it changes, and the coalesced
`audience-update`. Real server, real database, real Socket.IO clients; no mocks."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from api.signaling.hub import SIGNALING
from tests.client import ApiClient
from tests.conftest import RunningServer
from tests.people import Person, invite
from tests.stage_people import (
    HOST_EVENTS,
    AudienceView,
    CrowdMember,
    CrowdSockets,
    StageSocket,
    crowd,
    ids_of,
    promote,
    role_of,
    settled,
    stage_room,
    stage_socket,
)

MakePerson = Callable[[str], Awaitable[Person]]
PARTICIPANT_KEYS = {"peerId", "user", "muted", "role"}
PROFILE_KEYS = {"id", "name", "username", "bio", "avatarUrl", "_id", "avatar"}


async def people(person: MakePerson, *names: str) -> list[Person]:
    return [await person(name) for name in names]


async def seated(someone: Person, room: str) -> tuple[StageSocket, dict[str, Any]]:
    """A new connection of `someone` in `room`, and the room-state it got."""
    socket = await stage_socket(someone)
    return socket, await socket.join(room)


async def rejoined_state(socket: StageSocket, room: str) -> dict[str, Any]:
    """Joining the room one is in re-sends room-state: the server's view of it now."""
    return await socket.join(room)


@pytest.fixture
async def crowd_sockets(server: RunningServer) -> AsyncIterator[CrowdSockets]:
    sockets = CrowdSockets(server.base_url)
    yield sockets
    await sockets.close()


def about(user_id: str, role: str) -> Callable[[Any], bool]:
    """Matches the role-changed that gives `user_id` the `role`."""
    return lambda e: bool(e["userId"] == user_id and e["role"] == role)


async def follow(socket: StageSocket, view: AudienceView, done: Callable[[], bool]) -> None:
    """Apply this socket's audience-updates to `view` until `done()` holds."""
    while True:
        for update in socket.drain("audience-update"):
            view.apply(update)
        if done():
            return
        await asyncio.sleep(0.01)


# --- REST ---------------------------------------------------------------------------------


async def test_stage_rooms_are_sfu_rooms_and_every_room_says_whether_it_is_one(
    person: MakePerson,
) -> None:
    ann = await person("Ann")
    base = {"topic": "Town hall", "visibility": "public"}
    mesh_stage = await ann.http.post("/api/rooms", base | {"media": "mesh", "stage": True})
    assert mesh_stage.status == 422 and mesh_stage.error_code == "validation_failed"
    not_a_bool = await ann.http.post("/api/rooms", base | {"media": "sfu", "stage": "yes"})
    assert not_a_bool.status == 422 and not_a_bool.error_code == "validation_failed"

    created = await ann.http.post("/api/rooms", base | {"media": "sfu", "stage": True})
    assert created.status == 201 and created.body["stage"] is True, created.body
    room = created.body["id"]
    plain_sfu = await ann.create_room(media="sfu")
    mesh = await ann.create_room(media="mesh")
    assert (await ann.http.get(f"/api/rooms/{room}")).body["stage"] is True
    for other in (plain_sfu, mesh):
        assert (await ann.http.get(f"/api/rooms/{other}")).body["stage"] is False
    listed = (await ann.http.get("/api/rooms")).body["rooms"]
    assert {r["id"]: r["stage"] for r in listed} == {room: True, plain_sfu: False, mesh: False}


# --- roles on entry -------------------------------------------------------------------------


async def test_the_owner_enters_as_host_and_everyone_else_as_a_listener(
    person: MakePerson,
) -> None:
    ann, bob = await person("Ann"), await person("Bob")
    room = await stage_room(ann)
    a, state = await seated(ann, room)
    assert state["stage"] is True and state["role"] == "host", state
    assert state["handRaised"] is False and state["speakInvite"] is None
    assert state["raisedHands"] == [], "hosts get the (empty) queue of raised hands"
    audience = state["audience"]
    assert (audience["count"], audience["participants"], audience["nextCursor"]) == (0, [], None)
    (owner,) = state["participants"]
    assert set(owner) == PARTICIPANT_KEYS and set(owner["user"]) >= PROFILE_KEYS
    assert (owner["user"]["id"], owner["role"], owner["peerId"]) == (ann.user_id, "host", a.peer_id)

    b, state = await seated(bob, room)
    assert state["role"] == "listener" and state["stage"] is True
    assert ids_of(state["participants"]) == [ann.user_id], "stage members only"
    assert state["audience"]["count"] == 1
    (me,) = state["audience"]["participants"]
    assert set(me) == PARTICIPANT_KEYS and (me["user"]["id"], me["role"]) == (
        bob.user_id,
        "listener",
    )
    assert not state.get("raisedHands"), "the queue of raised hands is for hosts only"

    update = await a.next("audience-update")
    assert update["roomId"] == room and update["count"] == 1 and update["more"] is False
    assert [(p["user"]["id"], p["role"], p["peerId"]) for p in update["joined"]] == [
        (bob.user_id, "listener", b.peer_id)
    ]
    await settled(a)
    assert a.pending("participant-joined") == 0, "a listener's join is not told one by one"
    await b.ok("raise-hand", {"roomId": room})
    hand = await a.next("hand-raised")
    listed = await bob.http.get(f"/api/rooms/{room}/participants")
    for shown in (state, update, hand, listed.body, await rejoined_state(a, room)):
        assert "@example.com" not in json.dumps(shown), f"an email address leaked: {shown}"


async def test_non_stage_rooms_have_a_host_and_speakers_and_no_stage_events(
    person: MakePerson,
) -> None:
    ann, bob = await person("Ann"), await person("Bob")
    room = await ann.create_room(media="sfu")
    a, state = await seated(ann, room)
    assert state["stage"] is False and state["role"] == "host"
    b, state = await seated(bob, room)
    assert state["role"] == "speaker"
    assert [(p["user"]["id"], p["role"]) for p in state["participants"]] == [
        (ann.user_id, "host"),
        (bob.user_id, "speaker"),
    ]
    joined = await a.next("participant-joined")
    assert (joined["user"]["id"], joined["role"]) == (bob.user_id, "speaker")
    for event, payload in (
        ("raise-hand", {"roomId": room}),
        ("lower-hand", {"roomId": room}),
        ("accept-speak", {"roomId": room}),
        ("decline-speak", {"roomId": room}),
        ("leave-stage", {"roomId": room}),
    ):
        assert await b.refused(event, payload) == "not_stage_room", event
    for event, payload in (
        ("invite-to-speak", {"roomId": room, "userId": bob.user_id}),
        ("set-role", {"roomId": room, "userId": bob.user_id, "role": "listener"}),
    ):
        assert await a.refused(event, payload) == "not_stage_room", event


# --- raised hands ---------------------------------------------------------------------------


async def test_hosts_see_raised_hands_in_order_and_listeners_do_not(person: MakePerson) -> None:
    ann, bob, cat = await person("Ann"), await person("Bob"), await person("Cat")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    b, _ = await seated(bob, room)
    c, _ = await seated(cat, room)

    before = time.time() * 1000
    await b.ok("raise-hand", {"roomId": room})
    await c.ok("raise-hand", {"roomId": room})
    first, second = await a.next("hand-raised"), await a.next("hand-raised")
    assert (first["userId"], first["peerId"], first["raised"]) == (bob.user_id, b.peer_id, True)
    assert first["roomId"] == room and first["user"]["id"] == bob.user_id
    assert second["userId"] == cat.user_id and second["raised"] is True
    assert before - 1000 <= first["raisedAt"] <= second["raisedAt"] <= time.time() * 1000 + 1000

    assert (await b.ok("raise-hand", {"roomId": room}))["ok"], "idempotent"
    state = await rejoined_state(a, room)
    hands = state["raisedHands"]
    assert [h["userId"] for h in hands] == [bob.user_id, cat.user_id], "in order of raising"
    assert hands[0]["raisedAt"] == first["raisedAt"], "raising again keeps one's place"
    assert {h["peerId"] for h in hands} == {b.peer_id, c.peer_id}
    assert hands[0]["user"]["id"] == bob.user_id

    assert (await rejoined_state(b, room))["handRaised"] is True
    assert not (await rejoined_state(c, room)).get("raisedHands")
    await settled(c)
    assert c.pending("hand-raised") == 0 and b.pending("hand-raised") == 0

    await b.ok("lower-hand", {"roomId": room})
    await b.ok("lower-hand", {"roomId": room})  # idempotent
    lowered = await a.next_where("hand-raised", lambda e: e["raised"] is False)
    assert lowered["userId"] == bob.user_id
    assert [h["userId"] for h in (await rejoined_state(a, room))["raisedHands"]] == [cat.user_id]
    assert (await rejoined_state(b, room))["handRaised"] is False
    assert await a.refused("raise-hand", {"roomId": room}) == "already_on_stage"


# --- invitations to speak ---------------------------------------------------------------------


async def test_an_accepted_invite_puts_the_listener_on_stage_for_everyone(
    person: MakePerson,
) -> None:
    ann, bob, cat = await person("Ann"), await person("Bob"), await person("Cat")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    b, _ = await seated(bob, room)
    c, _ = await seated(cat, room)
    await b.ok("raise-hand", {"roomId": room})
    await a.next("hand-raised")

    ack = await a.ok("invite-to-speak", {"roomId": room, "userId": bob.user_id})
    assert ack["expiresInSeconds"] == 60
    assert await b.next("speak-invite") == {
        "roomId": room,
        "by": ann.user_id,
        "expiresInSeconds": 60,
    }
    pending = await a.next("speak-invite-answered")
    assert (pending["roomId"], pending["userId"], pending["answer"]) == (
        room,
        bob.user_id,
        "pending",
    )
    assert (await rejoined_state(b, room))["speakInvite"]["by"] == ann.user_id
    await settled(c)
    assert c.pending("speak-invite") == 0 and c.pending("speak-invite-answered") == 0

    await b.ok("accept-speak", {"roomId": room})
    for someone in (a, b, c):
        changed = await someone.next("role-changed")
        assert (changed["roomId"], changed["userId"], changed["role"]) == (
            room,
            bob.user_id,
            "speaker",
        )
        participant = changed["participant"]
        assert set(participant) == PARTICIPANT_KEYS and participant["role"] == "speaker"
        assert (participant["peerId"], participant["user"]["id"]) == (b.peer_id, bob.user_id)
        assert "by" not in changed, "their own accept: no host did it"
    accepted = await a.next("speak-invite-answered")
    assert (accepted["userId"], accepted["answer"], accepted["by"]) == (
        bob.user_id,
        "accepted",
        ann.user_id,
    )
    lowered = await a.next_where("hand-raised", lambda e: e["raised"] is False)
    assert lowered["userId"] == bob.user_id, "the hosts hear the hand go down"

    state = await rejoined_state(c, room)
    assert [(p["user"]["id"], p["role"]) for p in state["participants"]] == [
        (ann.user_id, "host"),
        (bob.user_id, "speaker"),
    ]
    assert state["audience"]["count"] == 1 and ids_of(state["audience"]["participants"]) == [
        cat.user_id
    ]
    host_state = await rejoined_state(a, room)
    assert host_state["raisedHands"] == [], "accepting lowers the hand"
    own = await rejoined_state(b, room)
    assert (own["role"], own["speakInvite"], own["handRaised"]) == ("speaker", None, False)

    # No live invite any more (and on stage already): either refusal is right.
    assert await b.refused("accept-speak", {"roomId": room}) in {
        "no_speak_invite",
        "already_on_stage",
    }
    assert await b.refused("raise-hand", {"roomId": room}) == "already_on_stage"
    again = await a.refused("invite-to-speak", {"roomId": room, "userId": bob.user_id})
    assert again == "already_on_stage"


async def test_a_declined_invite_changes_nothing(person: MakePerson) -> None:
    ann, bob, cat = await person("Ann"), await person("Bob"), await person("Cat")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    b, _ = await seated(bob, room)
    c, _ = await seated(cat, room)
    assert await b.refused("decline-speak", {"roomId": room}) == "no_speak_invite"
    assert await b.refused("accept-speak", {"roomId": room}) == "no_speak_invite"

    await b.ok("raise-hand", {"roomId": room})
    await a.ok("invite-to-speak", {"roomId": room, "userId": bob.user_id})
    await b.next("speak-invite")
    await b.ok("decline-speak", {"roomId": room})
    declined = await a.next_where("speak-invite-answered", lambda e: e["answer"] != "pending")
    assert (declined["userId"], declined["answer"]) == (bob.user_id, "declined")

    assert await b.refused("accept-speak", {"roomId": room}) == "no_speak_invite"
    assert await b.refused("decline-speak", {"roomId": room}) == "no_speak_invite"
    state = await rejoined_state(b, room)
    assert (state["role"], state["speakInvite"]) == ("listener", None)
    assert state["handRaised"] is True, "declining is not lowering the hand"
    assert ids_of(state["participants"]) == [ann.user_id]
    for someone in (a, b, c):
        await settled(someone)
        assert someone.pending("role-changed") == 0


def shorten_invites(server: RunningServer, seconds: float) -> None:
    """The signaling hub's own setting for how long an invitation to speak lasts
    (`StageControl.invite_seconds`, 60 s in service): waiting a minute per test is no test."""
    server.app[SIGNALING].stage.invite_seconds = seconds


async def at(moment: float) -> None:
    """Until time.monotonic() reaches `moment`: the subject here is time itself."""
    while True:
        if time.monotonic() >= moment:
            return
        await asyncio.sleep(0.01)


async def test_an_expired_invite_changes_nothing(person: MakePerson, server: RunningServer) -> None:
    shorten_invites(server, 1.0)
    ann, bob, cat = await people(person, "Ann", "Bob", "Cat")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    b, _ = await seated(bob, room)
    c, _ = await seated(cat, room)
    await b.ok("raise-hand", {"roomId": room})
    invited_at = time.monotonic()
    ack = await a.ok("invite-to-speak", {"roomId": room, "userId": bob.user_id})
    assert ack["expiresInSeconds"] == 1.0
    assert (await b.next("speak-invite"))["expiresInSeconds"] == 1.0
    ended = await b.next("speak-invite-ended", timeout=5)
    assert ended == {"roomId": room, "reason": "expired"}
    assert time.monotonic() - invited_at >= 0.9, "not before its time"
    answered = await a.next_where("speak-invite-answered", lambda e: e["answer"] != "pending")
    assert (answered["userId"], answered["answer"]) == (bob.user_id, "expired")

    assert await b.refused("accept-speak", {"roomId": room}) == "no_speak_invite"
    assert await b.refused("decline-speak", {"roomId": room}) == "no_speak_invite"
    state = await rejoined_state(b, room)
    assert (state["role"], state["speakInvite"], state["handRaised"]) == ("listener", None, True)
    assert [h["userId"] for h in (await rejoined_state(a, room))["raisedHands"]] == [bob.user_id]
    for someone in (a, b, c):
        await settled(someone)
        assert someone.pending("role-changed") == 0


async def test_re_inviting_renews_the_invite(person: MakePerson, server: RunningServer) -> None:
    shorten_invites(server, 2.0)
    ann, bob = await people(person, "Ann", "Bob")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    b, _ = await seated(bob, room)
    first = time.monotonic()
    await a.ok("invite-to-speak", {"roomId": room, "userId": bob.user_id})
    await at(first + 1.2)
    await a.ok("invite-to-speak", {"roomId": room, "userId": bob.user_id})
    await at(first + 2.5)  # the first invite's time is up, the second's is not
    await settled(b)
    assert b.pending("speak-invite-ended") == 0, "the renewed invite ended with the old one"
    await b.ok("accept-speak", {"roomId": room})
    changed = await a.next("role-changed")
    assert (changed["userId"], changed["role"]) == (bob.user_id, "speaker")


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("raise-hand", None),
        ("raise-hand", {"roomId": 5}),
        ("lower-hand", "rm_x"),
        ("accept-speak", {}),
        ("decline-speak", []),
        ("leave-stage", {"roomId": None}),
        ("invite-to-speak", {"roomId": "rm_x"}),
        ("invite-to-speak", {"roomId": "rm_x", "userId": 7}),
        ("invite-to-speak", {"roomId": "rm_x", "userId": "u" * 500}),
        ("set-role", {"roomId": "rm_x", "userId": "u"}),
        ("set-role", {"roomId": "rm_x", "userId": "u", "role": "HOST"}),
        ("remove-participant", {"userId": "u"}),
        ("remove-participant", {"roomId": "rm_x", "userId": ""}),
    ],
)
async def test_malformed_stage_payloads_get_validation_failed(
    person: MakePerson, event: str, payload: Any
) -> None:
    ann = await person("Ann")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    assert await a.refused(event, payload) == "validation_failed", (event, payload)
    assert (await rejoined_state(a, room))["role"] == "host", "the room carries on"


# --- who may do what --------------------------------------------------------------------------


def host_payloads(room: str, target: str) -> list[tuple[str, dict[str, Any]]]:
    payloads: list[tuple[str, dict[str, Any]]] = [
        ("invite-to-speak", {"roomId": room, "userId": target}),
        ("set-role", {"roomId": room, "userId": target, "role": "listener"}),
        ("set-role", {"roomId": room, "userId": target, "role": "speaker"}),
        ("set-role", {"roomId": room, "userId": target, "role": "host"}),
        ("remove-participant", {"roomId": room, "userId": target}),
        ("mute-participant", {"roomId": room, "userId": target}),
        ("unmute-participant", {"roomId": room, "userId": target}),
    ]
    assert {e for e, _ in payloads} >= set(HOST_EVENTS)
    return payloads


async def test_non_hosts_get_not_room_host_for_every_host_event(person: MakePerson) -> None:
    ann, sam, lou, leo = await people(person, "Ann", "Sam", "Lou", "Leo")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    s, _ = await seated(sam, room)
    lo, _ = await seated(lou, room)
    le, _ = await seated(leo, room)
    await promote(a, s, room, sam.user_id)
    for someone in (a, s, lo, le):
        await settled(someone)
        someone.drain("role-changed")

    targets = {"the owner": ann.user_id, "a speaker": sam.user_id, "a listener": leo.user_id}
    for actor, name in ((s, "speaker"), (lo, "listener")):
        for target_name, target in targets.items():
            if target == (sam.user_id if actor is s else lou.user_id):
                continue
            for event, payload in host_payloads(room, target):
                code = await actor.refused(event, payload)
                assert code == "not_room_host", (name, event, target_name, payload, code)
    # Nothing happened: everyone is where they were, no one was told anything.
    for someone in (a, s, lo, le):
        await settled(someone)
        assert someone.pending("role-changed") == 0 and someone.pending("mute-info") == 0
        assert someone.pending("removed-from-room") == 0 and someone.pending("speak-invite") == 0
    state = await rejoined_state(a, room)
    assert [(p["user"]["id"], p["role"]) for p in state["participants"]] == [
        (ann.user_id, "host"),
        (sam.user_id, "speaker"),
    ]
    assert sorted(ids_of(state["audience"]["participants"])) == sorted([lou.user_id, leo.user_id])


async def test_host_events_on_someone_not_in_the_room_get_peer_not_in_room(
    person: MakePerson,
) -> None:
    ann, bob, eve = await person("Ann"), await person("Bob"), await person("Eve")
    room, elsewhere = await stage_room(ann), await stage_room(eve)
    a, _ = await seated(ann, room)
    await seated(bob, room)
    await seated(eve, elsewhere)
    absent = {"in another room": eve.user_id, "unknown": "usr_nobodyAAAAAAAAAAAA"}
    for name, target in absent.items():
        for event, payload in host_payloads(room, target):
            assert await a.refused(event, payload) == "peer_not_in_room", (name, event)
    for event, payload in host_payloads(room, ann.user_id):
        if event in ("mute-participant", "unmute-participant"):
            continue  # muting oneself through the host event is not a stage rule
        assert await a.refused(event, payload) == "peer_not_in_room", ("yourself", event, payload)
    # Not in the room at all: not_in_room, before anything else.
    outsider = await stage_socket(eve)
    for event, payload in host_payloads(room, bob.user_id):
        assert await outsider.refused(event, payload) == "not_in_room", event
    for event in ("raise-hand", "lower-hand", "accept-speak", "decline-speak", "leave-stage"):
        assert await outsider.refused(event, {"roomId": room}) == "not_in_room", event


async def test_set_role_follows_the_ownership_and_consent_rules(person: MakePerson) -> None:
    ann, carl, sam, lou = await people(person, "Ann", "Carl", "Sam", "Lou")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    c, _ = await seated(carl, room)
    s, _ = await seated(sam, room)
    lo, _ = await seated(lou, room)

    for role in ("speaker", "host"):
        refusal = await a.refused("set-role", {"roomId": room, "userId": lou.user_id, "role": role})
        assert refusal == "speak_invite_required", role
    for bad in ("owner", "admin", "", None):
        refusal = await a.refused("set-role", {"roomId": room, "userId": lou.user_id, "role": bad})
        assert refusal == "validation_failed", bad

    await promote(a, c, room, carl.user_id)
    await promote(a, s, room, sam.user_id)
    await a.ok("set-role", {"roomId": room, "userId": carl.user_id, "role": "host"})
    for someone in (a, c, s, lo):
        changed = await someone.next_where("role-changed", lambda e: e["role"] == "host")
        assert (changed["userId"], changed["by"]) == (carl.user_id, ann.user_id)
        assert changed["participant"]["role"] == "host"
    assert (await rejoined_state(c, room))["raisedHands"] == [], "a co-host sees the queue"

    # A co-host: moves speakers back, but neither makes nor unmakes hosts, nor touches the owner.
    assert await c.refused("set-role", {"roomId": room, "userId": sam.user_id, "role": "host"}) == (
        "not_room_owner"
    )
    assert (
        await c.refused("set-role", {"roomId": room, "userId": ann.user_id, "role": "listener"})
        == "peer_not_in_room"
    )
    assert (
        await c.refused("set-role", {"roomId": room, "userId": carl.user_id, "role": "listener"})
        == "peer_not_in_room"
    )
    await a.ok("set-role", {"roomId": room, "userId": sam.user_id, "role": "host"})
    await c.next_where("role-changed", lambda e: e["userId"] == sam.user_id)
    for role in ("listener", "speaker"):
        refusal = await c.refused("set-role", {"roomId": room, "userId": sam.user_id, "role": role})
        assert refusal == "not_room_owner", role
    await a.ok("set-role", {"roomId": room, "userId": sam.user_id, "role": "speaker"})
    await c.next_where("role-changed", lambda e: e["userId"] == sam.user_id)

    await c.ok("set-role", {"roomId": room, "userId": sam.user_id, "role": "listener"})
    moved = await lo.next_where(
        "role-changed", lambda e: e["userId"] == sam.user_id and e["role"] == "listener"
    )
    assert moved["by"] == carl.user_id
    refusal = await c.refused(
        "set-role", {"roomId": room, "userId": sam.user_id, "role": "speaker"}
    )
    assert refusal == "speak_invite_required", "back in the audience: consent again"

    # The same role again: fine, and nobody hears of it.
    for someone in (a, c, s, lo):
        await settled(someone)
        someone.drain("role-changed")
    await a.ok("set-role", {"roomId": room, "userId": carl.user_id, "role": "host"})
    await c.ok("set-role", {"roomId": room, "userId": sam.user_id, "role": "listener"})
    for someone in (a, c, s, lo):
        await settled(someone)
        assert someone.pending("role-changed") == 0

    await a.ok("set-role", {"roomId": room, "userId": carl.user_id, "role": "listener"})
    assert (await rejoined_state(c, room))["role"] == "listener"
    assert await a.refused("set-role", {"roomId": room, "userId": ann.user_id, "role": "host"}) == (
        "peer_not_in_room"
    )


async def test_leave_stage_steps_down_but_not_the_owner(person: MakePerson) -> None:
    ann, sam, carl, lou = await people(person, "Ann", "Sam", "Carl", "Lou")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    s, _ = await seated(sam, room)
    c, _ = await seated(carl, room)
    lo, _ = await seated(lou, room)
    await promote(a, s, room, sam.user_id)
    await promote(a, c, room, carl.user_id)
    await a.ok("set-role", {"roomId": room, "userId": carl.user_id, "role": "host"})
    await lo.next_where("role-changed", lambda e: e["role"] == "host")

    await s.ok("leave-stage", {"roomId": room})
    changed = await lo.next_where("role-changed", lambda e: e["userId"] == sam.user_id)
    assert changed["role"] == "listener" and changed["participant"]["role"] == "listener"
    await c.ok("leave-stage", {"roomId": room})
    changed = await lo.next_where("role-changed", lambda e: e["userId"] == carl.user_id)
    assert changed["role"] == "listener"
    assert await a.refused("leave-stage", {"roomId": room}) == "owner_role_fixed"
    await settled(lo)
    lo.drain("role-changed")
    await lo.ok("leave-stage", {"roomId": room})  # a listener: nothing to do
    await settled(lo)
    assert lo.pending("role-changed") == 0
    state = await rejoined_state(a, room)
    assert [(p["user"]["id"], p["role"]) for p in state["participants"]] == [(ann.user_id, "host")]
    assert state["audience"]["count"] == 3


# --- removal ------------------------------------------------------------------------------------


async def test_a_removed_participant_cannot_come_back_to_a_public_stage_room(
    person: MakePerson,
) -> None:
    ann, bob, cat, carl = await people(person, "Ann", "Bob", "Cat", "Carl")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    b, _ = await seated(bob, room)
    c, _ = await seated(cat, room)
    co, _ = await seated(carl, room)
    await promote(a, co, room, carl.user_id)
    await a.ok("set-role", {"roomId": room, "userId": carl.user_id, "role": "host"})
    await co.next_where("role-changed", lambda e: e["role"] == "host")

    assert await co.refused("remove-participant", {"roomId": room, "userId": ann.user_id}) == (
        "peer_not_in_room"
    )
    await co.ok("remove-participant", {"roomId": room, "userId": bob.user_id})
    removed = await b.next("removed-from-room")
    assert (removed["roomId"], removed["by"], removed["banned"]) == (room, carl.user_id, True)
    assert await b.refused("raise-hand", {"roomId": room}) == "not_in_room"
    assert await b.refused("join", {"roomId": room}) == "banned_from_room"
    view = AudienceView(count=2, present={bob.user_id, cat.user_id})
    await follow(c, view, lambda: bob.user_id not in view.present)
    assert view.count == 1

    # A new connection, a reconnect: still banned. Another room still works.
    await b.close()
    again = await stage_socket(bob)
    assert await again.refused("join", {"roomId": room}) == "banned_from_room"
    await again.join(await stage_room(cat))
    assert await a.refused("remove-participant", {"roomId": room, "userId": bob.user_id}) == (
        "peer_not_in_room"
    )
    seen = await bob.http.get(f"/api/rooms/{room}")
    assert (seen.status, seen.error_code) == (403, "banned_from_room")
    listed = await bob.http.get(f"/api/rooms/{room}/participants")
    assert listed.status == 403, "the participant list has the room's access rule"
    lift_own = await bob.http.delete(f"/api/rooms/{room}/members/{bob.user_id}")
    assert lift_own.status == 403, "the banned do not lift their own ban"
    assert await again.refused("join", {"roomId": room}) == "banned_from_room"
    state = await rejoined_state(a, room)
    assert bob.user_id not in ids_of(state["participants"] + state["audience"]["participants"])

    # Co-hosts do not remove co-hosts; the owner does not remove itself.
    cat_socket = c
    await promote(a, cat_socket, room, cat.user_id)
    await a.ok("set-role", {"roomId": room, "userId": cat.user_id, "role": "host"})
    await co.next_where(
        "role-changed", lambda e: e["userId"] == cat.user_id and e["role"] == "host"
    )
    assert await co.refused("remove-participant", {"roomId": room, "userId": cat.user_id}) == (
        "not_room_owner"
    )
    assert await a.refused("remove-participant", {"roomId": room, "userId": ann.user_id}) == (
        "peer_not_in_room"
    )


async def test_removal_from_a_private_stage_room_ends_membership(person: MakePerson) -> None:
    ann, bob = await person("Ann"), await person("Bob")
    room = await stage_room(ann, visibility="private")
    await invite(ann, room, bob)
    a, _ = await seated(ann, room)
    b, _ = await seated(bob, room)
    await a.ok("remove-participant", {"roomId": room, "userId": bob.user_id})
    removed = await b.next("removed-from-room")
    assert (removed["roomId"], removed["by"]) == (room, ann.user_id)
    assert (await bob.http.get(f"/api/rooms/{room}")).status == 404, "no longer a member"
    assert await b.refused("join", {"roomId": room}) == "not_found"


# --- roles across reconnects -----------------------------------------------------------------


async def test_a_promoted_speaker_stays_a_speaker_across_a_reconnect(person: MakePerson) -> None:
    ann, bob, cat = await person("Ann"), await person("Bob"), await person("Cat")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    b, _ = await seated(bob, room)
    c, _ = await seated(cat, room)
    await promote(a, b, room, bob.user_id)
    await c.next_where("role-changed", lambda e: e["userId"] == bob.user_id)

    await b.close()  # the connection drops
    left = await c.next("participant-left")
    assert left["userId"] == bob.user_id, "a stage member's departure is told one by one"
    back, state = await seated(bob, room)
    assert state["role"] == "speaker"
    assert (bob.user_id, "speaker") in [(p["user"]["id"], p["role"]) for p in state["participants"]]
    joined = await c.next("participant-joined")
    assert (joined["user"]["id"], joined["role"], joined["peerId"]) == (
        bob.user_id,
        "speaker",
        back.peer_id,
    )
    assert role_of(await rejoined_state(c, room), bob.user_id) == "speaker"

    # A second tab replaces the first and keeps the role; so does leave-and-come-back.
    tab, state = await seated(bob, room)
    assert state["role"] == "speaker"
    await back.next("replaced")
    await tab.ok("leave", {"roomId": room})
    _, state = await seated(bob, room)
    assert state["role"] == "speaker"

    # Moved back to the audience, a reconnect keeps that too.
    await a.ok("set-role", {"roomId": room, "userId": bob.user_id, "role": "listener"})
    await c.next_where("role-changed", lambda e: e["role"] == "listener")
    for socket in bob.sockets:
        await socket.close()
    _, state = await seated(bob, room)
    assert state["role"] == "listener" and bob.user_id not in ids_of(state["participants"])


async def test_roles_outlive_an_empty_room(person: MakePerson) -> None:
    ann, bob = await people(person, "Ann", "Bob")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    b, _ = await seated(bob, room)
    await promote(a, b, room, bob.user_id)
    for socket in (a, b):
        await socket.ok("leave", {"roomId": room})
    listed = await ann.http.get(f"/api/rooms/{room}/participants")
    assert listed.body["count"] == 0, "nobody is in the room now"
    _, state = await seated(bob, room)
    assert state["role"] == "speaker", "the room is still open: the role is still Bob's"


async def test_the_owner_lifts_a_ban_and_a_removed_co_host_returns_without_the_role(
    person: MakePerson,
) -> None:
    ann, carl, lou = await people(person, "Ann", "Carl", "Lou")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    c, _ = await seated(carl, room)
    lo, _ = await seated(lou, room)
    await promote(a, c, room, carl.user_id)
    await a.ok("set-role", {"roomId": room, "userId": carl.user_id, "role": "host"})
    await lo.next_where("role-changed", lambda e: e["role"] == "host")
    ack = await a.ok("remove-participant", {"roomId": room, "userId": carl.user_id})
    assert ack["banned"] is True
    await c.next("removed-from-room")
    assert (await ann.http.delete(f"/api/rooms/{room}/members/{carl.user_id}")).status == 204
    back, state = await seated(carl, room)
    # Removed by the owner: whatever they held in the room ended with the removal.
    assert state["role"] == "listener", "a removed co-host came back with host powers"
    assert await back.refused("invite-to-speak", {"roomId": room, "userId": lou.user_id}) == (
        "not_room_host"
    )


async def test_a_co_host_removed_from_a_private_room_and_invited_again_is_a_listener(
    person: MakePerson,
) -> None:
    ann, carl = await people(person, "Ann", "Carl")
    room = await stage_room(ann, visibility="private")
    await invite(ann, room, carl)
    a, _ = await seated(ann, room)
    c, _ = await seated(carl, room)
    await promote(a, c, room, carl.user_id)
    await a.ok("set-role", {"roomId": room, "userId": carl.user_id, "role": "host"})
    await c.next_where("role-changed", lambda e: e["role"] == "host")
    ack = await a.ok("remove-participant", {"roomId": room, "userId": carl.user_id})
    assert ack["banned"] is True  # no invite link lets them back in...
    removed = await c.next("removed-from-room")
    assert (removed["banned"], removed["by"]) == (True, ann.user_id)
    # ...until the owner lifts the ban and invites them again.
    assert (await ann.http.delete(f"/api/rooms/{room}/members/{carl.user_id}")).status == 204
    await invite(ann, room, carl)
    _, state = await seated(carl, room)
    assert state["role"] == "listener", "a removed co-host came back with host powers"


async def test_remove_participant_works_in_every_room_for_its_owner(person: MakePerson) -> None:
    ann, bob, cat = await people(person, "Ann", "Bob", "Cat")
    room = await ann.create_room(media="sfu")
    a, _ = await seated(ann, room)
    b, _ = await seated(bob, room)
    c, _ = await seated(cat, room)
    code = await c.refused("remove-participant", {"roomId": room, "userId": bob.user_id})
    assert code == "not_room_host"
    await a.ok("remove-participant", {"roomId": room, "userId": bob.user_id})
    removed = await b.next("removed-from-room")
    assert (removed["roomId"], removed["banned"], removed["by"]) == (room, True, ann.user_id)
    assert (await c.next("participant-left"))["userId"] == bob.user_id
    assert await b.refused("join", {"roomId": room}) == "banned_from_room"


# --- hands, invites and mutes across presence ------------------------------------------------


async def test_a_reconnecting_listener_finds_its_live_invite(person: MakePerson) -> None:
    ann, bob = await people(person, "Ann", "Bob")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    b, _ = await seated(bob, room)
    await a.ok("invite-to-speak", {"roomId": room, "userId": bob.user_id})
    await b.next("speak-invite")
    await b.close()  # the connection drops before the answer
    back, state = await seated(bob, room)
    invite_now = state["speakInvite"]
    assert invite_now is not None, "the live invite was lost with the connection"
    assert invite_now["by"] == ann.user_id and 0 < invite_now["expiresInSeconds"] <= 60
    await back.ok("accept-speak", {"roomId": room})
    changed = await a.next_where("role-changed", lambda e: e["userId"] == bob.user_id)
    assert changed["role"] == "speaker"


async def test_a_raised_hand_goes_down_when_its_listener_leaves(person: MakePerson) -> None:
    ann, bob, cat = await people(person, "Ann", "Bob", "Cat")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    b, _ = await seated(bob, room)
    c, _ = await seated(cat, room)
    await b.ok("raise-hand", {"roomId": room})
    await c.ok("raise-hand", {"roomId": room})
    await a.next("hand-raised")
    await a.next("hand-raised")
    await b.ok("leave", {"roomId": room})
    lowered = await a.next("hand-raised")
    assert (lowered["userId"], lowered["raised"]) == (bob.user_id, False)
    await c.close()
    lowered = await a.next("hand-raised")
    assert (lowered["userId"], lowered["raised"]) == (cat.user_id, False)
    dan = await person("Dan")
    d, _ = await seated(dan, room)
    await d.ok("raise-hand", {"roomId": room})
    await a.next_where("hand-raised", lambda e: e["userId"] == dan.user_id and e["raised"])
    await a.ok("remove-participant", {"roomId": room, "userId": dan.user_id})
    await d.next("removed-from-room")
    assert (await rejoined_state(a, room))["raisedHands"] == []
    await settled(a)
    told = a.drain("hand-raised")
    assert [(e["userId"], e["raised"]) for e in told] == [(dan.user_id, False)], (
        "the hosts hear that a removed listener's hand went down"
    )
    _, state = await seated(bob, room)
    assert state["handRaised"] is False


async def test_a_new_co_host_receives_the_queue_of_raised_hands(person: MakePerson) -> None:
    ann, carl, lou, leo = await people(person, "Ann", "Carl", "Lou", "Leo")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    c, _ = await seated(carl, room)
    lo, _ = await seated(lou, room)
    le, _ = await seated(leo, room)
    await promote(a, c, room, carl.user_id)
    await le.ok("raise-hand", {"roomId": room})
    await lo.ok("raise-hand", {"roomId": room})
    await settled(c)
    assert c.pending("hand-raised") == 0, "a speaker does not see hands"
    await a.ok("set-role", {"roomId": room, "userId": carl.user_id, "role": "host"})
    queue = await c.next("raised-hands")
    assert queue["roomId"] == room
    assert [h["userId"] for h in queue["hands"]] == [leo.user_id, lou.user_id]
    await lo.ok("lower-hand", {"roomId": room})
    assert (await c.next("hand-raised"))["userId"] == lou.user_id, "and its changes from then on"
    await a.ok("set-role", {"roomId": room, "userId": carl.user_id, "role": "speaker"})
    await c.next_where("role-changed", lambda e: e["role"] == "speaker")
    await lo.ok("raise-hand", {"roomId": room})
    await a.next_where("hand-raised", lambda e: e["userId"] == lou.user_id and e["raised"])
    await settled(c)
    assert c.pending("hand-raised") == 0, "no longer a host, no longer told"


async def test_hosts_mute_speakers_and_only_the_owner_mutes_co_hosts(person: MakePerson) -> None:
    ann, carl, sam, hal = await people(person, "Ann", "Carl", "Sam", "Hal")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    c, _ = await seated(carl, room)
    s, _ = await seated(sam, room)
    h, _ = await seated(hal, room)
    for socket, who in ((c, carl), (s, sam), (h, hal)):
        await promote(a, socket, room, who.user_id)
    for who in (carl, hal):
        await a.ok("set-role", {"roomId": room, "userId": who.user_id, "role": "host"})
        await s.next_where("role-changed", about(who.user_id, "host"))

    await c.ok("mute-participant", {"roomId": room, "userId": sam.user_id})
    info = await s.next("mute-info")
    assert (info["userId"], info["mute"], info["by"]) == (sam.user_id, True, carl.user_id)
    assert await s.refused("unmute", {"roomId": room}) == "muted_by_owner"
    await c.ok("unmute-participant", {"roomId": room, "userId": sam.user_id})
    assert (await s.next("mute-info"))["mute"] is False
    for target in (hal, ann):
        code = await c.refused("mute-participant", {"roomId": room, "userId": target.user_id})
        assert code == "not_room_owner", target.name
    await a.ok("mute-participant", {"roomId": room, "userId": hal.user_id})
    assert (await h.next_where("mute-info", lambda e: e["userId"] == hal.user_id))["by"] == (
        ann.user_id
    )


async def test_a_hosts_mute_is_not_undone_by_reconnecting(person: MakePerson) -> None:
    """A speaker muted by a host keeps the role across a reconnect; the mute must hold too,
    or leaving and coming back is an unmute the host never allowed."""
    ann, sam = await people(person, "Ann", "Sam")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    s, _ = await seated(sam, room)
    await promote(a, s, room, sam.user_id)
    await a.ok("mute-participant", {"roomId": room, "userId": sam.user_id})
    await s.next("mute-info")
    await s.close()
    back, state = await seated(sam, room)
    (me,) = [p for p in state["participants"] if p["user"]["id"] == sam.user_id]
    assert (me["role"], me["muted"]) == ("speaker", True), me
    assert await back.refused("unmute", {"roomId": room}) == "muted_by_owner"


async def test_a_large_sfu_room_tells_its_audience_in_updates_above_fifty(
    person: MakePerson, server: RunningServer, crowd_sockets: CrowdSockets
) -> None:
    ann = await person("Ann")
    room = await ann.create_room(media="sfu")
    a, _ = await seated(ann, room)
    members = await crowd(server, 52)
    sockets = [await crowd_sockets.open(m) for m in members]
    for socket in sockets[:49]:  # 50 in the room: every arrival told one by one
        await socket.join(room)
    for _ in range(49):
        joined = await a.next("participant-joined")
        assert joined["role"] == "speaker"
    await sockets[49].join(room)  # 51: more than 50, audience mode
    state = await sockets[50].join(room)  # 52
    assert [(p["user"]["id"], p["role"]) for p in state["participants"]] == [
        (ann.user_id, "host")
    ], "the stage of a large room is its host"
    audience = state["audience"]
    assert (audience["count"], audience["role"]) == (51, "speaker")
    assert len(audience["participants"]) == 50 and audience["nextCursor"] is not None
    assert ids_of(audience["participants"]) == [m.user_id for m in members[:50]]
    view = AudienceView(count=49, present={m.user_id for m in members[:49]})
    expected = {m.user_id for m in members[:51]}
    await asyncio.wait_for(follow(a, view, knows(view, expected)), 10)
    await settled(a)
    assert a.pending("participant-joined") <= 1, "the 51st at most: the room was at 50"
    rest = await ann.http.get(
        f"/api/rooms/{room}/participants",
        params={"role": "speaker", "cursor": audience["nextCursor"]},
    )
    assert ids_of(rest.body["participants"]) == [members[50].user_id]

    # Back under 50 people: still audience mode until the room empties (docs/protocol.md),
    # so the host's view never has to switch back.
    a.drain("participant-joined")
    for socket in sockets[48:51]:
        await socket.ok("leave", {"roomId": room})
    await sockets[51].join(room)
    update = await a.next_where(
        "audience-update", lambda u: members[51].user_id in ids_of(u["joined"])
    )
    assert update["count"] == 49
    await settled(a)
    assert a.pending("participant-joined") == 0 and a.pending("participant-left") == 0


async def test_an_invite_that_dies_with_its_host_is_ended_for_the_listener(
    person: MakePerson,
) -> None:
    """The listener's prompt must not outlive the invitation: it hears that it ended."""
    ann, carl, lou = await people(person, "Ann", "Carl", "Lou")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    c, _ = await seated(carl, room)
    lo, _ = await seated(lou, room)
    await promote(a, c, room, carl.user_id)
    await a.ok("set-role", {"roomId": room, "userId": carl.user_id, "role": "host"})
    await lo.next_where("role-changed", about(carl.user_id, "host"))
    await c.ok("invite-to-speak", {"roomId": room, "userId": lou.user_id})
    await lo.next("speak-invite")
    await a.ok("set-role", {"roomId": room, "userId": carl.user_id, "role": "speaker"})
    ended = await lo.next("speak-invite-ended", timeout=5)
    assert ended["roomId"] == room
    answered = await a.next_where(
        "speak-invite-answered",
        lambda e: e["userId"] == lou.user_id and e["answer"] != "pending",
    )
    assert (answered["answer"], answered["by"]) == ("withdrawn", carl.user_id)
    # A co-host's invitation is the co-host's authority: it cannot be accepted now.
    assert await lo.refused("accept-speak", {"roomId": room}) == "no_speak_invite"


async def test_hosts_hear_an_invite_expire_while_its_listener_is_away(
    person: MakePerson, server: RunningServer
) -> None:
    shorten_invites(server, 1.0)
    ann, bob = await people(person, "Ann", "Bob")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    b, _ = await seated(bob, room)
    await a.ok("invite-to-speak", {"roomId": room, "userId": bob.user_id})
    await a.next("speak-invite-answered")  # pending
    await b.ok("leave", {"roomId": room})
    answered = await a.next("speak-invite-answered", timeout=5)
    assert (answered["userId"], answered["answer"]) == (bob.user_id, "expired")
    _, state = await seated(bob, room)
    assert state["speakInvite"] is None


@pytest.mark.parametrize("join_first", [False, True, False, True])
async def test_a_removal_racing_a_second_tab_join_never_leaves_them_in(
    person: MakePerson, join_first: bool
) -> None:
    ann, bob = await people(person, "Ann", "Bob")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    first, _ = await seated(bob, room)
    second = await stage_socket(bob)
    removing = a.call("remove-participant", {"roomId": room, "userId": bob.user_id})
    joining = second.call("join", {"roomId": room})
    if join_first:
        join, removal = await asyncio.gather(joining, removing)
    else:
        removal, join = await asyncio.gather(removing, joining)
    assert removal["ok"] is True, removal
    if join["ok"]:
        # It got in before the ban: it must be taken out and told.
        await second.next("removed-from-room")
    else:
        assert join["error"]["code"] in {"banned_from_room", "try_again"}, join
    for socket in (first, second):
        await settled(socket)
    state = await rejoined_state(a, room)
    assert bob.user_id not in ids_of(state["participants"] + state["audience"]["participants"])
    assert state["audience"]["count"] == 0
    listed = await ann.http.get(f"/api/rooms/{room}/participants")
    assert ids_of(listed.body["participants"]) == [ann.user_id]
    assert await second.refused("join", {"roomId": room}) == "banned_from_room"


async def test_someone_promoted_before_the_update_is_not_in_its_joined(
    person: MakePerson, server: RunningServer, crowd_sockets: CrowdSockets
) -> None:
    ann, bob = await people(person, "Ann", "Bob")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    opener = await crowd_sockets.open((await crowd(server, 1))[0])
    await opener.join(room)
    await a.next("audience-update")  # sent at once: the next one waits for its second
    b, _ = await seated(bob, room)
    await promote(a, b, room, bob.user_id)
    changed = await a.next_where("role-changed", about(bob.user_id, "speaker"))
    assert changed["participant"]["user"]["id"] == bob.user_id
    update = await a.next("audience-update", timeout=5)
    order = [event for _, event in a.received if event in ("audience-update", "role-changed")]
    if order[-2:] != ["role-changed", "audience-update"]:
        pytest.skip("the promotion took longer than the coalescing interval here")
    assert bob.user_id not in ids_of(update["joined"]), "role-changed told of them already"
    assert update["count"] == 1, update


async def test_an_arrival_at_the_fifty_boundary_is_told_one_way_or_the_other(
    person: MakePerson, server: RunningServer, crowd_sockets: CrowdSockets
) -> None:
    """Someone joins a large room in audience mode, and before the next audience-update two
    others leave, bringing the room back to 50: the newcomer must still be announced, in the
    update or one by one."""
    ann = await person("Ann")
    room = await ann.create_room(media="sfu")
    a, _ = await seated(ann, room)
    members = await crowd(server, 51)
    sockets = [await crowd_sockets.open(m) for m in members]
    for socket in sockets[:49]:
        await socket.join(room)
    known: set[str] = set()
    for _ in range(49):
        known.add((await a.next("participant-joined"))["user"]["id"])
    await sockets[49].join(room)  # 51 people: audience mode, an update at once
    await a.next("audience-update")
    newcomer = members[50].user_id
    await sockets[50].join(room)  # 52: in the next update...
    for socket in sockets[47:49]:  # ...which is built once the room is back at 50
        await socket.ok("leave", {"roomId": room})

    async def told() -> None:
        while True:
            for joined in a.drain("participant-joined"):
                known.add(joined["user"]["id"])
            for update in a.drain("audience-update"):
                known.update(ids_of(update["joined"]))
            if newcomer in known:
                return
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(told(), 5)
    except TimeoutError:
        raise AssertionError("the newcomer was never announced to the host") from None


# --- paging the audience ---------------------------------------------------------------------


async def page_through(
    someone: Person, room: str, query: dict[str, str], between: Callable[[], Awaitable[None]]
) -> list[dict[str, Any]]:
    """Every page of GET /api/rooms/{room}/participants with `query`, running `between()`
    after each page; the entries in the order received."""
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        params = query | ({"cursor": cursor} if cursor is not None else {})
        reply = await someone.http.get(f"/api/rooms/{room}/participants", params=params)
        assert reply.status == 200, reply.body
        assert set(reply.body) == {"participants", "count", "nextCursor"}, reply.body
        entries += reply.body["participants"]
        cursor = reply.body["nextCursor"]
        if cursor is None:
            return entries
        await between()
    raise AssertionError("paging never ended")


async def nothing() -> None:
    return None


async def test_paging_returns_every_listener_present_throughout_exactly_once(
    person: MakePerson, server: RunningServer, crowd_sockets: CrowdSockets
) -> None:
    ann = await person("Ann")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    members = await crowd(server, 60)
    togglers = await crowd(server, 8, "toggler")
    stayers, leavers, latecomers = members[0:40:2], members[1:40:2], members[40:]
    sockets: dict[str, StageSocket] = {}
    inside: list[str] = []  # arrival order
    for member in members[:40]:  # stayers and leavers alternate in arrival order
        sockets[member.user_id] = await crowd_sockets.open(member)
        await sockets[member.user_id].join(room)
        inside.append(member.user_id)
    for member in latecomers:
        sockets[member.user_id] = await crowd_sockets.open(member)

    moves = iter(range(10_000))
    gone: list[CrowdMember] = []

    async def enter(member: CrowdMember) -> None:
        await sockets[member.user_id].join(room)
        inside.append(member.user_id)

    async def churn() -> None:
        """Between pages: two who were (likely) paged already leave, so an offset would skip
        someone; two newcomers arrive; every other time one who left comes back."""
        step = next(moves)
        for member in leavers[2 * step : 2 * step + 2]:
            await sockets[member.user_id].ok("leave", {"roomId": room})
            inside.remove(member.user_id)
            gone.append(member)
        for member in latecomers[2 * step : 2 * step + 2]:
            await enter(member)
        if step % 2 == 1 and gone:
            await enter(gone.pop(0))

    toggling = [await crowd_sockets.open(member) for member in togglers]
    paging_done = asyncio.Event()
    toggles = 0

    async def toggle() -> None:
        """All the while: others join and leave, concurrently with the paging."""
        nonlocal toggles
        while not paging_done.is_set():
            for socket in toggling:
                await socket.join(room)
            for socket in toggling:
                await socket.ok("leave", {"roomId": room})
            toggles += 1

    toggler = asyncio.create_task(toggle())
    try:
        entries = await page_through(ann, room, {"role": "listener", "limit": "3"}, churn)
    finally:
        paging_done.set()
        await toggler
    assert next(moves) >= 5 and toggles >= 1, "the paging ran alongside the churn"
    seen = [e["user"]["id"] for e in entries]
    for member in stayers:
        assert seen.count(member.user_id) == 1, (member.name, seen.count(member.user_id))
    assert {e["role"] for e in entries} == {"listener"} and ann.user_id not in seen
    assert all({"user", "role", "muted"} <= set(e) for e in entries), entries[0]

    everyone = await page_through(ann, room, {"limit": "100"}, nothing)
    listed = [e["user"]["id"] for e in everyone]
    assert listed == [ann.user_id, *inside], "everyone present now, in arrival order"
    assert everyone[0]["role"] == "host"
    reply = await ann.http.get(
        f"/api/rooms/{room}/participants", params={"role": "listener", "limit": "100"}
    )
    assert reply.body["count"] == len(reply.body["participants"]) == len(inside)
    hosts = await ann.http.get(f"/api/rooms/{room}/participants", params={"role": "host"})
    assert [e["user"]["id"] for e in hosts.body["participants"]] == [ann.user_id]
    assert hosts.body["count"] == 1 and hosts.body["nextCursor"] is None
    speakers = await ann.http.get(f"/api/rooms/{room}/participants", params={"role": "speaker"})
    assert speakers.body == {"participants": [], "count": 0, "nextCursor": None}
    default = await ann.http.get(f"/api/rooms/{room}/participants")
    assert len(default.body["participants"]) == 50, "limit defaults to 50"
    await settled(a)


@pytest.mark.parametrize(
    "query",
    [
        {"role": "owner"},
        {"role": ""},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "x"},
        {"cursor": "%%%"},
        {"cursor": "abc"},
    ],
)
async def test_bad_paging_parameters_are_refused(person: MakePerson, query: dict[str, str]) -> None:
    ann = await person("Ann")
    room = await stage_room(ann)
    reply = await ann.http.get(f"/api/rooms/{room}/participants", params=query)
    assert reply.status == 422 and reply.error_code == "validation_failed", (query, reply.body)


async def test_the_participant_list_has_the_room_access_rules(
    person: MakePerson, new_client: Callable[[], ApiClient]
) -> None:
    ann, bob, eve = await people(person, "Ann", "Bob", "Eve")
    room = await stage_room(ann, visibility="private")
    await invite(ann, room, bob)
    await seated(ann, room)
    await seated(bob, room)
    path = f"/api/rooms/{room}/participants"
    assert (await eve.http.get(path)).status == 404, "a private room's stranger"
    assert (await eve.http.get(f"/api/rooms/{room}")).status == 404
    member = await bob.http.get(path, params={"role": "listener"})
    assert member.status == 200 and ids_of(member.body["participants"]) == [bob.user_id]
    anonymous = new_client()
    assert (await anonymous.get(path)).status == (await anonymous.get(f"/api/rooms/{room}")).status
    assert (await ann.http.get("/api/rooms/rm_nosuchroomAAAAAAAA/participants")).status == 404
    assert (await ann.http.delete(f"/api/rooms/{room}")).status == 204
    assert (await ann.http.get(path)).status == 410
    assert (await bob.http.get(path)).status == 410


# --- coalesced audience updates -----------------------------------------------------------------


async def test_audience_joins_and_leaves_are_coalesced_into_net_updates(
    person: MakePerson, server: RunningServer, crowd_sockets: CrowdSockets
) -> None:
    ann, bob = await person("Ann"), await person("Bob")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    b, state = await seated(bob, room)
    await a.next("audience-update")  # Bob's
    members = await crowd(server, 24)
    sockets = [await crowd_sockets.open(m) for m in members]

    started = time.monotonic()
    await asyncio.gather(*(s.join(room) for s in sockets))
    # A third leave again at once: they must not stay in anyone's view.
    await asyncio.gather(*(s.ok("leave", {"roomId": room}) for s in sockets[::3]))
    storm = time.monotonic() - started
    expected = {bob.user_id} | {m.user_id for m in members} - {m.user_id for m in members[::3]}

    host_view = AudienceView(count=1, present={bob.user_id})
    listener_view = AudienceView(
        count=state["audience"]["count"], present=set(ids_of(state["audience"]["participants"]))
    )
    for socket, view in ((a, host_view), (b, listener_view)):
        await asyncio.wait_for(follow(socket, view, knows(view, expected)), 10)
    finished = time.monotonic() - started
    for view in (host_view, listener_view):
        assert len(view.updates) <= finished + 2, (len(view.updates), finished, storm)
    arrivals = [t for t, e in a.received if e == "audience-update" and t >= started]
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert all(gap >= 0.5 for gap in gaps), f"audience-updates closer than once a second: {gaps}"
    for socket in (a, b):
        await settled(socket)
        assert socket.pending("participant-joined") == 0 and socket.pending("participant-left") == 0


def knows(view: AudienceView, expected: set[str]) -> Callable[[], bool]:
    return lambda: view.present == expected and view.count == len(expected)
