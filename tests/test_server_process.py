"""`python -m api` as an operator runs it: embedded database, outbox email, clean shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from email import message_from_bytes, policy
from pathlib import Path

import aiohttp

from tests.client import PASSWORD
from tests.mailbox import token_in


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def wait_until_healthy(
    session: aiohttp.ClientSession, process: asyncio.subprocess.Process
) -> None:
    for _ in range(300):
        assert process.returncode is None, "the server exited during start-up"
        try:
            async with session.get("/api/health") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        # Polling: a separate process gives no other readiness signal.
        await asyncio.sleep(0.05)
    raise AssertionError("the server did not become healthy")


async def read_until(process: asyncio.subprocess.Process, marker: bytes) -> list[bytes]:
    """The process's output lines up to and including the first one containing `marker`."""
    assert process.stdout is not None
    lines: list[bytes] = []
    while not lines or marker not in lines[-1]:
        line = await asyncio.wait_for(process.stdout.readline(), 10)
        assert line, "the server exited before logging the email"
        lines.append(line)
    return lines


async def test_development_server_runs_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "DATABASE_"))}
    environ |= {"PORT": str(port), "DATA_DIR": str(tmp_path / "data"), "GETHORY_ENV": "development"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "api",
        cwd=tmp_path, env=environ,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    seen: list[bytes] = []
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
            await wait_until_healthy(session, process)
            body = {"email": "dev@example.com", "password": PASSWORD, "name": "Dev"}
            async with session.post("/api/auth/register", json=body) as response:
                assert response.status == 202
            # The mailer logs each email once it is in the outbox: await that line.
            seen = await read_until(process, b"verify-email?token=")
            outbox = tmp_path / "data" / "outbox"
            message = message_from_bytes((outbox / "00001.eml").read_bytes(), policy=policy.default)
            async with session.post(
                "/api/auth/verify-email", json={"token": token_in(message)}
            ) as response:
                assert response.status == 200
            async with session.get("/") as response:
                assert response.status == 200 and "Gethory" in await response.text()
        embedded_pid = int((tmp_path / "data" / "mongo" / "server.pid").read_text())
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = await asyncio.wait_for(process.communicate(), 30)
    log = (b"".join(seen) + output).decode()
    assert process.returncode == 0, log
    assert "verify-email?token=" in log, "development logs the link of each email"
    assert PASSWORD not in log and "$argon2" not in log
    assert not Path(f"/proc/{embedded_pid}").exists(), "the embedded database stopped with it"
