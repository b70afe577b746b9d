"""The embedded MongoDB-wire server (nx-27017) as a child process, for development and tests."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 5.0


class EmbeddedMongoError(Exception):
    """The embedded database could not be started."""


class EmbeddedMongo:
    """Runs `nx-27017` on a free loopback port with its data under `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = 0
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        log_file = self.data_dir / "server.log"
        self._process = await asyncio.create_subprocess_exec(
            _server_executable(),
            "--host", "127.0.0.1",
            "-p", str(self.port),
            "--data-dir", str(self.data_dir),
            "--log-file", str(log_file),
            "--pid-file", str(self.data_dir / "server.pid"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        await self._wait_until_listening()
        log.info("embedded MongoDB-wire server on %s (data in %s)", self.url, self.data_dir)

    async def _wait_until_listening(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        delay = 0.01
        while time.monotonic() < deadline:
            if self._process.returncode is not None:
                code = self._process.returncode
                raise EmbeddedMongoError(
                    f"nx-27017 exited with {code}; see {self.data_dir}/server.log"
                )
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                # Polling is the only readiness signal a child process gives us here.
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.2)
                continue
            writer.close()
            await writer.wait_closed()
            return
        await self.stop()
        raise EmbeddedMongoError(f"nx-27017 did not listen within {READY_TIMEOUT_SECONDS:.0f} s")

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()


def _server_executable() -> str:
    beside_python = Path(sys.executable).parent / "nx-27017"
    return str(beside_python) if beside_python.exists() else "nx-27017"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
