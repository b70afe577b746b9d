"""The app image, built from a clean checkout, run as an operator would: production mode,
non-root, its own HEALTHCHECK, a Mongo-wire server and an SMTP server on 127.0.0.1, and
real clients: an account flow over HTTP and an SFU call between two aiortc bots."""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from sfu.config import RtcConfig
from tests.client import ApiClient
from tests.docker.conftest import BuiltImage
from tests.docker.containers import free_port, wait_until_healthy
from tests.docker.engine import DockerEngine, EngineError
from tests.mailbox import Mailbox
from tests.people import Person, sign_up
from tests.production import production_settings
from tests.sfu_client import SfuClient
from tests.test_sfu import enter

pytestmark = pytest.mark.timeout(1800)


@dataclass
class RunningContainer:
    name: str
    base_url: str


@pytest.fixture(scope="module")
async def container(
    engine: DockerEngine, app_image: BuiltImage, mongo_url: str, mailbox: Mailbox
) -> AsyncIterator[RunningContainer]:
    """The image in production mode on a free loopback port (host network)."""
    port = free_port()
    name = f"gethory-test-app-{secrets.token_hex(4)}"
    database_url = f"{mongo_url}/docker_{secrets.token_hex(6)}"
    origin = f"http://localhost:{port}"
    environment = {
        **production_settings(port, origin, database_url, mailbox),
        # All media through one UDP port, as in the Compose deployment.
        "RTC_UDP_PORT": str(free_port(socket.SOCK_DGRAM)),
    }
    options = [item for key, value in environment.items() for item in ("--env", f"{key}={value}")]
    await engine.adocker(
        "run", "--detach", "--name", name, "--network", "host",
        # The image's own check, run every second instead of every 10 s to keep the test short.
        "--health-interval", "1s",
        *options, app_image.tag,
    )  # fmt: skip
    try:
        yield RunningContainer(name, f"http://127.0.0.1:{port}")
    finally:
        await engine.adocker("rm", "--force", name)


async def test_the_image_runs_as_non_root_without_build_tools(
    engine: DockerEngine, app_image: BuiltImage
) -> None:
    user = await engine.adocker("image", "inspect", "--format", "{{.Config.User}}", app_image.tag)
    assert user.strip() not in ("", "0", "root", "0:0"), user
    inside = await engine.adocker(
        "run", "--rm", "--network", "none", "--entrypoint", "sh", app_image.tag, "-c",
        "id -u; for tool in gcc cc npm node git; do command -v $tool || true; done;"
        " ls /opt/venv/lib/python3.11/site-packages/web/dist",
    )  # fmt: skip
    lines = inside.split()
    assert lines[0] != "0", f"runs as root: {inside}"
    assert "index.html" in lines and not any(line.startswith("/") for line in lines), inside
    print(
        f"\nimage {app_image.tag}: {app_image.size_bytes / 1e6:.0f} MB, built in "
        f"{app_image.build_seconds:.0f} s (base images {app_image.base_images_seconds:.0f} s)"
    )


async def test_healthcheck_passes_and_serves_probes_and_the_client(
    engine: DockerEngine, container: RunningContainer
) -> None:
    await wait_until_healthy(engine, container.name)
    async with aiohttp.ClientSession(base_url=container.base_url) as session:
        async with session.get("/readyz") as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["status"] == "ok"
        async with session.get("/") as response:
            assert response.status == 200 and '<div id="root"' in await response.text()


async def people(
    container: RunningContainer, mailbox: Mailbox, names: list[str]
) -> tuple[list[Person], list[aiohttp.ClientSession]]:
    sessions: list[aiohttp.ClientSession] = []

    def new_client() -> ApiClient:
        # A browser's jar; the Secure refresh cookie stays unsent over http, as in a browser.
        session = aiohttp.ClientSession(base_url=container.base_url)
        sessions.append(session)
        return ApiClient(session)

    made = [await sign_up(name, new_client, mailbox, container.base_url) for name in names]
    for someone in made:
        # Production cookies are Secure and stay unsent over plain http (the browser rule
        # aiohttp's jar follows too): authenticate the way API clients do, with the token.
        someone.http.session.headers["Authorization"] = f"Bearer {someone.access_token}"
    return made, sessions


async def test_account_flow_and_an_sfu_call_work_against_the_container(
    engine: DockerEngine,
    container: RunningContainer,
    mailbox: Mailbox,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
) -> None:
    await wait_until_healthy(engine, container.name)
    # register -> verification email over SMTP -> verify link -> login, in production mode.
    (speaker, listener), sessions = await people(container, mailbox, ["Speaker", "Listener"])
    try:
        me = await speaker.http.get("/api/users/me")
        assert me.status == 200 and me.body["id"] == speaker.user_id, me.body
        room = await speaker.create_room(media="sfu")
        await enter(speaker, room, loopback_only, sfu_clients, frequency=523.0)
        hearing = await enter(listener, room, loopback_only, sfu_clients)
        await hearing.wait_for_slot(0, 523.0)
    finally:
        await speaker.close()
        await listener.close()
        for session in sessions:
            await session.close()


def test_the_image_refuses_to_start_without_its_secrets(
    app_image: BuiltImage, engine: DockerEngine
) -> None:
    """Production is the image's default, and it carries no secrets: without them it exits
    with a clear message instead of running insecurely."""
    with pytest.raises(EngineError, match="refusing to start in production: missing"):
        engine.docker("run", "--rm", "--network", "none", app_image.tag)
