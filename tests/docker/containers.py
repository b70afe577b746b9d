"""Waiting on containers' state through the engine (docker inspect), with a deadline."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

from tests.docker.engine import DockerEngine

HEALTH_TIMEOUT_SECONDS = 90.0


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def state(engine: DockerEngine, container: str) -> dict[str, Any]:
    """`docker inspect`'s .State of `container` (Status, Health.Status, ExitCode, ...)."""
    found: dict[str, Any] = json.loads(
        await engine.adocker("inspect", "--format", "{{json .State}}", container)
    )
    return found


async def wait_until_healthy(
    engine: DockerEngine, container: str, timeout: float = HEALTH_TIMEOUT_SECONDS
) -> None:
    """Return once the container's HEALTHCHECK reports healthy; AssertionError with its logs
    if it exits, turns unhealthy, or stays starting past `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        now = await state(engine, container)
        health = now.get("Health", {}).get("Status")
        if health == "healthy":
            return
        if now["Status"] != "running" or health == "unhealthy" or time.monotonic() > deadline:
            logs = await engine.adocker("logs", "--tail", "60", container)
            raise AssertionError(f"{container} is {now['Status']}/{health}:\n{logs}")
        # Polling: Docker's health state changes are not pushed to us.
        await asyncio.sleep(0.5)
