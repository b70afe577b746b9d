"""A reviewer's attacks on stage rooms (issue 15), against docs/protocol.md "Stage rooms and
large rooms": each test here shows a fault found in review (or pins an edge that held).
Real server, real database, real Socket.IO clients, as in tests/test_stage.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from api.signaling.hub import SIGNALING
from tests.conftest import RunningServer
from tests.people import Person
from tests.stage_people import (
    StageSocket,
    promote,
    stage_room,
    stage_socket,
)

MakePerson = Callable[[str], Awaitable[Person]]


async def seated(someone: Person, room: str) -> tuple[StageSocket, dict[str, Any]]:
    socket = await stage_socket(someone)
    return socket, await socket.join(room)


def about(user_id: str, role: str) -> Callable[[Any], bool]:
    return lambda e: bool(e["userId"] == user_id and e["role"] == role)


def shorten_invites(server: RunningServer, seconds: float) -> None:
    server.app[SIGNALING].stage.invite_seconds = seconds


async def co_host(owner: StageSocket, target: StageSocket, room: str, user_id: str) -> None:
    """Invite, accept, and the owner makes them a co-host (as `target` hears it)."""
    await promote(owner, target, room, user_id)
    await owner.ok("set-role", {"roomId": room, "userId": user_id, "role": "host"})
    await target.next_where("role-changed", about(user_id, "host"))


# --- faults -----------------------------------------------------------------------------------


async def test_a_co_host_muted_by_the_owner_cannot_lift_the_mute_themself(
    person: MakePerson,
) -> None:
    """Only the owner mutes (and unmutes) a co-host (docs/protocol.md: mute-participant). The
    co-host's own `unmute` is refused with `muted_by_owner`, but `unmute-participant` naming
    itself is let through (api/signaling/mute.py `_set_by_owner` exempts `target is
    connection` from the co-host rule), so the owner's mute is one event away from void."""
    ann, carl, lou = await person("Ann"), await person("Carl"), await person("Lou")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    c, _ = await seated(carl, room)
    lo, _ = await seated(lou, room)
    await co_host(a, c, room, carl.user_id)
    await a.ok("mute-participant", {"roomId": room, "userId": carl.user_id})
    await c.next_where("mute-info", lambda e: e["userId"] == carl.user_id and e["mute"])
    assert await c.refused("unmute", {"roomId": room}) == "muted_by_owner"

    ack = await c.call("unmute-participant", {"roomId": room, "userId": carl.user_id})
    state = await lo.join(room)  # the room's view now
    (me,) = [p for p in state["participants"] if p["user"]["id"] == carl.user_id]
    assert me["muted"] is True, "the co-host lifted the owner's mute on itself"
    assert ack["ok"] is False and ack["error"]["code"] == "not_room_owner", ack


async def test_hosts_learn_how_an_invitation_ended_when_its_listener_is_removed(
    person: MakePerson, server: RunningServer
) -> None:
    """Every invitation the hosts saw as `pending` must end for them (`speak-invite-answered`:
    accepted, declined, expired or withdrawn). Removing the invited listener drops the invite
    silently (api/signaling/stage_book.py `StageBook.forget` pops it, nobody is told) and
    the expiry timer then finds nothing to expire (`SignalingState.expire_invite`), so the
    hosts' queue shows it pending forever."""
    shorten_invites(server, 1.0)
    ann, bob = await person("Ann"), await person("Bob")
    room = await stage_room(ann)
    a, _ = await seated(ann, room)
    b, _ = await seated(bob, room)
    await a.ok("invite-to-speak", {"roomId": room, "userId": bob.user_id})
    await a.next_where("speak-invite-answered", lambda e: e["answer"] == "pending")
    await a.ok("remove-participant", {"roomId": room, "userId": bob.user_id})
    await b.next("removed-from-room")
    try:
        answered = await a.next_where(
            "speak-invite-answered",
            lambda e: e["userId"] == bob.user_id and e["answer"] != "pending",
            timeout=3.0,  # three times the invitation's life: even "expired" would be in
        )
    except TimeoutError:
        raise AssertionError("the hosts never heard the removed listener's invite end") from None
    assert answered["answer"] in ("withdrawn", "expired"), answered
