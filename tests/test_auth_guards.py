"""Each security guard of the auth API, shown to hold (each test fails without its guard)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import jwt
from pymongo import AsyncMongoClient

from api.settings import Settings
from tests.client import PASSWORD, ApiClient
from tests.mailbox import Mailbox, token_in


async def test_login_failure_does_not_reveal_whether_the_email_exists(
    client: ApiClient, mailbox: Mailbox
) -> None:
    email = await client.register_verified(mailbox)
    known = await client.post("/api/auth/login", {"email": email, "password": "wrong password!"})
    unknown = await client.post(
        "/api/auth/login", {"email": "nobody@example.com", "password": "wrong password!"}
    )
    assert known.status == unknown.status == 401
    assert known.body == unknown.body


async def test_forgot_password_answers_alike_for_known_and_unknown(
    client: ApiClient, mailbox: Mailbox
) -> None:
    email = await client.register_verified(mailbox)
    known = await client.post("/api/auth/forgot-password", {"email": email})
    unknown = await client.post("/api/auth/forgot-password", {"email": "ghost@example.com"})
    assert known.status == unknown.status == 202
    assert known.body == unknown.body
    await mailbox.next_for(email)
    assert mailbox.pending_for("ghost@example.com") == 0


async def test_signing_up_twice_reveals_nothing_and_changes_nothing(
    client: ApiClient, mailbox: Mailbox
) -> None:
    email = await client.register_verified(mailbox)
    again = await client.post(
        "/api/auth/register", {"email": email, "password": "attacker password", "name": "Eve"}
    )
    fresh = await client.post(
        "/api/auth/register",
        {"email": f"new-{secrets.token_hex(3)}@example.com", "password": PASSWORD, "name": "New"},
    )
    assert again.status == fresh.status == 202 and again.body == fresh.body
    notice = await mailbox.next_for(email)
    assert notice["Subject"] == "You already have a Gethory account"
    await client.login(email)  # the original password still works
    reply = await client.post("/api/auth/login", {"email": email, "password": "attacker password"})
    assert reply.status == 401


async def test_login_is_rate_limited_per_email(client: ApiClient, mailbox: Mailbox) -> None:
    email = await client.register_verified(mailbox)
    statuses = [
        (
            await client.post("/api/auth/login", {"email": email, "password": "wrong password"})
        ).status
        for _ in range(10)
    ]
    assert statuses == [401] * 10
    reply = await client.post("/api/auth/login", {"email": email, "password": PASSWORD})
    assert (reply.status, reply.error_code) == (429, "rate_limited")
    assert int(reply.headers["Retry-After"]) > 0
    # Another address from the same IP is still served.
    other = await client.post("/api/auth/login", {"email": "other@example.com", "password": "x"})
    assert other.status == 401


async def test_forgot_password_is_rate_limited_per_email(client: ApiClient) -> None:
    body = {"email": "target@example.com"}
    statuses = [(await client.post("/api/auth/forgot-password", body)).status for _ in range(4)]
    assert statuses == [202, 202, 202, 429]


async def test_register_and_resend_are_rate_limited_per_ip(client: ApiClient) -> None:
    statuses = []
    for n in range(11):
        body = {"email": f"bulk{n}@example.com", "password": PASSWORD, "name": "Bulk"}
        statuses.append((await client.post("/api/auth/register", body)).status)
    assert statuses == [202] * 10 + [429]
    resend = [
        (await client.post("/api/auth/resend-verification", {"email": "bulk0@example.com"})).status
        for _ in range(4)
    ]
    assert resend == [202, 202, 202, 429]


async def test_expired_email_token_is_refused(
    client: ApiClient, mailbox: Mailbox, settings: Settings
) -> None:
    email = await client.register_verified(mailbox)
    await client.post("/api/auth/forgot-password", {"email": email})
    token = token_in(await mailbox.next_for(email))
    assert settings.database_url is not None
    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(settings.database_url)
    tokens = mongo.get_default_database()["email_tokens"]
    record = await tokens.find_one({"purpose": "reset_password"})
    assert record is not None and token not in str(record), "tokens are stored hashed"
    record["expires_at"] = datetime.now(UTC) - timedelta(seconds=1)
    await tokens.replace_one({"_id": record["_id"]}, record)
    await mongo.close()

    reply = await client.post(
        "/api/auth/reset-password", {"token": token, "password": "brand new password"}
    )
    assert (reply.status, reply.error_code) == (410, "token_expired")
    await client.login(email)


async def test_expired_access_token_asks_for_a_refresh(
    client: ApiClient, mailbox: Mailbox, settings: Settings
) -> None:
    email = await client.register_verified(mailbox)
    issued = (await client.login(email)).body["accessToken"]
    claims = jwt.decode(issued, settings.jwt_access_secret, algorithms=["HS256"], issuer="gethory")
    claims["exp"] = int(datetime.now(UTC).timestamp()) - 5
    expired = jwt.encode(claims, settings.jwt_access_secret, "HS256")
    reply = await client.get("/api/users/me", headers={"Authorization": f"Bearer {expired}"})
    assert (reply.status, reply.error_code) == (401, "access_token_expired")


async def test_forged_and_misused_tokens_are_refused(
    client: ApiClient, mailbox: Mailbox, settings: Settings
) -> None:
    email = await client.register_verified(mailbox)
    issued = (await client.login(email)).body["accessToken"]
    claims = jwt.decode(issued, settings.jwt_access_secret, algorithms=["HS256"], issuer="gethory")
    forged = jwt.encode(claims, "not the server's secret at all, 32+ chars", "HS256")
    as_refresh = jwt.encode(claims | {"typ": "refresh"}, settings.jwt_access_secret, "HS256")
    for token in (forged, as_refresh, "garbage", issued + "x"):
        reply = await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
        assert (reply.status, reply.error_code) == (401, "invalid_token"), token
    refresh_cookie = {"gethory_refresh": issued}  # an access token is no refresh token
    reply = await client.post("/api/auth/refresh", cookies=refresh_cookie)
    assert (reply.status, reply.error_code) == (401, "invalid_token")


async def test_state_changes_from_another_origin_are_refused(
    client: ApiClient, mailbox: Mailbox
) -> None:
    email = await client.register_verified(mailbox)
    body = {"email": email, "password": PASSWORD}
    evil = await client.post("/api/auth/login", body, headers={"Origin": "https://evil.example"})
    assert (evil.status, evil.error_code) == (403, "origin_not_allowed")
    sneaky = await client.post("/api/auth/login", body, headers={"Sec-Fetch-Site": "cross-site"})
    assert (sneaky.status, sneaky.error_code) == (403, "origin_not_allowed")
    ours = await client.post("/api/auth/login", body, headers={"Origin": "http://localhost:8000"})
    assert ours.status == 200
    reading = await client.get("/api/users/me", headers={"Origin": "https://evil.example"})
    assert reading.status == 200
    logout = await client.post("/api/auth/logout", headers={"Origin": "https://evil.example"})
    assert logout.status == 403
    assert (await client.get("/api/users/me")).status == 200


async def test_no_secret_ever_appears_in_a_response(
    new_client: Callable[[], ApiClient], mailbox: Mailbox
) -> None:
    client = new_client()
    email = await client.register_verified(mailbox)
    replies = [
        await client.login(email),
        await client.get("/api/users/me"),
        await client.get("/api/auth/sessions"),
        await client.post("/api/auth/refresh"),
    ]
    for reply in replies:
        text = str(reply.body)
        assert "argon2" not in text and PASSWORD not in text
        assert "hash" not in text.lower()
