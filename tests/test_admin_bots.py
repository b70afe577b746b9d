"""`gethory admin create-bots`: verified bot accounts on the server's own database (the real
embedded MongoDB-wire server), signing in through the real `POST /api/auth/login`, refreshed
without duplicates; the command as an operator runs it (a subprocess beside a running
`python -m api`, and on its own), and one-line errors with exit status 2."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from api.admin.bots import BOT_DOMAIN, MAX_BOTS, BotAccounts, bot_email
from api.admin.cli import command
from api.admin.create_bots import create_bots
from api.services import SERVICES
from api.settings import Settings
from api.store.database import database_of, open_client, stores_for
from api.store.embedded import EmbeddedMongo
from tests.client import ApiClient
from tests.conftest import RunningServer
from tests.mailbox import Mailbox
from tests.production import production_settings
from tests.test_drain import Gethory, alive
from tests.test_server_process import free_port

EXIT_SECONDS = 30.0


async def status_of_login(client: ApiClient, email: str, password: str) -> int:
    reply = await client.post("/api/auth/login", {"email": email, "password": password})
    return reply.status


async def bots_in(settings: Settings, prefix: str) -> list[dict[str, Any]]:
    """Every account whose email has the prefix's bot form: duplicates would show here."""
    assert settings.database_url is not None
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.database_url)
    try:
        users = mongo.get_default_database()["users"]
        pattern = f"^{prefix}-[0-9]{{5}}@"
        return [doc async for doc in users.find({"email": {"$regex": pattern}})]
    finally:
        await mongo.close()


async def test_bots_are_verified_and_sign_in_with_the_password(
    settings: Settings, server: RunningServer, client: ApiClient
) -> None:
    created = await create_bots(settings, "bench", 3)

    assert created.created == 3
    assert [a.email for a in created.accounts] == [f"bench-0000{i}@{BOT_DOMAIN}" for i in range(3)]
    users = server.app[SERVICES].stores.users
    for account in created.accounts:
        user = await users.by_email(account.email)
        assert user is not None and user.id == account.user_id
        assert user.email_verified and user.name == account.name
        reply = await client.login(account.email, created.password)
        assert reply.body["user"]["id"] == account.user_id
    document = created.document()
    assert set(document) == {"prefix", "count", "password", "accounts"}
    assert document["accounts"][0] == {
        "email": f"bench-00000@{BOT_DOMAIN}",
        "name": "bench-00000",
        "userId": created.accounts[0].user_id,
    }


async def test_rerun_refreshes_without_duplicates_and_ends_the_old_password(
    settings: Settings, server: RunningServer, new_client: Callable[[], ApiClient]
) -> None:
    first = await create_bots(settings, "again", 2)
    early = new_client()
    signed_in = await early.login(first.accounts[0].email, first.password)
    token = signed_in.body["accessToken"]

    second = await create_bots(settings, "again", 2)

    assert second.created == 0 and second.password != first.password
    assert [a.user_id for a in second.accounts] == [a.user_id for a in first.accounts]
    assert len(await bots_in(settings, "again")) == 2
    client = new_client()
    for account in second.accounts:
        assert await status_of_login(client, account.email, first.password) == 401
        await client.login(account.email, second.password)
    # The refresh ended the sessions signed in with the old password, as a reset does.
    me = await early.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 401


async def test_concurrent_runs_on_one_prefix_never_duplicate(settings: Settings) -> None:
    one, other = await asyncio.gather(
        create_bots(settings, "race", 25), create_bots(settings, "race", 25)
    )

    assert [a.user_id for a in one.accounts] == [a.user_id for a in other.accounts]
    assert one.created + other.created == 25
    assert len(await bots_in(settings, "race")) == 25


async def test_growing_a_prefix_keeps_the_first_bots(settings: Settings) -> None:
    small = await create_bots(settings, "grow", 2)
    large = await create_bots(settings, "grow", 5)

    assert large.created == 3
    assert [a.user_id for a in large.accounts[:2]] == [a.user_id for a in small.accounts]


# --- the command as an operator runs it ------------------------------------------------------


