"""The Compose stack runs: docker-compose.yml plus deploy/compose.test.yml (host networking on
loopback, Debian's coturn and a Mongo-wire server standing in for the official images) starts
mongo and coturn healthy, then the app healthy; /readyz answers 200 and a sign-up works."""

from __future__ import annotations

import secrets
import shutil
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (via schemathesis), no stubs

from tests.client import ApiClient
from tests.docker.conftest import COTURN_IMAGE, BuiltImage
from tests.docker.containers import free_port, state, wait_until_healthy
from tests.docker.engine import DockerEngine
from tests.mailbox import Mailbox

pytestmark = pytest.mark.timeout(1800)
RESOLVED = "compose.resolved.yml"
KILL_AFTER_SECONDS = 40


@dataclass
class Stack:
    project: str
    directory: Path
    base_url: str
    turn_port: int


def env_for_test(example: str, values: dict[str, str]) -> str:
    """.env.example with `values` in place of its own: every other line kept as shipped."""
    lines = []
    for line in example.splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={values.pop(name)}" if name in values else line)
    return "\n".join([*lines, *(f"{k}={v}" for k, v in values.items())]) + "\n"


def compose(stack_dir: Path, project: str, *files: str) -> list[str]:
    chosen = files or (RESOLVED,)
    return [
        "docker-compose", "--project-name", project, "--project-directory", str(stack_dir),
        *(item for name in chosen for item in ("-f", str(stack_dir / name))),
    ]  # fmt: skip


async def resolve(engine: DockerEngine, stack_dir: Path) -> None:
    """docker-compose.yml + deploy/compose.test.yml, merged by Compose, into RESOLVED, minus
    `ports:` of the host-network services: Compose 1.29 has no `!reset` to drop them in the
    override, and Docker refuses published ports with host networking (they would be
    meaningless: the services bind the host's ports themselves)."""
    merged = await engine.arun(
        *compose(stack_dir, "resolve", "docker-compose.yml", "deploy/compose.test.yml"), "config"
    )
    config: dict[str, Any] = yaml.safe_load(merged)
    for service in config["services"].values():
        if service.get("network_mode") == "host":
            service.pop("ports", None)
    (stack_dir / RESOLVED).write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="module")
async def stack(
    engine: DockerEngine,
    app_image: BuiltImage,
    mailbox: Mailbox,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    directory = tmp_path_factory.mktemp("stack") / "gethory"
    shutil.copytree(app_image.checkout, directory)
    port, mongo_port, turn_port = free_port(), free_port(), free_port(socket.SOCK_DGRAM)
    turn_secret = secrets.token_urlsafe(32)
    mongo_password = secrets.token_urlsafe(16)
    (directory / ".env").write_text(
        env_for_test(
            (directory / ".env.example").read_text(),
            {
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "APP_ORIGIN": f"http://localhost:{port}",
                "DATABASE_URL": f"mongodb://127.0.0.1:{mongo_port}/gethory",
                "JWT_ACCESS_SECRET": secrets.token_urlsafe(32),
                "JWT_REFRESH_SECRET": secrets.token_urlsafe(32),
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(mailbox.port),
                "SMTP_USERNAME": "",
                "SMTP_PASSWORD": "",
                "SMTP_TLS": "none",
                "RTC_UDP_PORT": str(free_port(socket.SOCK_DGRAM)),
                "RTC_ANNOUNCED_ADDRESS": "",
                "RTC_HOST_ADDRESSES": "127.0.0.1",
                "TURN_URLS": f"turn:127.0.0.1:{turn_port}?transport=udp",
                "TURN_SECRET": turn_secret,
                "TURN_PORT": str(turn_port),
                "TURN_LISTENING_IP": "127.0.0.1",
                "MONGO_ROOT_PASSWORD": mongo_password,
                "DOMAIN": "",
                "APP_IMAGE": app_image.tag,
                "COTURN_IMAGE": COTURN_IMAGE,
                "MONGO_PORT": str(mongo_port),
            },
        )
    )
    project = f"gethorytest{secrets.token_hex(4)}"
    await resolve(engine, directory)
    command = compose(directory, project)
    try:
        await engine.arun(*command, "up", "--detach", "--no-build", timeout=300)
        yield Stack(project, directory, f"http://127.0.0.1:{port}", turn_port)
    finally:
        await engine.arun(*command, "down", "--volumes", "--timeout", "40", timeout=300)


async def test_the_stack_starts_healthy_and_signs_people_up(
    engine: DockerEngine, stack: Stack, mailbox: Mailbox
) -> None:
    command = compose(stack.directory, stack.project)
    for service in ("mongo", "coturn", "app"):
        container = (await engine.arun(*command, "ps", "--quiet", service)).strip()
        assert container, f"no {service} container"
        await wait_until_healthy(engine, container)
    async with aiohttp.ClientSession(base_url=stack.base_url) as session:
        async with session.get("/readyz") as response:
            assert response.status == 200, await response.text()
        client = ApiClient(session)
        email = await client.register_verified(mailbox, "Composed")
        signed_in = await client.login(email)
        assert signed_in.body["user"]["email"] == email
    # coturn answers STUN on its loopback port (what its healthcheck checks, from outside).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(5)
        # RFC 5389 Binding Request: type 0x0001, length 0, magic cookie, transaction id.
        request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + secrets.token_bytes(12)
        probe.sendto(request, ("127.0.0.1", stack.turn_port))
        answer, _ = probe.recvfrom(2048)
        assert answer[:2] == b"\x01\x01" and answer[8:20] == request[8:20]


async def test_the_stack_stops_promptly_and_the_app_exits_cleanly(
    engine: DockerEngine, stack: Stack
) -> None:
    """`docker compose stop` (what an upgrade does) ends every service on its signal, well
    before Compose's kill timeout, and the app exits 0 (no room is open, so no drain wait)."""
    command = compose(stack.directory, stack.project)
    app = (await engine.arun(*command, "ps", "--quiet", "app")).strip()
    started = time.monotonic()
    await engine.arun(*command, "stop", "--timeout", str(KILL_AFTER_SECONDS), timeout=300)
    took = time.monotonic() - started
    assert took < KILL_AFTER_SECONDS / 2, (
        f"stopping took {took:.1f} s: something waited for the kill"
    )
    assert (await state(engine, app))["ExitCode"] == 0
