"""The deployment files are valid: hadolint on the Dockerfile, Compose validating
docker-compose.yml (with .env.example, with and without the proxy profile, and with the
test override)."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (via schemathesis), no stubs

from api.settings import load_settings
from tests.docker.conftest import REPO, require_tools

HADOLINT = REPO / ".venv" / "bin" / "hadolint"


def compose_commands() -> list[list[str]]:
    """Debian's docker-compose 1.29, and the `docker compose` plugin when one is installed."""
    commands = [["docker-compose"]]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        commands.append([docker, "compose"])
    return commands


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The compose files and what they mount, with `.env` copied from `.env.example`."""
    for name in ("docker-compose.yml", ".env.example", "Dockerfile"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "deploy", tmp_path / "deploy")
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    return tmp_path


def test_hadolint_passes_on_the_dockerfile() -> None:
    assert HADOLINT.exists(), "hadolint comes with the dev dependencies: make test installs them"
    lint = subprocess.run([str(HADOLINT), str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.parametrize("files", [[], ["--profile", "proxy"]], ids=["plain", "proxy"])
def test_compose_validates_the_stack_with_env_example(project: Path, files: list[str]) -> None:
    require_tools()
    for command in compose_commands():
        if files and command == ["docker-compose"]:
            # 1.29 knows no --profile flag; COMPOSE_PROFILES is the same switch.
            environ = {"COMPOSE_PROFILES": "proxy"}
            args: list[str] = []
        else:
            environ, args = {}, files
        checked = subprocess.run(
            [*command, *args, "config"], cwd=project, capture_output=True, text=True,
            env={"PATH": "/usr/bin:/bin:/usr/local/bin", **environ},
        )  # fmt: skip
        assert checked.returncode == 0, checked.stderr
        config = checked.stdout
        assert "mongo-data:/data/db" in config
        if files:
            assert "caddy" in config and "172.30.0.10" in config


def test_compose_refuses_a_stack_without_the_database_password(project: Path) -> None:
    """Required settings are checked by Compose itself: it names what is missing."""
    require_tools()
    env = (project / ".env").read_text().replace("MONGO_ROOT_PASSWORD=", "# MONGO_ROOT_PASSWORD=")
    (project / ".env").write_text(env)
    checked = subprocess.run(
        ["docker-compose", "config"], cwd=project, capture_output=True, text=True
    )
    assert checked.returncode != 0 and "MONGO_ROOT_PASSWORD" in checked.stderr


def test_env_example_lists_every_setting_the_server_reads() -> None:
    names = {
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    read: set[str] = set()
    for source in ("api/settings.py", "sfu/config.py"):
        # Every quoted UPPER_CASE name in the settings modules is an environment variable.
        read |= set(re.findall(r"[\"']([A-Z][A-Z0-9_]{3,})[\"']", (REPO / source).read_text()))
    read.discard("CHANGE_ME")  # api.settings.PLACEHOLDER: a value, not a name
    assert read - names == set(), f".env.example is missing {sorted(read - names)}"


def test_coturn_gets_only_its_own_settings(project: Path) -> None:
    """coturn is the one network-facing C daemon of the stack: its environment (readable
    through /proc by whoever runs code as its user) holds the TURN settings only, never the
    token signing secrets, the database password or the SMTP login of the app's .env."""
    require_tools()
    checked = subprocess.run(
        ["docker-compose", "config"], cwd=project, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    config = yaml.safe_load(checked.stdout)
    environment = config["services"]["coturn"].get("environment", {})
    assert "TURN_SECRET" in environment and "RTC_ANNOUNCED_ADDRESS" in environment
    for secret in (
        "JWT_ACCESS_SECRET",
        "JWT_REFRESH_SECRET",
        "DATABASE_URL",
        "MONGO_ROOT_PASSWORD",
        "SMTP_PASSWORD",
        "METRICS_TOKEN",
    ):
        assert secret not in environment, secret
    assert "env_file" not in config["services"]["coturn"]
    # Every variable the entrypoint and the healthcheck read reaches it.
    entrypoint = (project / "deploy" / "coturn" / "entrypoint.sh").read_text()
    read = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", entrypoint))
    read |= set(
        re.findall(r"\$\$\{?([A-Z][A-Z0-9_]+)", (project / "docker-compose.yml").read_text())
    )
    assert read - {"PATH"} <= set(environment), read - set(environment)


def test_env_example_lists_every_variable_of_the_stack() -> None:
    """Every variable docker-compose.yml and the coturn entrypoint read is in .env.example
    with a comment (a VPC that overlaps the compose subnet needs COMPOSE_SUBNET, and only
    .env.example tells an operator it exists)."""
    names = {
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    compose = (REPO / "docker-compose.yml").read_text()
    entrypoint = (REPO / "deploy" / "coturn" / "entrypoint.sh").read_text()
    read = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]+)", compose))
    read |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", entrypoint))
    assert read - names == set(), f".env.example is missing {sorted(read - names)}"


def test_env_example_trusts_the_compose_proxy(project: Path) -> None:
    """With .env.example as shipped, the app behind the `proxy` profile's Caddy sees each
    client, not Caddy: without it every person shares Caddy's rate-limit buckets, so one
    stranger's 30 wrong passwords hold every sign-in back (and 10 sign-ups an hour are the
    whole site's)."""
    require_tools()
    checked = subprocess.run(
        ["docker-compose", "config"],
        cwd=project,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "COMPOSE_PROFILES": "proxy"},
    )
    assert checked.returncode == 0, checked.stderr
    config = yaml.safe_load(checked.stdout)
    caddy = ipaddress.ip_address(config["services"]["caddy"]["networks"]["default"]["ipv4_address"])
    # Read as the app reads it (development: the example's placeholders refuse production).
    example = {"GETHORY_ENV": "development", "RTC_ANNOUNCED_ADDRESS": ""}
    settings = load_settings(
        example | {"DATA_DIR": str(project / "data")}, env_file=project / ".env.example"
    )
    assert any(caddy in network for network in settings.trusted_proxies)
    # Nothing wider than Caddy's own address: the app and mongo share the network.
    assert all(network.num_addresses == 1 for network in settings.trusted_proxies)
