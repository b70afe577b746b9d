"""Socket.IO signaling with the documented contract: presence, relays, mute, and every refusal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import socketio

from api.signaling.hub import SIGNALING
from api.signaling.sockets import NAMESPACE, room_name
from tests.conftest import RunningServer
from tests.people import Person
from tests.sockets import SocketClient

MakePerson = Callable[[str], Awaitable[Person]]


async def settled(client: SocketClient) -> None:
    """One acknowledged round trip (a no-op `leave`): whatever the server sent this client
    before is in its queues now."""
    ack = await client.call("leave", {"roomId": "rm_settledAAAAAAAAA"})
    assert ack["ok"] or ack["error"]["code"] == "not_in_room", ack


def socket_room(server: RunningServer, room: str) -> set[str]:
    """The sids in the Socket.IO room of a signaling room."""
    rooms = server.app[SIGNALING].sio.manager.rooms.get(NAMESPACE, {})
    return set(rooms.get(room_name(room), {}))


async def test_connecting_needs_a_live_session(person: MakePerson) -> None:
    ann = await person("Ann")
    for token, code in ((None, "not_authenticated"), ("garbage", "invalid_token")):
        client = SocketClient()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(ann.base_url, token)
        await client.close()
        assert client.refusal["data"] == {"code": code}, client.refusal
    await ann.http.post("/api/auth/logout")
    client = SocketClient()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(ann.base_url, ann.access_token)
    await client.close()
    assert client.refusal["data"] == {"code": "session_expired"}, client.refusal


async def test_join_order_and_offer_flags(person: MakePerson) -> None:
    ann, bob, cat = await person("Ann"), await person("Bob"), await person("Cat")
    room = await ann.create_room()
    a, b, c = await ann.socket(), await bob.socket(), await cat.socket()

    state = await a.join(room)
    assert [p["user"]["id"] for p in state["participants"]] == [ann.user_id]
    assert state["selfPeerId"] == a.peer_id and state["media"] == "mesh"

    state = await b.join(room)
    assert [p["user"]["id"] for p in state["participants"]] == [ann.user_id, bob.user_id]
    assert await a.next("add-peer") == {
        "peerId": b.peer_id,
        "createOffer": False,
        "user": (await a.next("participant-joined"))["user"],
    }
    to_bob = await b.next("add-peer")
    assert (to_bob["peerId"], to_bob["createOffer"], to_bob["user"]["id"]) == (
        a.peer_id,
        True,
        ann.user_id,
    )

    await c.join(room)
    for member in (a, b):
        added = await member.next("add-peer")
        assert (added["peerId"], added["createOffer"], added["user"]["name"]) == (
            c.peer_id,
            False,
            "Cat",
        )
    offers = {(await c.next("add-peer"))["peerId"] for _ in range(2)}
    assert offers == {a.peer_id, b.peer_id}
    assert c.pending("add-peer") == 0


async def test_relays_reach_only_peers_in_the_same_room(person: MakePerson) -> None:
    ann, bob, eve = await person("Ann"), await person("Bob"), await person("Eve")
    room, other_room = await ann.create_room(), await eve.create_room()
    a, b, e = await ann.socket(), await bob.socket(), await eve.socket()
    await a.join(room)
    await b.join(room)
    await e.join(other_room)

    offer = {"type": "offer", "sdp": "v=0\r\n"}
    refused = await a.call("relay-sdp", {"peerId": e.peer_id, "sessionDescription": offer})
    assert refused == {
        "ok": False,
        "error": {"code": "peer_not_in_room", "message": refused["error"]["message"]},
    }
    refused = await a.call("relay-ice", {"peerId": e.peer_id, "icecandidate": {"candidate": "x"}})
    assert refused["error"]["code"] == "peer_not_in_room"
    refused = await a.call("relay-sdp", {"peerId": a.peer_id, "sessionDescription": offer})
    assert refused["error"]["code"] == "peer_not_in_room"

    ack = await a.call(
        "relay-sdp", {"peerId": b.peer_id, "sessionDescription": offer | {"extra": 1}, "x": 2}
    )
    assert ack == {"ok": True}
    assert await b.next("session-description") == {"peerId": a.peer_id, "sessionDescription": offer}
    candidate = {
        "candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }
    assert (await b.call("relay-ice", {"peerId": a.peer_id, "icecandidate": candidate}))["ok"]
    relayed = await a.next("ice-candidate")
    assert relayed["peerId"] == b.peer_id
    assert relayed["icecandidate"]["candidate"] == candidate["candidate"]
    assert e.pending("session-description") == 0 and e.pending("ice-candidate") == 0


async def test_private_rooms_need_membership(person: MakePerson) -> None:
    ann, bob = await person("Ann"), await person("Bob")
    room = await ann.create_room(visibility="private")
    b = await bob.socket()
    refused = await b.call("join", {"roomId": room})
    assert refused["error"]["code"] == "not_found"
    invite = await ann.http.post(f"/api/rooms/{room}/invites", {})
    await bob.http.post(f"/api/invites/{invite.body['token']}/accept")
    await b.join(room)


async def test_a_revoked_session_is_disconnected(person: MakePerson) -> None:
    ann = await person("Ann")
    room = await ann.create_room()
    a = await ann.socket()
    await a.join(room)
    laptop = await ann.http.login((await ann.http.get("/api/users/me")).body["email"])
    assert laptop.status == 200
    sessions = (await ann.http.get("/api/auth/sessions")).body["sessions"]
    old = next(s["id"] for s in sessions if not s["current"])
    assert (await ann.http.delete(f"/api/auth/sessions/{old}")).status == 204
    await a.next("session-ended")
    await a.disconnected.wait()


async def test_the_ninth_mesh_participant_is_refused(person: MakePerson) -> None:
    owner = await person("Owner")
    room = await owner.create_room()
    sockets = [await owner.socket()]
    await sockets[0].join(room)
    for n in range(7):
        guest = await person(f"Guest{n}")
        sockets.append(await guest.socket())
        await sockets[-1].join(room)
    ninth = await (await person("Ninth")).socket()
    refused = await ninth.call("join", {"roomId": room})
    assert refused["error"]["code"] == "room_full"
    listed = (await owner.http.get("/api/rooms")).body["rooms"][0]
    assert listed["participantCount"] == 8 and len(listed["participants"]) == 5
    await sockets[-1].close()
    await ninth.join(room)


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("join", None),
        ("join", "rm_x"),
        ("join", {"roomId": 5}),
        ("join", {"roomId": "x" * 500}),
        ("leave", []),
        ("relay-sdp", {"peerId": "p"}),
        ("relay-sdp", {"peerId": "p", "sessionDescription": {"type": "bogus", "sdp": ""}}),
        (
            "relay-sdp",
            {"peerId": "p", "sessionDescription": {"type": "offer", "sdp": "x" * 70_000}},
        ),
        ("relay-ice", {"icecandidate": {"candidate": "c"}}),
        ("relay-ice", {"peerId": "p", "icecandidate": {"candidate": 7}}),
        ("mute", {"userId": "u"}),
        ("unmute", 12),
        ("mute-participant", {"roomId": "r"}),
    ],
)
async def test_malformed_payloads_get_error_acks(
    person: MakePerson, event: str, payload: Any
) -> None:
    ann, bob = await person("Ann"), await person("Bob")
    room = await ann.create_room()
    a, b = await ann.socket(), await bob.socket()
    await a.join(room)
    await b.join(room)
    ack = await a.call(event, payload)
    assert ack["ok"] is False and ack["error"]["code"] == "validation_failed", ack
    # The room keeps working for everyone.
    offer = {"type": "offer", "sdp": "v=0\r\n"}
    assert (await a.call("relay-sdp", {"peerId": b.peer_id, "sessionDescription": offer}))["ok"]
    assert (await b.next("session-description"))["peerId"] == a.peer_id


async def test_events_before_joining_are_refused(person: MakePerson) -> None:
    ann = await person("Ann")
    a = await ann.socket()
    for event, payload in (
        ("mute", {"roomId": "rm_AAAAAAAAAAAAAAAA"}),
        ("relay-sdp", {"peerId": "x", "sessionDescription": {"type": "offer", "sdp": ""}}),
        ("relay-ice", {"peerId": "x", "icecandidate": None}),
    ):
        assert (await a.call(event, payload))["error"]["code"] == "not_in_room"
    assert (await a.call("join", {"roomId": "rm_AAAAAAAAAAAAAAAA"}))["error"]["code"] == "not_found"


async def test_mute_state_is_shared(person: MakePerson) -> None:
    ann, bob = await person("Ann"), await person("Bob")
    room = await ann.create_room()
    a, b = await ann.socket(), await bob.socket()
    await a.join(room)
    await b.join(room)
    assert (await b.call("mute", {"roomId": room, "userId": bob.user_id}))["ok"]
    assert await a.next("mute-info") == {"userId": bob.user_id, "mute": True, "isMute": True}
    assert (await b.call("unmute", {"roomId": room}))["ok"]
    assert await a.next("mute-info") == {"userId": bob.user_id, "mute": False, "isMute": False}
    refused = await b.call("mute", {"roomId": room, "userId": ann.user_id})
    assert refused["error"]["code"] == "not_yourself"
    refused = await b.call("mute-participant", {"roomId": room, "userId": ann.user_id})
    assert refused["error"]["code"] == "not_room_owner"

    assert (await a.call("mute-participant", {"roomId": room, "userId": bob.user_id}))["ok"]
    for member in (a, b):
        info = await member.next("mute-info")
        assert (info["userId"], info["mute"], info["by"]) == (bob.user_id, True, ann.user_id)
    late = await (await person("Cat")).socket()
    state = await late.join(room)
    assert {p["user"]["id"]: p["muted"] for p in state["participants"]}[bob.user_id] is True


async def test_a_topic_edit_reaches_everyone_in_the_room(person: MakePerson) -> None:
    ann, bob = await person("Ann"), await person("Bob")
    room = await ann.create_room()
    a, b = await ann.socket(), await bob.socket()
    await a.join(room)
    await b.join(room)
    reply = await ann.http.call("PATCH", f"/api/rooms/{room}", {"topic": "Jazz after dark"})
    assert reply.status == 200, reply
    for member in (a, b):
        assert await member.next("room-updated") == {"roomId": room, "topic": "Jazz after dark"}
    # Someone arriving later reads it from the room itself, not from a stale record.
    late = await (await person("Cat")).socket()
    await late.join(room)
    assert late.pending("room-updated") == 0


async def test_leaving_and_disconnecting_remove_the_peer(person: MakePerson) -> None:
    ann, bob, cat = await person("Ann"), await person("Bob"), await person("Cat")
    room = await ann.create_room()
    a, b, c = await ann.socket(), await bob.socket(), await cat.socket()
    for client in (a, b, c):
        await client.join(room)
    assert (await b.call("leave", {"roomId": room}))["ok"]
    for member in (a, c):
        assert await member.next("remove-peer") == {"peerId": b.peer_id, "userId": bob.user_id}
        assert await member.next("participant-left") == {"peerId": b.peer_id, "userId": bob.user_id}
    await c.close()
    assert await a.next("remove-peer") == {"peerId": c.peer_id, "userId": cat.user_id}
    listed = (await ann.http.get("/api/rooms")).body["rooms"][0]
    assert (listed["participantCount"], [p["name"] for p in listed["participants"]]) == (1, ["Ann"])


async def test_closing_the_room_ejects_everyone(person: MakePerson) -> None:
    ann, bob = await person("Ann"), await person("Bob")
    room = await ann.create_room()
    a, b = await ann.socket(), await bob.socket()
    await a.join(room)
    await b.join(room)
    assert (await ann.http.delete(f"/api/rooms/{room}")).status == 204
    for member in (a, b):
        assert await member.next("room-closed") == {"roomId": room}
    assert (await b.call("join", {"roomId": room}))["error"]["code"] == "room_closed"
    assert (await a.call("mute", {"roomId": room}))["error"]["code"] == "not_in_room"


async def test_removing_a_member_ejects_them(person: MakePerson) -> None:
    ann, bob = await person("Ann"), await person("Bob")
    room = await ann.create_room(visibility="private")
    invite = await ann.http.post(f"/api/rooms/{room}/invites", {})
    await bob.http.post(f"/api/invites/{invite.body['token']}/accept")
    a, b = await ann.socket(), await bob.socket()
    await a.join(room)
    await b.join(room)
    assert (await ann.http.delete(f"/api/rooms/{room}/members/{bob.user_id}")).status == 204
    removed = {"roomId": room, "by": ann.user_id, "banned": False}
    assert await b.next("removed-from-room") == removed
    assert await a.next("remove-peer") == {"peerId": b.peer_id, "userId": bob.user_id}
    assert (await b.call("join", {"roomId": room}))["error"]["code"] == "not_found"


async def test_a_second_tab_replaces_the_first(person: MakePerson) -> None:
    ann, bob = await person("Ann"), await person("Bob")
    room = await ann.create_room()
    first, second, b = await ann.socket(), await ann.socket(), await bob.socket()
    await first.join(room)
    await b.join(room)
    state = await second.join(room)
    assert await first.next("replaced") == {"roomId": room}
    assert await b.next("remove-peer") == {"peerId": first.peer_id, "userId": ann.user_id}
    assert [p["peerId"] for p in state["participants"]] == [b.peer_id, second.peer_id]
    # The new tab never saw the old one in the room, so it is not told that it left.
    await settled(second)
    assert second.pending("participant-left") == 0 and second.pending("remove-peer") == 0


async def test_relays_are_rate_limited_per_connection(person: MakePerson) -> None:
    ann, bob = await person("Ann"), await person("Bob")
    room = await ann.create_room()
    a, b = await ann.socket(), await bob.socket()
    await a.join(room)
    await b.join(room)
    payload = {"peerId": b.peer_id, "icecandidate": None}
    codes = [(await a.call("relay-ice", payload)).get("error", {}).get("code") for _ in range(300)]
    # The join spent one event of the 300 allowed per 10 s; the 300th relay is refused.
    assert codes.count("rate_limited") == 1 and codes[-1] == "rate_limited"
    for _ in range(299):
        assert (await b.next("ice-candidate"))["peerId"] == a.peer_id


async def test_a_foreign_origin_cannot_open_a_socket(person: MakePerson) -> None:
    ann = await person("Ann")
    client = SocketClient()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            ann.base_url, ann.access_token, headers={"Origin": "https://evil.example"}
        )


async def test_a_room_broadcast_reaches_each_occupant_once_and_not_the_sender(
    person: MakePerson, server: RunningServer
) -> None:
    people = [await person(f"Guest{n}") for n in range(10)]  # sign-ups: 10 an hour
    room = await people[0].create_room(media="sfu")
    elsewhere = await people[0].create_room()
    inside = []
    for someone in people[:-1]:
        inside.append(await someone.socket())
        await inside[-1].join(room)
    outsider = await people[-1].socket()
    await outsider.join(elsewhere)
    assert socket_room(server, room) == {s.peer_id for s in inside}

    speaker, leaver = inside[3], inside[7]
    assert (await speaker.call("mute", {"roomId": room}))["ok"]
    for client in [*inside, outsider]:
        await settled(client)
    for index, client in enumerate(inside):
        # Everyone heard of each later arrival once, and of the mute once, but the speaker.
        assert client.pending("participant-joined") == len(inside) - 1 - index
        assert client.pending("mute-info") == (0 if client is speaker else 1)
    assert outsider.pending("participant-joined") == outsider.pending("mute-info") == 0

    assert (await leaver.call("leave", {"roomId": room}))["ok"]
    assert leaver.peer_id not in socket_room(server, room)
    assert (await speaker.call("unmute", {"roomId": room}))["ok"]
    for client in [*inside, outsider]:
        await settled(client)
    for client in inside:
        stayed = client is not leaver
        assert client.pending("participant-left") == (1 if stayed else 0)
        # The mute and the unmute, but the speaker; the leaver only heard the mute.
        assert client.pending("mute-info") == (0 if client is speaker else 2 if stayed else 1)
    assert outsider.pending("participant-left") == outsider.pending("mute-info") == 0

    await inside[0].close()  # out by its disconnect, or by the close if that came first
    assert (await outsider.call("leave", {"roomId": elsewhere}))["ok"]
    assert (await people[0].http.delete(f"/api/rooms/{room}")).status == 204
    for client in inside[1:]:
        if client is not leaver:
            assert await client.next("room-closed") == {"roomId": room}
    assert socket_room(server, room) == set() and socket_room(server, elsewhere) == set()
