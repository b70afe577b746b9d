"""A real coturn (Debian's `/usr/bin/turnserver`) on loopback, for TURN tests.

It runs with the production authentication (`use-auth-secret`: coturn's REST API scheme, the
shared secret the app signs credentials with), but on 127.0.0.1 only: listening and relaying on
loopback, loopback peers allowed (the deployment's config denies them), no TLS/DTLS listeners,
no CLI, a bounded relay port range and its own user database and log, so nothing outside its
temporary directory is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import shutil
import socket
import time
from pathlib import Path
from typing import Literal

from aioice import stun

TURNSERVER = "/usr/bin/turnserver"
REALM = "gethory.test"
READY_SECONDS = 20.0  # coturn answers in ~0.05-0.2 s; generous for a loaded machine
STOP_SECONDS = 5.0
PROBE_SECONDS = 0.2
RELAY_PORTS = 200
# Relay ports below Linux's ephemeral range (32768-60999), where other sockets of the test run
# do not land.
RELAY_RANGE = (20000, 30000)
# The deployment's coturn settings (the Compose stack's): "production" peers start from them.
DEPLOYED_CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "coturn" / "turnserver.conf"


class CoturnError(Exception):
    """coturn did not start (the message ends with its log)."""


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


class Coturn:
    """One turnserver process. `start()` returns once it answers a STUN Binding request on its
    port; `stop()` ends it (SIGTERM, then SIGKILL after 5 s).

    peers: "loopback" relays to loopback peers (what calls on one machine need);
    "production" reads the deployment's deploy/coturn/turnserver.conf (its `denied-peer-ip`
    ranges refuse loopback and private peers), with this line's options added on top."""

    def __init__(
        self,
        directory: Path,
        secret: str | None = None,
        peers: Literal["loopback", "production"] = "loopback",
    ) -> None:
        self.directory = directory
        self.peers = peers
        self.secret = secret or secrets.token_urlsafe(32)
        self.port = free_port()
        low = random.randrange(RELAY_RANGE[0], RELAY_RANGE[1] - RELAY_PORTS)
        self.relay_ports = (low, low + RELAY_PORTS - 1)
        self.log = directory / "turnserver.log"
        self._process: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def urls(self) -> tuple[str, ...]:
        """TURN over UDP first (aiortc uses only the first TURN URL it can), then over TCP."""
        return (
            f"turn:127.0.0.1:{self.port}?transport=udp",
            f"turn:127.0.0.1:{self.port}?transport=tcp",
        )

    def command(self) -> list[str]:
        """The exact command line (the report and the deployment docs quote it)."""
        return [
            TURNSERVER,
            *self._config(),
            "--no-cli",
            "--listening-ip=127.0.0.1",
            f"--listening-port={self.port}",
            "--relay-ip=127.0.0.1",
            f"--min-port={self.relay_ports[0]}",
            f"--max-port={self.relay_ports[1]}",
            "--use-auth-secret",
            f"--static-auth-secret={self.secret}",
            f"--realm={REALM}",
            "--fingerprint",
            "--no-tls",
            "--no-dtls",
            "--no-multicast-peers",
            f"--userdb={self.directory / 'turndb'}",
            f"--pidfile={self.directory / 'turnserver.pid'}",
            f"--log-file={self.log}",
            "--simple-log",
            "--no-stdout-log",
        ]

    def _config(self) -> list[str]:
        if self.peers == "loopback":
            # No configuration file: everything is on this line.
            return ["-n", "--allow-loopback-peers"]
        return ["-c", str(DEPLOYED_CONFIG)]

    async def start(self) -> None:
        if shutil.which(TURNSERVER) is None:
            raise CoturnError(f"{TURNSERVER} is missing: apt-get install coturn")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            *self.command(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise

    async def _wait_ready(self) -> None:
        """Until a Binding request to the port is answered: coturn has opened its listener
        (an answer is the state a client depends on; its log says nothing about listeners).
        An answer to any of the requests sent counts: one that comes late, after the next
        request went out, would otherwise keep every later answer one request behind."""
        deadline = time.monotonic() + READY_SECONDS
        loop = asyncio.get_running_loop()
        sent: set[bytes] = set()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.setblocking(False)
            probe.connect(self.address)
            while True:
                process = self._process
                if process is None or process.returncode is not None:
                    code = None if process is None else process.returncode
                    raise CoturnError(f"turnserver exited ({code}) at start-up:\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    raise CoturnError(f"turnserver did not answer in time:\n{self.log_tail()}")
                request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
                sent.add(request.transaction_id)
                with contextlib.suppress(ConnectionRefusedError, TimeoutError, ValueError):
                    await loop.sock_sendall(probe, bytes(request))
                    async with asyncio.timeout(PROBE_SECONDS):
                        answer = stun.parse_message(await loop.sock_recv(probe, 2048))
                    if answer.transaction_id in sent:
                        return
                # Refused (nothing listens yet), unanswered or not STUN: ask again shortly.
                await asyncio.sleep(0.05)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    async def __aenter__(self) -> Coturn:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()
