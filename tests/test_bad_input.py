"""Malformed requests get a clear 4xx in the one error shape, never a 500."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from api.app import create_app
from api.settings import Settings
from tests.client import PASSWORD, ApiClient
from tests.conftest import start_server
from tests.mailbox import Mailbox


async def test_malformed_json_is_400(client: ApiClient) -> None:
    reply = await client.post(
        "/api/auth/login", data=b'{"email": ', headers={"Content-Type": "application/json"}
    )
    assert (reply.status, reply.error_code) == (400, "invalid_json")


async def test_wrong_types_unknown_fields_and_bad_values_are_422_with_details(
    client: ApiClient,
) -> None:
    reply = await client.post(
        "/api/auth/register",
        {"email": ["a@b.c"], "password": 12345678901, "name": "", "admin": True},
    )
    assert (reply.status, reply.error_code) == (422, "validation_failed")
    fields = {item["field"]: item["code"] for item in reply.body["error"]["details"]}
    assert set(fields) == {"email", "password", "name", "admin"}
    assert fields["admin"] == "extra_forbidden"


async def test_password_length_is_bounded(client: ApiClient) -> None:
    for password in ("tiny pw", "x" * 129):
        body = {"email": "len@example.com", "password": password, "name": "Len"}
        reply = await client.post("/api/auth/register", body)
        assert (reply.status, reply.error_code) == (422, "validation_failed")
        assert reply.body["error"]["details"][0]["field"] == "password"
        assert password not in str(reply.body), "the password is not echoed back"


async def test_body_that_is_not_an_object_is_422(client: ApiClient) -> None:
    for raw in (b"[]", b'"text"', b"3", b"null"):
        reply = await client.post(
            "/api/auth/login", data=raw, headers={"Content-Type": "application/json"}
        )
        assert (reply.status, reply.error_code) == (422, "validation_failed"), raw
    reply = await client.post("/api/auth/login")
    assert (reply.status, reply.error_code) == (415, "unsupported_media_type")


async def test_huge_body_is_413(client: ApiClient) -> None:
    padding = "x" * (128 * 1024)
    reply = await client.post(
        "/api/auth/login", {"email": "a@example.com", "password": PASSWORD, "pad": padding}
    )
    assert (reply.status, reply.error_code) == (413, "payload_too_large")


async def test_non_json_content_type_is_415(client: ApiClient) -> None:
    reply = await client.post("/api/auth/login", data=b"email=a@b.c&password=x")
    assert (reply.status, reply.error_code) == (415, "unsupported_media_type")


async def test_unknown_routes_methods_and_ids(client: ApiClient) -> None:
    reply = await client.get("/api/does-not-exist")
    assert (reply.status, reply.error_code) == (404, "not_found")
    reply = await client.call("PUT", "/api/auth/login")
    assert (reply.status, reply.error_code) == (405, "method_not_allowed")


async def test_invalid_session_id_is_404(client: ApiClient, mailbox: Mailbox) -> None:
    await client.signed_up(mailbox)
    for bad in ("nope", "ses_", "ses_" + "x" * 200, "usr_AAAAAAAAAAAAAAAA"):
        reply = await client.delete(f"/api/auth/sessions/{bad}")
        assert (reply.status, reply.error_code) == (404, "not_found"), bad


async def test_unexpected_error_is_500_without_internals(settings: Settings) -> None:
    async def explode(request: web.Request) -> web.Response:
        raise RuntimeError("database password is hunter2")

    # A route added by the test, ahead of the catch-alls: the app's own middlewares answer it.
    app = create_app(settings)
    app.router.add_get("/api/explode", explode)
    app.router._resources.insert(0, app.router._resources.pop())
    running = await start_server(app)
    try:
        async with (
            aiohttp.ClientSession(base_url=running.base_url) as session,
            session.get("/api/explode") as response,
        ):
            body = await response.json()
            assert response.status == 500
            assert body["error"]["code"] == "internal_error"
            assert "hunter2" not in str(body)
            assert body["error"]["details"]["requestId"] == response.headers["X-Request-Id"]
    finally:
        await running.runner.cleanup()
