"""Real parts for every test: a MongoDB-wire server, an SMTP server and the app on a free port."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from api.app import create_app
from api.settings import Settings, SmtpSettings
from api.store.embedded import EmbeddedMongo
from sfu.aiortc_hooks import use_announced_address, use_host_addresses
from sfu.config import RtcConfig, SfuConfig
from tests.client import ApiClient
from tests.mailbox import Mailbox
from tests.mesh_peer import MeshPeer
from tests.people import Person, sign_up
from tests.sfu_client import SfuClient

APP_ORIGIN = "http://localhost:8000"


@pytest.fixture(scope="session")
async def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    external = os.environ.get("GETHORY_TEST_MONGO_URL")
    if external:
        yield external.rstrip("/")
        return
    server = EmbeddedMongo(tmp_path_factory.mktemp("mongo"))
    await server.start()
    yield server.url
    await server.stop()


@pytest.fixture(scope="session")
async def mailbox() -> AsyncIterator[Mailbox]:
    box = Mailbox()
    await box.start()
    yield box
    await box.stop()


@pytest.fixture
def settings(mongo_url: str, mailbox: Mailbox, tmp_path: Path) -> Settings:
    """Development settings on a database of this test's own."""
    return Settings(
        environment="development",
        host="127.0.0.1",
        port=0,
        app_origin=APP_ORIGIN,
        data_dir=tmp_path / "data",
        database_url=f"{mongo_url}/test_{secrets.token_hex(6)}",
        jwt_access_secret=secrets.token_urlsafe(32),
        jwt_refresh_secret=secrets.token_urlsafe(32),
        smtp=SmtpSettings(
            host="127.0.0.1",
            port=mailbox.port,
            username=None,
            password=None,
            sender="Gethory <no-reply@gethory.test>",
            tls="none",
        ),
        mail_from="Gethory <no-reply@gethory.test>",
        # WebRTC stays on loopback, exactly as an operator would configure a one-machine setup.
        sfu=SfuConfig(rtc=RtcConfig(host_addresses=("127.0.0.1",))),
    )


class RunningServer:
    def __init__(self, app: web.Application, runner: web.AppRunner, base_url: str) -> None:
        self.app = app
        self.runner = runner
        self.base_url = base_url


async def start_server(app: web.Application) -> RunningServer:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return RunningServer(app, runner, f"http://127.0.0.1:{port}")


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    running = await start_server(create_app(settings))
    yield running
    await running.runner.cleanup()


@pytest.fixture
async def new_client(server: RunningServer) -> AsyncIterator[Callable[[], ApiClient]]:
    """Each call is a separate browser: its own cookie jar."""
    clients: list[ApiClient] = []

    def make() -> ApiClient:
        session = aiohttp.ClientSession(
            base_url=server.base_url, cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        client = ApiClient(session)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.session.close()


@pytest.fixture
async def client(new_client: Callable[[], ApiClient]) -> ApiClient:
    return new_client()


@pytest.fixture
def with_settings(settings: Settings) -> Callable[..., Settings]:
    def derive(**changes: Any) -> Settings:
        return replace(settings, **changes)

    return derive


@pytest.fixture
async def person(
    new_client: Callable[[], ApiClient], mailbox: Mailbox, server: RunningServer
) -> AsyncIterator[Callable[[str], Awaitable[Person]]]:
    """`await person("Ann")`: a verified, signed-in user who can open sockets."""
    people: list[Person] = []

    async def make(name: str) -> Person:
        someone = await sign_up(name, new_client, mailbox, server.base_url)
        people.append(someone)
        return someone

    yield make
    for someone in people:
        await someone.close()


@pytest.fixture
async def sfu_clients() -> AsyncIterator[list[SfuClient]]:
    """aiortc participants of sfu rooms a test opened; closed after it."""
    clients: list[SfuClient] = []
    yield clients
    for client in clients:
        await client.close()


@pytest.fixture
def loopback_only() -> Iterator[RtcConfig]:
    """WebRTC peers gather host candidates on 127.0.0.1 only, with no STUN server."""
    config = RtcConfig(host_addresses=("127.0.0.1",), ice_servers=())
    use_host_addresses(["127.0.0.1"])
    yield config
    use_host_addresses([])
    use_announced_address(None)


@pytest.fixture
async def mesh_peers() -> AsyncIterator[list[MeshPeer]]:
    """Mesh peers a test makes (append them); closed after the test."""
    peers: list[MeshPeer] = []
    yield peers
    for peer in peers:
        await peer.close()


# --- the two sockets of one forwarded copy (tests of sfu.rtp_batch) ---


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    """A listener's socket on 127.0.0.1 (reads time out after 2 s)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    yield sock
    sock.close()


@pytest.fixture
def sender() -> Iterator[socket.socket]:
    """The server side's socket (non-blocking, as aioice's are)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    yield sock
    sock.close()
