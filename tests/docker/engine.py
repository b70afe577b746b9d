"""A Docker engine for the tests: Debian's `dockerd`, started and stopped by the test session.

The daemon runs with `--bridge=none --iptables=false`: every container uses `--network host`
(a bridge network would hand out private-range addresses, and tests only talk to 127.0.0.1).
Its data root is Docker's default, /var/lib/docker, so the locally built base images and the
build cache survive between runs; its socket, pid file and exec root are our own, so a
system daemon (if any) is left alone. An engine already answering on that socket is reused
and left running.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from pathlib import Path

SOCKET = Path("/run/gethory-test-docker.sock")
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
# Debian's packages that provide each tool the docker tests run.
TOOLS = {
    "docker": "docker.io",
    "dockerd": "docker.io",
    "docker-compose": "docker-compose",
    "mmdebstrap": "mmdebstrap",
    "npm": "npm",
}


class EngineError(Exception):
    """The engine could not be started or a docker command failed."""


def missing_tools() -> list[str]:
    """`apt-get install` lines' package names for the tools not on PATH (empty: all there)."""
    return sorted({package for tool, package in TOOLS.items() if shutil.which(tool) is None})


def docker_cli() -> str:
    """Debian's client (matches the engine's API version) when installed, else any `docker`."""
    debian = Path("/usr/bin/docker")
    return str(debian) if debian.exists() else shutil.which("docker") or "docker"


class DockerEngine:
    """`start()` makes an engine answer on SOCKET; `stop()` ends the daemon it started.

    `environ` is the environment for docker, docker-compose and the build scripts (DOCKER_HOST
    set to our socket)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.environ = os.environ | {"DOCKER_HOST": f"unix://{SOCKET}", "DOCKER": docker_cli()}
        self._daemon: subprocess.Popen[bytes] | None = None

    def answers(self) -> bool:
        probe = subprocess.run(
            [docker_cli(), "version", "--format", "{{.Server.Version}}"],
            env=self.environ, capture_output=True, check=False,
        )  # fmt: skip
        return probe.returncode == 0

    def start(self) -> None:
        if self.answers():
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / "dockerd.log").open("ab")
        self._daemon = subprocess.Popen(
            [
                "dockerd",
                "--host", f"unix://{SOCKET}",
                "--pidfile", "/run/gethory-test-docker.pid",
                "--exec-root", "/run/gethory-test-docker",
                "--bridge=none", "--iptables=false", "--ip6tables=false",
            ],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if self._daemon.poll() is not None:
                raise EngineError(f"dockerd exited with {self._daemon.returncode}: see {log.name}")
            if self.answers():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise EngineError(f"dockerd did not answer within {START_TIMEOUT_SECONDS}s")
            # Polling: the daemon gives no readiness signal but its socket answering.
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM the daemon we started (it stops its containerd and containers), then wait."""
        daemon, self._daemon = self._daemon, None
        if daemon is None or daemon.poll() is not None:
            return
        daemon.terminate()
        try:
            daemon.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 600) -> str:
        """Run a command with our DOCKER_HOST; its stdout, or EngineError with its output."""
        done = subprocess.run(
            args, env=self.environ, cwd=cwd, capture_output=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise EngineError(
                f"{' '.join(args)} exited with {done.returncode}:\n"
                f"{done.stdout.decode(errors='replace')[-4000:]}"
                f"{done.stderr.decode(errors='replace')[-4000:]}"
            )
        return done.stdout.decode()

    async def arun(self, *args: str, cwd: Path | None = None, timeout: float = 120) -> str:
        """`run` without blocking the event loop (the tests' SMTP server and bots live there)."""
        process = await asyncio.create_subprocess_exec(
            *args, env=self.environ, cwd=cwd,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
        if process.returncode != 0:
            raise EngineError(
                f"{' '.join(args)} exited with {process.returncode}:\n"
                f"{stdout.decode(errors='replace')[-4000:]}{stderr.decode(errors='replace')[-4000:]}"
            )
        return stdout.decode()

    def docker(self, *args: str, timeout: float = 600) -> str:
        return self.run(docker_cli(), *args, timeout=timeout)

    async def adocker(self, *args: str, timeout: float = 120) -> str:
        return await self.arun(docker_cli(), *args, timeout=timeout)
