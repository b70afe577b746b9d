"""The account journeys a user goes through, end to end over HTTP, SMTP and MongoDB."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from api.auth.cookies import ACCESS_COOKIE, REFRESH_COOKIE
from tests.client import PASSWORD, ApiClient
from tests.mailbox import Mailbox, link_in, token_in

# `_id` and `avatar`: aliases for clients written for the original Gethory (protocol.md).
ME_FIELDS = {"id", "_id", "email", "emailVerified", "name", "username", "bio", "avatarUrl"}
ME_FIELDS |= {"avatar", "createdAt"}


async def test_register_verify_login_refresh_logout(client: ApiClient, mailbox: Mailbox) -> None:
    reply = await client.post(
        "/api/auth/register",
        {"email": "  Ann.Lee@Example.COM ", "password": PASSWORD, "name": "Ann Lee"},
    )
    assert reply.status == 202
    message = await mailbox.next_for("ann.lee@example.com")
    assert message["Subject"] == "Verify your email for Gethory"
    assert link_in(message).startswith("http://localhost:8000/verify-email?token=")

    reply = await client.post(
        "/api/auth/login", {"email": "ann.lee@example.com", "password": PASSWORD}
    )
    assert (reply.status, reply.error_code) == (403, "email_not_verified")

    reply = await client.post("/api/auth/verify-email", {"token": token_in(message)})
    assert reply.status == 200 and reply.body == {"verified": True}

    reply = await client.post(
        "/api/auth/login", {"email": "ANN.LEE@example.com", "password": PASSWORD}
    )
    assert reply.status == 200
    assert set(reply.body["user"]) == ME_FIELDS
    assert reply.body["user"]["email"] == "ann.lee@example.com"
    set_cookies = reply.headers.getall("Set-Cookie")
    assert any(
        c.startswith(ACCESS_COOKIE) and "HttpOnly" in c and "SameSite=Lax" in c for c in set_cookies
    )
    assert any(c.startswith(REFRESH_COOKIE) and "Path=/api/auth" in c for c in set_cookies)

    me = await client.get("/api/users/me")
    assert me.status == 200 and me.body["emailVerified"] is True and set(me.body) == ME_FIELDS

    old_refresh = client.cookie(REFRESH_COOKIE)
    reply = await client.post("/api/auth/refresh")
    assert reply.status == 200
    assert client.cookie(REFRESH_COOKIE) not in (None, old_refresh)
    assert (await client.get("/api/users/me")).status == 200

    reply = await client.post("/api/auth/logout")
    assert reply.status == 204
    assert client.cookie(ACCESS_COOKIE) is None
    reply = await client.get("/api/users/me")
    assert (reply.status, reply.error_code) == (401, "not_authenticated")


async def test_logout_kills_the_access_token_at_once(client: ApiClient, mailbox: Mailbox) -> None:
    email = await client.register_verified(mailbox)
    access_token = (await client.login(email)).body["accessToken"]
    bearer = {"Authorization": f"Bearer {access_token}"}
    assert (await client.get("/api/users/me", headers=bearer)).status == 200
    assert (await client.post("/api/auth/logout")).status == 204
    reply = await client.get("/api/users/me", headers=bearer)
    assert (reply.status, reply.error_code) == (401, "session_expired")


async def test_reused_refresh_token_revokes_the_session(
    new_client: Callable[[], ApiClient], mailbox: Mailbox
) -> None:
    client, thief = new_client(), new_client()
    email = await client.register_verified(mailbox)
    access_token = (await client.login(email)).body["accessToken"]
    stolen = client.cookie(REFRESH_COOKIE)
    assert stolen is not None
    assert (await client.post("/api/auth/refresh")).status == 200

    reply = await thief.post("/api/auth/refresh", cookies={REFRESH_COOKIE: stolen})
    assert (reply.status, reply.error_code) == (401, "refresh_token_reused")

    # The legitimate holder's newest tokens die with the session too.
    reply = await client.post("/api/auth/refresh")
    assert (reply.status, reply.error_code) == (401, "session_expired")
    reply = await client.get("/api/users/me", headers={"Authorization": f"Bearer {access_token}"})
    assert (reply.status, reply.error_code) == (401, "session_expired")


async def test_forgot_and_reset_password(
    new_client: Callable[[], ApiClient], mailbox: Mailbox
) -> None:
    laptop, phone = new_client(), new_client()
    email = await laptop.register_verified(mailbox)
    await laptop.login(email)
    await phone.login(email)

    reply = await phone.post("/api/auth/forgot-password", {"email": email})
    assert reply.status == 202
    message = await mailbox.next_for(email)
    assert link_in(message).startswith("http://localhost:8000/reset-password?token=")
    token = token_in(message)

    reply = await phone.post(
        "/api/auth/reset-password", {"token": token, "password": "a new long password"}
    )
    assert reply.status == 204
    for device in (laptop, phone):
        reply = await device.get("/api/users/me")
        assert (reply.status, reply.error_code) == (401, "session_expired")

    reply = await phone.post("/api/auth/login", {"email": email, "password": PASSWORD})
    assert (reply.status, reply.error_code) == (401, "invalid_credentials")
    await phone.login(email, "a new long password")

    reply = await phone.post(
        "/api/auth/reset-password", {"token": token, "password": "yet another password"}
    )
    assert (reply.status, reply.error_code) == (400, "invalid_token")


async def test_sessions_listed_and_revoked_from_another_session(
    new_client: Callable[[], ApiClient], mailbox: Mailbox
) -> None:
    laptop, phone = new_client(), new_client()
    email = await laptop.register_verified(mailbox)
    await laptop.login(email)
    phone_session = (await phone.login(email, headers={"User-Agent": "PhoneBrowser/1.0"})).body[
        "sessionId"
    ]

    listing = await laptop.get("/api/auth/sessions")
    assert listing.status == 200
    sessions = {s["id"]: s for s in listing.body["sessions"]}
    assert len(sessions) == 2
    assert sessions[phone_session]["current"] is False
    assert sessions[phone_session]["userAgent"] == "PhoneBrowser/1.0"
    assert sum(s["current"] for s in sessions.values()) == 1
    assert all("refreshHash" not in s and "refresh_hash" not in s for s in sessions.values())

    assert (await laptop.delete(f"/api/auth/sessions/{phone_session}")).status == 204
    reply = await phone.get("/api/users/me")
    assert (reply.status, reply.error_code) == (401, "session_expired")
    assert (await laptop.get("/api/users/me")).status == 200
    assert (await laptop.delete(f"/api/auth/sessions/{phone_session}")).status == 404


async def test_sign_out_everywhere_else(
    new_client: Callable[[], ApiClient], mailbox: Mailbox
) -> None:
    devices = [new_client() for _ in range(3)]
    email = await devices[0].register_verified(mailbox)
    for device in devices:
        await device.login(email)
    reply = await devices[0].delete("/api/auth/sessions")
    assert reply.status == 200 and reply.body == {"revoked": 2}
    assert [(await d.get("/api/users/me")).status for d in devices] == [200, 401, 401]


async def test_nobody_can_revoke_another_users_session(
    new_client: Callable[[], ApiClient], mailbox: Mailbox
) -> None:
    ann, bob = new_client(), new_client()
    await ann.signed_up(mailbox, "Ann")
    await bob.signed_up(mailbox, "Bob")
    bob_session = (await bob.get("/api/auth/sessions")).body["sessions"][0]["id"]
    assert (await ann.delete(f"/api/auth/sessions/{bob_session}")).status == 404
    assert (await bob.get("/api/users/me")).status == 200


async def test_resend_verification_voids_the_previous_link(
    client: ApiClient, mailbox: Mailbox
) -> None:
    email = "late@example.com"
    await client.post("/api/auth/register", {"email": email, "password": PASSWORD, "name": "Late"})
    first = token_in(await mailbox.next_for(email))
    assert (await client.post("/api/auth/resend-verification", {"email": email})).status == 202
    second = token_in(await mailbox.next_for(email))
    assert first != second
    reply = await client.post("/api/auth/verify-email", {"token": first})
    assert (reply.status, reply.error_code) == (400, "invalid_token")
    assert (await client.post("/api/auth/verify-email", {"token": second})).status == 200
    reply = await client.post("/api/auth/verify-email", {"token": second})
    assert (reply.status, reply.error_code) == (400, "invalid_token")
    await client.login(email)


async def test_logout_with_only_the_refresh_cookie_ends_the_session(
    new_client: Callable[[], ApiClient], mailbox: Mailbox
) -> None:
    browser, elsewhere = new_client(), new_client()
    email = await browser.register_verified(mailbox)
    access_token = (await browser.login(email)).body["accessToken"]
    refresh = browser.cookie(REFRESH_COOKIE)
    assert refresh is not None
    # As after the access token lapsed: only the refresh cookie names the session.
    reply = await elsewhere.post("/api/auth/logout", cookies={REFRESH_COOKIE: refresh})
    assert reply.status == 204
    reply = await browser.get("/api/users/me", headers={"Authorization": f"Bearer {access_token}"})
    assert (reply.status, reply.error_code) == (401, "session_expired")


async def test_an_invite_rides_in_the_verification_link_and_nothing_else_does(
    client: ApiClient, mailbox: Mailbox
) -> None:
    """A sign-up that started from an invite gets it back in its email link (opened in
    another tab or device, the app still lands in the room); only an invite path is taken."""
    invite = "/invite/" + "A1b2_C3d4-E5f6G7h8"
    email = "invited@example.com"
    body = {"email": email, "password": PASSWORD, "name": "Invited", "next": invite}
    assert (await client.post("/api/auth/register", body)).status == 202
    link = urlsplit(link_in(await mailbox.next_for(email)))
    assert parse_qs(link.query)["next"] == [invite]
    resend = {"email": email, "next": invite}
    assert (await client.post("/api/auth/resend-verification", resend)).status == 202
    assert parse_qs(urlsplit(link_in(await mailbox.next_for(email))).query)["next"] == [invite]
    # Without one, the link carries none.
    assert (await client.post("/api/auth/resend-verification", {"email": email})).status == 202
    assert "next" not in parse_qs(urlsplit(link_in(await mailbox.next_for(email))).query)

    for elsewhere in ("https://evil.example/invite/x", "//evil.example/x", "/rooms", "/invite/"):
        refused = await client.post("/api/auth/register", {**body, "next": elsewhere})
        assert (refused.status, refused.error_code) == (422, "validation_failed"), elsewhere