def development_environ(data_dir: Path) -> dict[str, str]:
    """The environment `Gethory` (tests/test_drain.py) gives its server, minus what only the
    server itself needs: same GETHORY_ENV, DATA_DIR and no DATABASE_URL."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "DATABASE_"))}
    return environ | {"GETHORY_ENV": "development", "DATA_DIR": str(data_dir)}


async def create_bots_process(
    cwd: Path, environ: dict[str, str], *arguments: str
) -> tuple[int, str, str]:
    """`python -m api admin create-bots ARGUMENTS` in `cwd`: (exit status, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "api", "admin", "create-bots", *arguments,
        cwd=cwd, env=environ,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.fixture
async def gethory_process(tmp_path: Path, mailbox: Mailbox) -> AsyncIterator[Callable[[Path], Any]]:
    """Starts `python -m api` on a DATA_DIR; stopped with SIGTERM after the test, so it also
    stops its embedded database."""
    servers: list[Gethory] = []

    async def start(data_dir: Path) -> Gethory:
        server = Gethory(data_dir, tmp_path / f"{data_dir.name}.log", mailbox, drain_seconds=1)
        servers.append(server)
        await server.start()
        return server

    yield start
    for server in servers:
        if server.process is not None and server.process.returncode is None:
            server.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(server.process.wait(), EXIT_SECONDS)
        await server.close()


async def test_command_beside_a_running_server_uses_its_embedded_database(
    tmp_path: Path, gethory_process: Callable[[Path], Any]
) -> None:
    data_dir = tmp_path / "data"
    server: Gethory = await gethory_process(data_dir)
    environ = development_environ(data_dir)
    out = tmp_path / "bots.json"

    status, stdout, stderr = await create_bots_process(
        tmp_path, environ, "--count", "3", "--prefix", "live", "--out", str(out)
    )

    assert status == 0, stderr
    assert stdout == ""
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "3 created" in stderr and "running server's embedded database" in stderr
    first = json.loads(out.read_text())
    assert first["prefix"] == "live" and first["count"] == 3 and len(first["accounts"]) == 3
    client = server.new_client()
    for account in first["accounts"]:
        reply = await client.login(account["email"], first["password"])
        assert reply.body["user"]["id"] == account["userId"]

    # Again, credentials to stdout this time: the same accounts, a new password.
    status, stdout, stderr = await create_bots_process(
        tmp_path, environ, "--count", "3", "--prefix", "live"
    )

    assert status == 0, stderr
    assert "0 created, 3 refreshed" in stderr
    second = json.loads(stdout)
    assert [a["userId"] for a in second["accounts"]] == [a["userId"] for a in first["accounts"]]
    email = first["accounts"][0]["email"]
    assert await status_of_login(client, email, first["password"]) == 401
    await client.login(email, second["password"])
    # Left as it was: the server's embedded database (the command only connected to it).
    assert alive(server.embedded_pid())


async def test_command_without_a_server_opens_the_embedded_database_itself(
    tmp_path: Path, gethory_process: Callable[[Path], Any]
) -> None:
    data_dir = tmp_path / "data"
    out = tmp_path / "bots.json"
    out.write_text("an older file, readable by all")
    out.chmod(0o644)

    status, _, stderr = await create_bots_process(
        tmp_path,
        development_environ(data_dir),
        "--count",
        "2",
        "--prefix",
        "cold",
        "--out",
        "bots.json",
    )

    assert status == 0, stderr
    assert "the embedded database in" in stderr and "new: is this" in stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    credentials = json.loads(out.read_text())
    # It stopped the database it started, so the server can start on the directory.
    server: Gethory = await gethory_process(data_dir)
    client = server.new_client()
    for account in credentials["accounts"]:
        await client.login(account["email"], credentials["password"])


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["admin", "create-bots", "--count", "0", "--prefix", "x"], "--count"),
        (["admin", "create-bots", "--count", "10001", "--prefix", "x"], "--count"),
        (["admin", "create-bots", "--count", "many", "--prefix", "x"], "--count"),
        (["admin", "create-bots", "--count", "3", "--prefix", "Bench"], "--prefix"),
        (["admin", "create-bots", "--count", "3", "--prefix", "a" * 21], "--prefix"),
        (["admin", "create-bots", "--count", "3", "--prefix", "a_b"], "--prefix"),
        (["admin", "create-bots", "--count", "3"], "--prefix"),
        (["admin", "create-bots", "--prefix", "x"], "--count"),
        (["admin", "make-bots"], "make-bots"),
        (["admin"], "COMMAND"),
        (["serve"], "serve"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    arguments: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        command(arguments)

    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and complaint in err and "Traceback" not in err


async def test_bad_arguments_in_a_real_process(tmp_path: Path) -> None:
    status, stdout, stderr = await create_bots_process(
        tmp_path, development_environ(tmp_path / "data"), "--count", "0", "--prefix", "x"
    )

    assert status == 2 and stdout == ""
    assert stderr.count("\n") == 1 and "--count" in stderr
    assert not (tmp_path / "data").exists()  # refused before touching anything


def run_command(
    monkeypatch: pytest.MonkeyPatch, cwd: Path, environ: dict[str, str], *arguments: str
) -> int:
    """`gethory admin create-bots ARGUMENTS` in this process, with exactly `environ` (and no
    .env: `cwd` has none)."""
    monkeypatch.chdir(cwd)
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return command(["admin", "create-bots", *arguments])


def test_an_unreachable_database_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"mongodb://bench:s3cret@127.0.0.1:{free_port()}/gethory?authSource=admin"
    environ = {"DATA_DIR": str(tmp_path), "DATABASE_URL": url}
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "bots.json"

    status = run_command(
        monkeypatch, tmp_path, environ, "--count", "2", "--prefix", "x", "--out", str(out)
    )

    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and "database unreachable" in captured.err
    assert "s3cret" not in captured.err
    assert list(out.parent.iterdir()) == []  # no credentials file, not even the reserved one


def test_settings_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {"GETHORY_ENV": "production", "DATA_DIR": str(tmp_path)}

    status = run_command(monkeypatch, tmp_path, environ, "--count", "2", "--prefix", "x")

    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "missing DATABASE_URL" in err


def test_production_is_allowed_and_says_what_it_created(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mongo_url: str,
    mailbox: Mailbox,
) -> None:
    database_url = f"{mongo_url}/test_admin_{os.getpid()}_{free_port()}"
    environ = production_settings(free_port(), "https://voice.example.com", database_url, mailbox)
    out = tmp_path / "bots.json"

    status = run_command(
        monkeypatch, tmp_path, environ, "--count", "2", "--prefix", "prod", "--out", str(out)
    )

    err = capsys.readouterr().err
    assert status == 0, err
    assert "2 created" in err and "production settings" in err and "DATABASE_URL (" in err
    assert f"prod-00001@{BOT_DOMAIN}" in err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert len(json.loads(out.read_text())["accounts"]) == 2


async def test_a_server_starting_while_the_command_holds_the_database_says_so(
    tmp_path: Path,
) -> None:
    """The command's embedded database (no server was running) and a server started in those
    seconds: the server stops with one line and exit status 2, not a traceback."""
    data_dir = tmp_path / "data"
    held = EmbeddedMongo(data_dir / "mongo", supervise=False)
    await held.start()
    try:
        environ = development_environ(data_dir) | {"PORT": str(free_port())}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "api",
            cwd=tmp_path, env=environ,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(process.communicate(), EXIT_SECONDS)
    finally:
        await held.stop()

    assert process.returncode == 2
    text = output.decode()
    assert "the embedded database cannot start: another nx-27017" in text
    assert "Traceback" not in text


async def test_a_database_lost_midway_raises_what_the_store_raised(tmp_path: Path) -> None:
    """Not an ExceptionGroup from the concurrent writers: the command turns a `PyMongoError`
    into its one-line message."""
    embedded = EmbeddedMongo(tmp_path / "mongo", supervise=False)
    await embedded.start()
    client = open_client(embedded.url)
    try:
        stores = stores_for(database_of(client))
        await stores.create_indexes()
        bots = BotAccounts(stores.users, stores.sessions)
        running = asyncio.create_task(bots.ensure("lost", MAX_BOTS, "not a real hash"))
        while await stores.users.by_email(bot_email("lost", 10)) is None:
            assert not running.done()
            await asyncio.sleep(0.01)
        await embedded.stop()

        with pytest.raises(PyMongoError):
            await running
    finally:
        await client.close()
        await embedded.stop()


def test_out_that_is_not_a_regular_file_is_refused_before_any_change(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mongo_url: str,
    mailbox: Mailbox,
) -> None:
    """`--out /dev/stdout` or `--out /dev/null` run as root (a container's usual user) must not
    rename a credentials file over the device: a FIFO stands in for them here."""
    database_url = f"{mongo_url}/test_admin_{os.getpid()}_{free_port()}"
    environ = production_settings(free_port(), "https://voice.example.com", database_url, mailbox)
    fifo = tmp_path / "stdout"
    os.mkfifo(fifo)

    status = run_command(
        monkeypatch, tmp_path, environ, "--count", "1", "--prefix", "dev", "--out", str(fifo)
    )

    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "not a regular file" in err, err
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stdout"]
    assert asyncio.run(users_named(database_url, "dev-00000")) == 0  # nothing changed


async def users_named(database_url: str, name: str) -> int:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(database_url)
    try:
        return await mongo.get_default_database()["users"].count_documents({"name": name})
    finally:
        await mongo.close()
