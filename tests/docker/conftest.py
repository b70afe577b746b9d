"""Fixtures of the Docker tests: a running engine, the local stand-in base images, and the app
image built once per session from a clean checkout (`git archive HEAD`).

Why these tests run outside scripts/isolated (Makefile: `make test` runs them as a second
pytest after the isolated one): `docker build --network host` needs PyPI, npm and Debian's
mirror, and host-network containers live in the network namespace of the daemon, which must
be the test's own for the tests to reach them on 127.0.0.1. So daemon, builds and tests share
the host's namespace, and the tests keep their traffic on loopback themselves: every
container listens on 127.0.0.1 (HOST, TURN_LISTENING_IP, nx-27017 --host) and ICE gathers on
127.0.0.1 only (RTC_HOST_ADDRESSES, use_host_addresses for the bots), with no STUN server.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docker.engine import DockerEngine, missing_tools

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "docker"
PYTHON_IMAGE = "gethory-local/python:3.11-bookworm"
NODE_IMAGE = "gethory-local/node:20-bookworm"
COTURN_IMAGE = "gethory-local/coturn:bookworm"


@dataclass(frozen=True)
class BuiltImage:
    """The app image of this session: its tag, the commit it was built from, the clean
    checkout that was its build context, and what building took (seconds, bytes)."""

    tag: str
    commit: str
    checkout: Path
    base_images_seconds: float
    build_seconds: float
    size_bytes: int


def require_tools() -> None:
    """Fail (not skip) with what to install: these tests are part of `make test`."""
    missing = missing_tools()
    if missing:
        pytest.fail(
            "the Docker tests need " + ", ".join(missing)
            + f": apt-get install {' '.join(missing)} (.ci/run installs them)",
            pytrace=False,
        )  # fmt: skip


def require_network() -> None:
    """Fail inside scripts/isolated (only loopback): the builds need the package registries."""
    if {name for _, name in socket.if_nameindex()} <= {"lo"}:
        pytest.fail(
            "tests/docker builds images with network access and cannot run inside "
            "scripts/isolated: run them on their own (`make dockertest`; `make test` does)",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def engine() -> Iterator[DockerEngine]:
    require_tools()
    require_network()
    running = DockerEngine(ARTIFACTS)
    running.start()
    yield running
    running.stop()


def clean_checkout(destination: Path) -> str:
    """HEAD's tracked files only (no .venv, no uncommitted edits) in `destination`; the commit."""
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, check=True, text=True
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=REPO, capture_output=True, check=True
    ).stdout
    destination.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive, check=True)
    return commit


def forget_old_builds(engine: DockerEngine, keep: str) -> None:
    """Keep the engine's disk use bounded across runs: drop app images of other commits, and
    stage images (the build's cache) nobody has used for 3 days."""
    tags = engine.docker("images", "--format", "{{.Repository}}:{{.Tag}}", "gethory-test/app")
    old = [name for name in tags.split() if name != keep]
    if old:
        engine.docker("rmi", "--force", *old)
    engine.docker("image", "prune", "--force", "--filter", "until=72h")


@pytest.fixture(scope="session")
def app_image(engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    checkout = tmp_path_factory.mktemp("checkout") / "gethory"
    commit = clean_checkout(checkout)
    started = time.monotonic()
    engine.run(str(checkout / "deploy" / "local-base-images.sh"), timeout=1200)
    base_seconds = time.monotonic() - started
    tag = f"gethory-test/app:{commit[:12]}"
    started = time.monotonic()
    engine.docker(
        "build", "--network", "host",
        "--build-arg", f"PYTHON_IMAGE={PYTHON_IMAGE}",
        "--build-arg", f"NODE_IMAGE={NODE_IMAGE}",
        "--tag", tag, str(checkout),
        timeout=1800,
    )  # fmt: skip
    build_seconds = time.monotonic() - started
    size = int(engine.docker("image", "inspect", "--format", "{{.Size}}", tag).strip())
    forget_old_builds(engine, keep=tag)
    built = BuiltImage(tag, commit, checkout, base_seconds, build_seconds, size)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "build.json").write_text(
        json.dumps(
            {
                "image": tag,
                "base_images_seconds": round(base_seconds, 1),
                "build_seconds": round(build_seconds, 1),
                "size_bytes": size,
            },
            indent=2,
        )
    )
    return built
