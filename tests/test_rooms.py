"""Rooms over REST: creation rules, listings, private-room secrecy, invites, owner powers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from api.services import SERVICES
from api.settings import Settings
from tests.client import ApiClient
from tests.conftest import RunningServer
from tests.mailbox import Mailbox
from tests.store_edits import age_room

SignedUp = Callable[[str], Awaitable[ApiClient]]


@pytest.fixture
def signed_up(new_client: Callable[[], ApiClient], mailbox: Mailbox) -> SignedUp:
    async def make(name: str) -> ApiClient:
        client = new_client()
        await client.signed_up(mailbox, name)
        return client

    return make


async def create_room(client: ApiClient, **fields: Any) -> dict[str, Any]:
    body = {"topic": "Late night jazz", "visibility": "public", "media": "sfu"} | fields
    reply = await client.post("/api/rooms", body)
    assert reply.status == 201, reply.body
    room: dict[str, Any] = reply.body
    return room


async def test_room_defaults_follow_the_media_mode(signed_up: SignedUp) -> None:
    ann = await signed_up("Ann")
    sfu = await create_room(ann)
    assert (sfu["media"], sfu["slots"], sfu["maxParticipants"]) == ("sfu", 3, 1000)
    assert sfu["role"] == "owner" and sfu["owner"]["name"] == "Ann"
    assert "email" not in sfu["owner"]
    assert (sfu["participantCount"], sfu["participants"]) == (0, [])
    mesh = await create_room(ann, media="mesh")
    assert (mesh["slots"], mesh["maxParticipants"]) == (None, 8)
    small = await create_room(ann, media="sfu", slots=8, maxParticipants=50)
    assert (small["slots"], small["maxParticipants"]) == (8, 50)
    audience = await create_room(ann, media="sfu", maxParticipants=5000)
    assert audience["maxParticipants"] == 5000


@pytest.mark.parametrize(
    "fields",
    [
        {"media": "mesh", "slots": 2},
        {"media": "mesh", "maxParticipants": 9},
        {"media": "sfu", "slots": 9},
        {"media": "sfu", "slots": 0},
        {"media": "sfu", "maxParticipants": 5001},
        {"media": "video"},
        {"visibility": "secret"},
        {"topic": ""},
        {"topic": "x" * 121},
        {"ownerId": "usr_AAAAAAAAAAAAAAAA"},
    ],
)
async def test_invalid_rooms_are_refused(signed_up: SignedUp, fields: dict[str, Any]) -> None:
    ann = await signed_up("Ann")
    body = {"topic": "Jazz", "visibility": "public", "media": "sfu"} | fields
    reply = await ann.post("/api/rooms", body)
    assert (reply.status, reply.error_code) == (422, "validation_failed")


async def test_rooms_need_a_signed_in_user(client: ApiClient) -> None:
    reply = await client.get("/api/rooms")
    assert (reply.status, reply.error_code) == (401, "not_authenticated")
    reply = await client.post("/api/rooms", {"topic": "x", "visibility": "public", "media": "sfu"})
    assert reply.status == 401


async def test_listing_pages_through_open_public_rooms_newest_first_when_all_are_empty(
    signed_up: SignedUp,
) -> None:
    ann, bob = await signed_up("Ann"), await signed_up("Bob")
    created = [(await create_room(ann, topic=f"Room {n}"))["id"] for n in range(5)]
    await create_room(ann, topic="Secret", visibility="private")
    closed = await create_room(ann, topic="Closed")
    assert (await ann.delete(f"/api/rooms/{closed['id']}")).status == 204

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await bob.get(f"/api/rooms?{query}")
        assert page.status == 200
        seen += [room["id"] for room in page.body["rooms"]]
        assert all(room["role"] == "visitor" for room in page.body["rooms"])
        cursor = page.body["nextCursor"]
        if cursor is None:
            break
    assert seen == created[::-1]


async def test_listing_rejects_bad_paging(signed_up: SignedUp) -> None:
    ann = await signed_up("Ann")
    for query in ("limit=0", "limit=51", "limit=ten", "cursor=not-a-cursor", "cursor=" + "A" * 300):
        reply = await ann.get(f"/api/rooms?{query}")
        assert (reply.status, reply.error_code) == (422, "validation_failed"), query


async def test_listing_shows_live_participants(signed_up: SignedUp, server: RunningServer) -> None:
    ann, bob = await signed_up("Ann"), await signed_up("Bob")
    room = await create_room(ann)
    bob_id = (await bob.get("/api/users/me")).body["id"]
    # Signaling reports presence through this interface (the mesh issue wires it up).
    server.app[SERVICES].presence.enter(room["id"], bob_id)
    listed = (await ann.get("/api/rooms")).body["rooms"][0]
    assert listed["participantCount"] == 1
    assert [p["name"] for p in listed["participants"]] == ["Bob"]
    # `_id` and `avatar`: the original Gethory client's names for `id` and `avatarUrl`.
    assert set(listed["participants"][0]) == {
        "id",
        "name",
        "username",
        "bio",
        "avatarUrl",
        "_id",
        "avatar",
    }


async def test_lobby_lists_busy_rooms_first_and_leaves_idle_ones_out(
    signed_up: SignedUp, server: RunningServer, settings: Settings
) -> None:
    ann, bob = await signed_up("Ann"), await signed_up("Bob")
    ids = {}
    for name in ("bob", "cat", "dan", "eve"):
        ids[name] = f"usr_{name.upper() * 4}{'A' * 12}"[:20]
    presence = server.app[SERVICES].presence
    idle = settings.room_idle_hide + timedelta(minutes=1)
    assert settings.room_idle_hide == timedelta(minutes=30), "the documented default"

    fresh = await create_room(ann, topic="Fresh and empty")
    lived_in = await create_room(ann, topic="Left a moment ago")
    one = await create_room(ann, topic="One person")
    two = await create_room(ann, topic="Two people")
    abandoned = await create_room(ann, topic="Abandoned")
    private = await create_room(ann, topic="Private and busy", visibility="private")
    for room in (lived_in, one, two, abandoned, private):
        await age_room(settings, room["id"], idle)
    presence.enter(two["id"], ids["bob"])
    presence.enter(two["id"], ids["cat"])
    presence.enter(one["id"], ids["dan"])
    presence.enter(private["id"], ids["eve"])
    # Someone was in it after "Fresh and empty" was created: more recently lived in.
    presence.enter(lived_in["id"], ids["eve"])
    presence.leave(lived_in["id"], ids["eve"])

    expected = [two["id"], one["id"], lived_in["id"], fresh["id"]]
    listed = (await bob.get("/api/rooms")).body["rooms"]
    assert [room["id"] for room in listed] == expected
    assert [room["participantCount"] for room in listed] == [2, 1, 0, 0]

    seen: list[str] = []
    cursor = None
    for _ in range(6):
        page = await bob.get("/api/rooms?limit=1" + (f"&cursor={cursor}" if cursor else ""))
        assert page.status == 200
        seen += [room["id"] for room in page.body["rooms"]]
        cursor = page.body["nextCursor"]
        if cursor is None:
            break
    assert seen == expected

    # Idle is not closed: the owner still has it, and its link still opens it.
    assert abandoned["id"] in [
        room["id"] for room in (await ann.get("/api/rooms/mine")).body["rooms"]
    ]
    assert (await bob.get(f"/api/rooms/{abandoned['id']}")).status == 200
    # Someone entering brings it back, at once.
    presence.enter(abandoned["id"], ids["bob"])
    listed = (await bob.get("/api/rooms")).body["rooms"]
    assert abandoned["id"] in [room["id"] for room in listed][:3]


async def test_a_private_room_is_invisible_to_strangers(signed_up: SignedUp) -> None:
    ann, eve = await signed_up("Ann"), await signed_up("Eve")
    room = await create_room(ann, visibility="private")
    reply = await eve.get(f"/api/rooms/{room['id']}")
    assert (reply.status, reply.error_code) == (404, "not_found")
    missing = await eve.get("/api/rooms/rm_AAAAAAAAAAAAAAAA")
    assert reply.body == missing.body, "a private room answers exactly like a missing one"
    assert room["id"] not in [r["id"] for r in (await eve.get("/api/rooms")).body["rooms"]]
    assert (await eve.get("/api/rooms/mine")).body["rooms"] == []
    for method, path, body in [
        ("PATCH", f"/api/rooms/{room['id']}", {"topic": "mine now"}),
        ("DELETE", f"/api/rooms/{room['id']}", None),
        ("POST", f"/api/rooms/{room['id']}/invites", {}),
        ("GET", f"/api/rooms/{room['id']}/invites", None),
    ]:
        reply = await eve.call(method, path, body)
        assert reply.status == 404, (method, path)
    assert (await ann.get(f"/api/rooms/{room['id']}")).body["role"] == "owner"


async def test_invite_makes_a_member(signed_up: SignedUp) -> None:
    ann, bob = await signed_up("Ann"), await signed_up("Bob")
    room = await create_room(ann, visibility="private", topic="Book club")
    invite = await ann.post(f"/api/rooms/{room['id']}/invites", {})
    assert invite.status == 201
    assert invite.body["url"] == f"http://localhost:8000/invite/{invite.body['token']}"
    assert invite.body["maxUses"] is None
    lifetime = datetime.fromisoformat(invite.body["expiresAt"]) - datetime.fromisoformat(
        invite.body["createdAt"]
    )
    assert lifetime == timedelta(days=7)

    accepted = await bob.post(f"/api/invites/{invite.body['token']}/accept")
    assert accepted.status == 200 and accepted.body["role"] == "member"
    assert (await bob.get(f"/api/rooms/{room['id']}")).body["topic"] == "Book club"
    assert [r["id"] for r in (await bob.get("/api/rooms/mine")).body["rooms"]] == [room["id"]]
    again = await bob.post(f"/api/invites/{invite.body['token']}/accept")
    assert again.status == 200
    listed = (await ann.get(f"/api/rooms/{room['id']}/invites")).body["invites"]
    assert [(i["id"], i["uses"]) for i in listed] == [(invite.body["id"], 1)]
    assert "token" not in listed[0] and "url" not in listed[0]


async def test_invite_exhaustion_expiry_and_revocation(
    signed_up: SignedUp, settings: Settings
) -> None:
    ann, bob, cat, dan = [await signed_up(n) for n in ("Ann", "Bob", "Cat", "Dan")]
    room = await create_room(ann, visibility="private")
    once = (await ann.post(f"/api/rooms/{room['id']}/invites", {"maxUses": 1})).body
    assert (await bob.post(f"/api/invites/{once['token']}/accept")).status == 200
    reply = await cat.post(f"/api/invites/{once['token']}/accept")
    assert (reply.status, reply.error_code) == (410, "invite_exhausted")
    assert (await bob.post(f"/api/invites/{once['token']}/accept")).status == 200

    short = (await ann.post(f"/api/rooms/{room['id']}/invites", {"expiresIn": 60})).body
    assert settings.database_url is not None
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.database_url)
    invites = mongo.get_default_database()["invites"]
    record = await invites.find_one({"_id": short["id"]})
    assert record is not None and short["token"] not in str(record), "tokens are stored hashed"
    record["expires_at"] = datetime.now(UTC) - timedelta(seconds=1)
    await invites.replace_one({"_id": record["_id"]}, record)
    await mongo.close()
    reply = await cat.post(f"/api/invites/{short['token']}/accept")
    assert (reply.status, reply.error_code) == (410, "invite_expired")

    revoked = (await ann.post(f"/api/rooms/{room['id']}/invites", {})).body
    assert (await ann.delete(f"/api/rooms/{room['id']}/invites/{revoked['id']}")).status == 204
    reply = await dan.post(f"/api/invites/{revoked['token']}/accept")
    assert (reply.status, reply.error_code) == (404, "not_found")
    assert (await dan.get(f"/api/rooms/{room['id']}")).status == 404
    reply = await dan.post("/api/invites/" + "x" * 500 + "/accept")
    assert reply.status == 404


@pytest.mark.parametrize(
    "fields", [{"expiresIn": 59}, {"expiresIn": 31 * 86400}, {"maxUses": 0}, {"uses": 5}]
)
async def test_invalid_invites_are_refused(signed_up: SignedUp, fields: dict[str, Any]) -> None:
    ann = await signed_up("Ann")
    room = await create_room(ann, visibility="private")
    reply = await ann.post(f"/api/rooms/{room['id']}/invites", fields)
    assert (reply.status, reply.error_code) == (422, "validation_failed")


async def test_only_the_owner_runs_the_room(signed_up: SignedUp) -> None:
    ann, bob = await signed_up("Ann"), await signed_up("Bob")
    room = await create_room(ann, visibility="private")
    token = (await ann.post(f"/api/rooms/{room['id']}/invites", {})).body["token"]
    await bob.post(f"/api/invites/{token}/accept")
    for method, path, body in [
        ("PATCH", f"/api/rooms/{room['id']}", {"topic": "hijacked"}),
        ("DELETE", f"/api/rooms/{room['id']}", None),
        ("POST", f"/api/rooms/{room['id']}/invites", {}),
        ("GET", f"/api/rooms/{room['id']}/invites", None),
    ]:
        reply = await bob.call(method, path, body)
        assert (reply.status, reply.error_code) == (403, "not_room_owner"), (method, path)
    patched = await ann.call("PATCH", f"/api/rooms/{room['id']}", {"topic": "New topic"})
    assert patched.status == 200 and patched.body["topic"] == "New topic"
    assert (await bob.get(f"/api/rooms/{room['id']}")).body["topic"] == "New topic"


async def test_members_are_removed_by_the_owner_or_leave_themselves(signed_up: SignedUp) -> None:
    ann, bob, cat = [await signed_up(n) for n in ("Ann", "Bob", "Cat")]
    room = await create_room(ann, visibility="private")
    token = (await ann.post(f"/api/rooms/{room['id']}/invites", {})).body["token"]
    ids = {}
    for name, client in (("bob", bob), ("cat", cat)):
        await client.post(f"/api/invites/{token}/accept")
        ids[name] = (await client.get("/api/users/me")).body["id"]
    members = f"/api/rooms/{room['id']}/members"
    reply = await bob.delete(f"{members}/{ids['cat']}")
    assert (reply.status, reply.error_code) == (403, "not_room_owner")
    assert (await ann.delete(f"{members}/{ids['cat']}")).status == 204
    assert (await cat.get(f"/api/rooms/{room['id']}")).status == 404
    assert (await bob.delete(f"{members}/{ids['bob']}")).status == 204
    assert (await bob.get(f"/api/rooms/{room['id']}")).status == 404
    assert (await ann.delete(f"{members}/{ids['bob']}")).status == 404


async def test_a_closed_room_is_gone(signed_up: SignedUp) -> None:
    ann, bob = await signed_up("Ann"), await signed_up("Bob")
    room = await create_room(ann)
    token = (await ann.post(f"/api/rooms/{room['id']}/invites", {})).body["token"]
    assert (await ann.delete(f"/api/rooms/{room['id']}")).status == 204
    for client in (ann, bob):
        reply = await client.get(f"/api/rooms/{room['id']}")
        assert (reply.status, reply.error_code) == (410, "room_closed")
    reply = await bob.post(f"/api/invites/{token}/accept")
    assert (reply.status, reply.error_code) == (410, "room_closed")
    assert (await ann.get("/api/rooms/mine")).body["rooms"] == []
    assert (await ann.call("PATCH", f"/api/rooms/{room['id']}", {"topic": "x"})).status == 410


async def test_invalid_room_ids_are_404(signed_up: SignedUp) -> None:
    ann = await signed_up("Ann")
    for bad in ("nope", "rm_", "rm_" + "A" * 40, "usr_AAAAAAAAAAAAAAAA", "%00"):
        reply = await ann.get(f"/api/rooms/{bad}")
        assert (reply.status, reply.error_code) == (404, "not_found"), bad
