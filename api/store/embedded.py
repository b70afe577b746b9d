"""The embedded MongoDB-wire server (nx-27017) as a supervised child process, for development
and tests: if it exits unexpectedly it is started again on the same port and data directory,
so the app's client (which reconnects on its own) recovers without a restart of the app."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 5.0
# Back-off between restarts; it starts again from the first delay once a server has stayed
# up for STABLE_SECONDS, so a crash loop slows down while a rare crash is repaired at once.
RESTART_DELAYS_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0)
STABLE_SECONDS = 30.0
SERVER_NAME = "nx-27017"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class EmbeddedMongoError(Exception):
    """The embedded database could not be started."""


class EmbeddedMongo:
    """Runs `nx-27017` on a loopback port (a free one unless `port` is given) with its data
    under `data_dir`.

    With `supervise` (the default) an unexpected exit is followed by a restart on the same port
    after a back-off; `stop` ends supervision first, so nothing restarts during shutdown.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 0,
        supervise: bool = True,
        restart_delays: tuple[float, ...] = RESTART_DELAYS_SECONDS,
    ) -> None:
        self.data_dir = data_dir
        self.supervise = supervise
        self.restart_delays = restart_delays
        self._fixed_port = port
        self.port = port
        self.restarts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The running server's process id (None while it is down)."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "server.pid"

    async def start(self) -> None:
        self._stopping = False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self._fixed_port or _free_port()
        await self._launch()
        log.info("embedded MongoDB-wire server on %s (data in %s)", self.url, self.data_dir)
        if self.supervise:
            self._supervisor = asyncio.create_task(self._supervise(), name="embedded-mongo")

    async def stop(self) -> None:
        self._stopping = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        process, self._process = self._process, None
        if process is not None:
            await _end(process)

    async def _launch(self) -> asyncio.subprocess.Process:
        """Start the server on `self.port` and return once it accepts connections."""
        self._clear_stale_pid_file()
        log_file = self.data_dir / "server.log"
        data_dir = self.data_dir.resolve()
        self._process = process = await asyncio.create_subprocess_exec(
            _server_executable(),
            "--host", "127.0.0.1",
            "-p", str(self.port),
            "--data-dir", str(data_dir),
            "--log-file", str(log_file),
            "--pid-file", str(self.pid_file),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own session: a Ctrl-C in the terminal reaches the app only, which then stops
            # the server itself instead of watching it die and restarting it mid-shutdown.
            start_new_session=True,
            # Its own session also means no terminal signal ends it if this process dies
            # without stopping it (SIGKILL): the kernel then sends it SIGTERM.
            preexec_fn=_dying_with(os.getpid()),
        )  # fmt: skip
        try:
            await self._wait_until_listening(process)
        except BaseException:
            await _end(process)
            raise
        return process

    async def _wait_until_listening(self, process: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        delay = 0.01
        while time.monotonic() < deadline:
            if process.returncode is not None:
                code = process.returncode
                raise EmbeddedMongoError(
                    f"{SERVER_NAME} exited with {code}; see {self.data_dir}/server.log"
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
        raise EmbeddedMongoError(
            f"{SERVER_NAME} did not listen within {READY_TIMEOUT_SECONDS:.0f} s"
        )

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping:
            process = self._process
            if process is not None:
                up_since = time.monotonic()
                code = await process.wait()
                if self._stopping:
                    return
                if time.monotonic() - up_since >= STABLE_SECONDS:
                    failures = 0
                delay = self._restart_delay(failures)
                log.warning(
                    "embedded database (pid %d) exited with code %s; restarting it on port %d"
                    " in %.1f s",
                    process.pid,
                    code,
                    self.port,
                    delay,
                )
            else:
                delay = self._restart_delay(failures)
            failures += 1
            # A deliberate back-off, not a wait for an event.
            await asyncio.sleep(delay)
            try:
                restarted = await self._launch()
            except (EmbeddedMongoError, OSError) as error:
                self._process = None
                log.error("embedded database did not restart (%s); trying again", error)
                continue
            self.restarts += 1
            log.info("embedded database restarted on %s (pid %d)", self.url, restarted.pid)

    def _restart_delay(self, failures: int) -> float:
        return self.restart_delays[min(failures, len(self.restart_delays) - 1)]

    def _clear_stale_pid_file(self) -> None:
        """nx-27017 refuses to start while its pid file names a live process. After a crash the
        file stays behind, and its pid may since belong to an unrelated process: remove it
        unless it names a live nx-27017 on this very data directory (then starting fails, as it
        should: two servers must not share the data)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            self.pid_file.unlink(missing_ok=True)
            return
        if _is_server_for(pid, self.data_dir.resolve()):
            raise EmbeddedMongoError(
                f"another {SERVER_NAME} (pid {pid}) is using {self.data_dir}; stop it first"
            )
        self.pid_file.unlink(missing_ok=True)


async def _end(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()


def _is_server_for(pid: int, data_dir: Path) -> bool:
    """Whether `pid` is a live nx-27017 serving `data_dir` (conservatively yes where /proc
    cannot tell, as long as the process exists)."""
    if pid == os.getpid():
        return False
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    words = [word.decode(errors="replace") for word in arguments]
    if not any(word.endswith(SERVER_NAME) for word in words):
        return False
    return any(
        flag == "--data-dir" and value == str(data_dir) for flag, value in itertools.pairwise(words)
    )


def _dying_with(parent: int) -> Callable[[], None] | None:
    """A `preexec_fn` (run in the child between fork and exec) asking Linux to send the child
    SIGTERM when its parent dies (prctl(2) PR_SET_PDEATHSIG), so a SIGKILLed server does not
    leave its database running and holding the data directory. The signal comes when the
    thread that forked ends: the event loop's, which lives as long as the app. None elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = _prctl()  # looked up here, in the parent: no dlopen between fork and exec

    def die_with_parent() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took hold
            os.kill(os.getpid(), signal.SIGTERM)

    return die_with_parent


@functools.cache
def _prctl() -> Callable[[int, int], int]:
    prctl: Callable[[int, int], int] = ctypes.CDLL(None, use_errno=True).prctl
    return prctl


def _server_executable() -> str:
    beside_python = Path(sys.executable).parent / SERVER_NAME
    return str(beside_python) if beside_python.exists() else SERVER_NAME


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
