"""A newcomer's first run: the server says where to open it, and in development both loopback
spellings of that address work (sign-in, cookies, the socket), while other origins and
production stay strict."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from api.app import create_app
from api.settings import Settings
from tests.client import PASSWORD, ApiClient
from tests.conftest import APP_ORIGIN, RunningServer, start_server
from tests.mailbox import Mailbox
from tests.test_server_process import free_port, read_until, wait_until_healthy

LOOPBACK_PORT = APP_ORIGIN.rsplit(":", 1)[1]  # the test settings' APP_ORIGIN is localhost
OTHER_SPELLING = f"http://127.0.0.1:{LOOPBACK_PORT}"


async def test_the_server_prints_the_address_to_open(tmp_path: Path) -> None:
    """Run as `make run` does (`gethory`, no APP_ORIGIN), on a port of its own."""
    port = free_port()
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SMTP_", "DATABASE_", "APP_ORIGIN", "GETHORY_ENV"))
    }
    environ |= {"PORT": str(port), "DATA_DIR": str(tmp_path / "data")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "api",
        cwd=tmp_path, env=environ,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        lines = await read_until(process, b"open http")
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
            await wait_until_healthy(session, process)
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.communicate(), 30)
    announced = lines[-1].decode()
    assert f"open http://localhost:{port} " in announced, announced
    assert f"http://127.0.0.1:{port}" in announced, "the other spelling works too: say so"


async def sign_in_from(origin: str, client: ApiClient, email: str) -> aiohttp.ClientResponse:
    async with client.session.post(
        "/api/auth/login", json={"email": email, "password": PASSWORD}, headers={"Origin": origin}
    ) as response:
        await response.read()
        return response


@pytest.fixture
async def verified(new_client: Callable[[], ApiClient], mailbox: Mailbox) -> tuple[ApiClient, str]:
    client = new_client()
    email = await client.register_verified(mailbox, "Newcomer")
    return client, email


async def test_both_loopback_spellings_sign_in_in_development(
    verified: tuple[ApiClient, str],
) -> None:
    client, email = verified
    for origin in (OTHER_SPELLING, APP_ORIGIN):
        response = await sign_in_from(origin, client, email)
        assert response.status == 200, origin
        assert client.cookie("gethory_access"), "the session cookie is set"
        me = await client.get("/api/users/me")
        assert me.status == 200
        # A state-changing request from the other spelling, with its cookie, works too.
        room = await client.post(
            "/api/rooms",
            {"topic": "First run", "visibility": "public", "media": "mesh"},
            headers={"Origin": origin},
        )
        assert room.status == 201, room.body


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9",  # loopback, but another port: another site
        "http://evil.example",
        "https://localhost:8000",
        "http://[::2]:8000",
        "null",
    ],
)
async def test_other_origins_are_still_refused(
    verified: tuple[ApiClient, str], origin: str
) -> None:
    client, email = verified
    response = await sign_in_from(origin, client, email)
    assert response.status == 403


@pytest.fixture
async def production_server(settings: Settings) -> AsyncIterator[RunningServer]:
    running = await start_server(create_app(replace(settings, environment="production")))
    yield running
    await running.runner.cleanup()


async def test_production_accepts_only_app_origin(production_server: RunningServer) -> None:
    async with aiohttp.ClientSession(base_url=production_server.base_url) as session:
        for origin, allowed in ((OTHER_SPELLING, False), (APP_ORIGIN, True)):
            body = {"email": "nobody@example.com", "password": PASSWORD}
            async with session.post(
                "/api/auth/login", json=body, headers={"Origin": origin}
            ) as response:
                answer = await response.json()
            code = answer["error"]["code"]
            assert (code != "origin_not_allowed") == allowed, (origin, code)


async def socket_handshake(base_url: str, origin: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{base_url}/socket.io/?EIO=4&transport=polling", headers={"Origin": origin}
        ) as response,
    ):
        return response.status


async def test_the_socket_accepts_both_spellings_in_development(server: RunningServer) -> None:
    assert await socket_handshake(server.base_url, OTHER_SPELLING) == 200
    assert await socket_handshake(server.base_url, APP_ORIGIN) == 200
    assert await socket_handshake(server.base_url, "http://evil.example") == 400
