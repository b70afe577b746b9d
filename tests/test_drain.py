"""SIGTERM on the real `gethory` process (embedded database, real SMTP, aiortc callers): the
drain of api/drain.py as an operator and the people in a call see it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from api.__main__ import SHUTDOWN_TIMEOUT_SECONDS
from api.drain import HURRIED_STEP_SECONDS, Drain
from api.services import SERVICES
from sfu.config import RtcConfig
from tests.client import ApiClient
from tests.conftest import RunningServer
from tests.mailbox import Mailbox
from tests.people import Person
from tests.sfu_client import SfuClient
from tests.sockets import SocketClient
from tests.test_server_process import free_port, wait_until_healthy
from tests.test_sfu import enter

EXIT_GRACE_SECONDS = 10.0  # beyond DRAIN_SECONDS: what an orchestrator would allow


@dataclass
class Gethory:
    """One `python -m api` process on a DATA_DIR (embedded database) with its log in a file."""

    data_dir: Path
    log_path: Path
    mailbox: Mailbox
    drain_seconds: float
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "DATABASE_"))}
        environ |= {
            "PORT": str(self.port),
            "DATA_DIR": str(self.data_dir),
            "GETHORY_ENV": "development",
            "APP_ORIGIN": self.base_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.mailbox.port),
            "SMTP_TLS": "none",
            "RTC_HOST_ADDRESSES": "127.0.0.1",
            "ICE_SERVERS": "",
            "DRAIN_SECONDS": str(self.drain_seconds),
        }
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "api",
                cwd=self.data_dir.parent, env=environ, stdout=log, stderr=log,
            )  # fmt: skip
        async with aiohttp.ClientSession(base_url=self.base_url) as session:
            await wait_until_healthy(session, self.running)

    @property
    def running(self) -> asyncio.subprocess.Process:
        assert self.process is not None
        return self.process

    def new_client(self) -> ApiClient:
        session = aiohttp.ClientSession(
            base_url=self.base_url, cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        self.sessions.append(session)
        return ApiClient(session)

    def descendants(self) -> set[int]:
        """Every process below ours (children, grandchildren), read from /proc."""
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue  # ended while we looked
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        found: set[int] = set()
        frontier = {self.running.pid}
        while frontier:
            frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
            found |= frontier
        return found

    def embedded_pid(self) -> int:
        return int((self.data_dir / "mongo" / "server.pid").read_text())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def close(self) -> None:
        for session in self.sessions:
            await session.close()
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Account:
    person: Person
    email: str


async def sign_up(server: Gethory, name: str) -> Account:
    http = server.new_client()
    email = await http.register_verified(server.mailbox, name)
    signed_in = await http.login(email)
    person = Person(
        name=name,
        http=http,
        user_id=signed_in.body["user"]["id"],
        access_token=signed_in.body["accessToken"],
        base_url=server.base_url,
    )
    return Account(person, email)


class DrainNotices:
    """`server-draining` events of one socket (tests/sockets.py does not list it)."""

    def __init__(self, socket: SocketClient) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        socket.sio.on("server-draining", self.queue.put_nowait)

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        notice: dict[str, Any] = await asyncio.wait_for(self.queue.get(), timeout)
        return notice


@pytest.fixture
async def start_gethory(tmp_path: Path, mailbox: Mailbox) -> AsyncIterator[Callable[..., Any]]:
    servers: list[Gethory] = []

    async def start(drain_seconds: float, name: str = "data") -> Gethory:
        server = Gethory(tmp_path / name, tmp_path / f"{name}.log", mailbox, drain_seconds)
        servers.append(server)
        await server.start()
        return server

    yield start
    for server in servers:
        await server.close()


async def exit_of(server: Gethory, timeout: float) -> float:
    """Waits for the process to end; returns the monotonic time it was seen ending."""
    await asyncio.wait_for(server.running.wait(), timeout)
    return time.monotonic()


async def readiness(server: Gethory) -> tuple[int, dict[str, Any], int]:
    async with aiohttp.ClientSession(base_url=server.base_url) as session:
        async with session.get("/readyz") as ready:
            body = await ready.json()
        async with session.get("/healthz") as healthz:
            return ready.status, body, healthz.status


async def test_sigterm_in_a_live_sfu_call_drains_until_the_room_empties_and_loses_nothing(
    start_gethory: Callable[..., Any],
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    tmp_path: Path,
) -> None:
    server: Gethory = await start_gethory(drain_seconds=30)
    ann, bob, cem = [await sign_up(server, name) for name in ("Ann", "Bob", "Cem")]
    room = await ann.person.create_room(media="sfu", topic="Standup")
    ann_call = await enter(ann.person, room, loopback_only, sfu_clients, frequency=440)
    bob_call = await enter(bob.person, room, loopback_only, sfu_clients, frequency=880)
    await bob_call.wait_for_slot(0, 440)  # a live call: Bob hears Ann
    notices = [DrainNotices(ann_call.socket), DrainNotices(bob_call.socket)]
    latecomer = await cem.person.socket()
    status, body, _ = await readiness(server)
    assert status == 200 and body["checks"]["media"]["status"] == "ok", body
    children = server.descendants()
    embedded = server.embedded_pid()
    assert embedded in children

    # Writes acknowledged right before SIGTERM.
    written = await ann.person.http.post(
        "/api/rooms", {"topic": "Written last", "visibility": "public", "media": "mesh"}
    )
    assert written.status == 201, written.body
    renamed = await bob.person.http.call("PATCH", "/api/users/me", {"name": "Bob Last"})
    assert renamed.status == 200, renamed.body
    sent = time.monotonic()
    server.running.send_signal(signal.SIGTERM)

    for notice in notices:
        got = await notice.next()
        assert 25 <= got["deadlineSeconds"] <= 30 and got["retryAfterSeconds"] >= 30, got
    status, body, healthz = await readiness(server)
    assert (status, body["status"], healthz) == (503, "draining", 200), body
    refused = await latecomer.call("join", {"roomId": room})
    assert refused["error"]["code"] == "server_draining", refused
    refused = await latecomer.call("sfu-join", {"roomId": room, "sdp": "v=0"})
    assert refused["error"]["code"] == "server_draining", refused
    rooms = await cem.person.http.get("/api/rooms")
    assert rooms.status == 200, "REST keeps answering during the drain"
    await bob_call.wait_for_slot(0, 440)  # the call goes on while it drains
    assert server.running.returncode is None, "a room is still in a call: the drain waits"

    for call in (ann_call, bob_call):
        assert (await call.socket.call("leave", {"roomId": room}))["ok"]
    left = time.monotonic()
    exited = await exit_of(server, EXIT_GRACE_SECONDS)
    assert server.running.returncode == 0, server.log()
    assert "drain: wait ended (empty)" in server.log()
    # Every websocket answered its close, and the site and services stopped well within the
    # runner's shutdown timeout: no handler was left for it to cancel. (Read from the server's
    # own account, not the wall clock: on a loaded machine interpreter exit alone can take
    # seconds.)
    log_text = server.log()
    assert "0 websocket(s) did not answer" in log_text, log_text[-3000:]
    stopped = re.search(r"stopped: site and services closed in ([0-9.]+) s", log_text)
    assert stopped is not None, log_text[-3000:]
    assert float(stopped.group(1)) < SHUTDOWN_TIMEOUT_SECONDS, log_text[-3000:]
    assert exited - left < EXIT_GRACE_SECONDS, f"{exited - left:.2f} s after the last leave"
    survivors = [pid for pid in children if alive(pid)]
    assert not survivors and not alive(embedded), survivors
    print(
        f"\ndrain with a call: SIGTERM→exit {exited - sent:.2f} s; "
        f"last leave→exit {exited - left:.2f} s"
    )

    again = Gethory(server.data_dir, server.log_path, server.mailbox, drain_seconds=30)
    try:
        await again.start()
        http = again.new_client()
        await http.login(ann.email)
        assert (await http.get(f"/api/rooms/{written.body['id']}")).body["topic"] == "Written last"
        assert (await http.get(f"/api/users/{bob.person.user_id}")).body["name"] == "Bob Last"
        empty_children = again.descendants()
        sent = time.monotonic()
        again.running.send_signal(signal.SIGTERM)
        exited = await exit_of(again, EXIT_GRACE_SECONDS)
        assert again.running.returncode == 0, again.log()
        assert not [pid for pid in empty_children if alive(pid)]
        print(f"drain with no rooms: SIGTERM→exit {exited - sent:.2f} s")
    finally:
        await again.close()


async def test_a_caller_who_stays_is_cut_at_the_deadline(
    start_gethory: Callable[..., Any],
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
) -> None:
    server: Gethory = await start_gethory(drain_seconds=2)
    ann = await sign_up(server, "Ann")
    room = await ann.person.create_room(media="sfu")
    call = await enter(ann.person, room, loopback_only, sfu_clients, frequency=440)
    notices = DrainNotices(call.socket)
    children = server.descendants()
    sent = time.monotonic()
    server.running.send_signal(signal.SIGTERM)
    assert (await notices.next())["deadlineSeconds"] <= 2
    await asyncio.wait_for(call.socket.disconnected.wait(), 2 + EXIT_GRACE_SECONDS)
    cut = time.monotonic()
    exited = await exit_of(server, EXIT_GRACE_SECONDS)
    assert server.running.returncode == 0, server.log()
    assert "drain: wait ended (deadline)" in server.log()
    assert cut - sent >= 2, "cut before the deadline"
    assert exited - sent < 2 + SHUTDOWN_TIMEOUT_SECONDS, f"{exited - sent:.2f} s"
    assert not [pid for pid in children if alive(pid)]
    print(f"\ndrain with a caller who stays (DRAIN_SECONDS=2): SIGTERM→exit {exited - sent:.2f} s")


async def test_a_second_signal_skips_the_wait(start_gethory: Callable[..., Any]) -> None:
    server: Gethory = await start_gethory(drain_seconds=60)
    ann = await sign_up(server, "Ann")
    room = await ann.person.create_room()
    socket = await ann.person.socket()
    await socket.join(room)
    notices = DrainNotices(socket)
    sent = time.monotonic()
    server.running.send_signal(signal.SIGTERM)
    await notices.next()
    server.running.send_signal(signal.SIGINT)
    exited = await exit_of(server, EXIT_GRACE_SECONDS)
    assert server.running.returncode == 0, server.log()
    assert "drain: wait ended (skipped)" in server.log()
    assert exited - sent < 10


async def test_readiness_needs_the_media_server(server: RunningServer, client: ApiClient) -> None:
    ready = await client.get("/readyz")
    assert ready.status == 200 and ready.body["checks"]["media"] == {"status": "ok"}, ready.body
    await server.app[SERVICES].sfu.stop()  # media no longer set up: RoomManager.media_ready
    unready = await client.get("/readyz")
    assert unready.status == 503 and unready.body["status"] == "unavailable", unready.body
    assert unready.body["checks"]["media"]["status"] == "unavailable", unready.body
    assert (await client.get("/healthz")).status == 200


# How long the process may take to exit after its last signal once clients vanished mid-join:
# every step of the drain is bounded (api.drain), the stop of the site and services included.
VANISHED_EXIT_SECONDS = 20.0


async def open_mid_join(server: Gethory, token: str, room: str) -> aiohttp.ClientSession:
    """One client caught mid-join, on a session of its own: an Engine.IO long-polling handshake
    (socket.io-client's default first step) nobody polls after, and a websocket that sent its
    Socket.IO CONNECT, a `join` and an `sfu-join` without waiting for any answer."""
    session = aiohttp.ClientSession(base_url=server.base_url)
    async with session.get("/socket.io/", params={"EIO": "4", "transport": "polling"}) as opened:
        assert opened.status == 200, await opened.text()
        await opened.read()
    ws = await session.ws_connect("/socket.io/?EIO=4&transport=websocket")
    await ws.receive(timeout=5)  # Engine.IO OPEN
    await ws.send_str("40" + json.dumps({"token": token}))
    await ws.send_str("42" + json.dumps(["join", {"roomId": room}]))
    await ws.send_str("42" + json.dumps(["sfu-join", {"roomId": room, "sdp": "v=0"}]))
    return session


async def vanish(session: aiohttp.ClientSession) -> None:
    """Close every connection of the session without a word (no websocket close frame, no
    further request), as a killed process's sockets end."""
    connector = session.connector
    assert connector is not None
    for protocol in list(getattr(connector, "_acquired", ())):
        if protocol.transport is not None:
            protocol.transport.abort()
    await session.close()


@pytest.mark.parametrize("signals", [1, 2], ids=["one signal", "two signals"])
async def test_clients_that_vanish_mid_join_as_the_signal_comes_do_not_hold_the_exit(
    start_gethory: Callable[..., Any], signals: int
) -> None:
    server: Gethory = await start_gethory(drain_seconds=30)
    ann = await sign_up(server, "Ann")
    room = await ann.person.create_room(media="sfu")
    clients = [await open_mid_join(server, ann.person.access_token, room) for _ in range(20)]
    children = server.descendants()
    server.running.send_signal(signal.SIGINT)
    await asyncio.gather(*(vanish(client) for client in clients))
    if signals == 2:
        server.running.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    try:
        exited = await exit_of(server, VANISHED_EXIT_SECONDS)
    except TimeoutError:
        raise AssertionError(f"still running after the signal:\n{server.log()[-4000:]}") from None
    log_text = server.log()
    assert server.running.returncode == 0, log_text[-4000:]
    assert "drain: wait ended" in log_text, log_text[-4000:]
    assert "drain: calls closed in" in log_text, log_text[-4000:]
    # Either every step finished, or the log names the one that was cut.
    assert "stopped: site and services closed" in log_text or re.search(
        r"drain: step '[^']+' cut", log_text
    ), log_text[-4000:]
    assert not [pid for pid in children if alive(pid)], "a child outlived the server"
    print(f"\nclients vanished mid-join, {signals} signal(s): exit {exited - sent:.2f} s")


async def test_a_signal_cuts_a_step_that_hangs_and_the_log_names_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    drain = Drain(seconds=30)
    drain.on_signal()  # the drain starts
    never = asyncio.Event()
    hanging = asyncio.create_task(drain.step("close something", never.wait(), 60))
    await asyncio.sleep(0)  # the step is under way
    drain.on_signal()
    assert await asyncio.wait_for(hanging, 5) is False
    assert drain.cut_steps == ["close something"]
    assert "drain: step 'close something' cut by a signal" in caplog.text
    # After the second signal every step is bounded by HURRIED_STEP_SECONDS.
    started = time.monotonic()
    assert await drain.step("close more", never.wait(), 60) is False
    assert time.monotonic() - started < HURRIED_STEP_SECONDS + 1
    assert "drain: step 'close more' cut at its bound" in caplog.text


async def test_the_embedded_database_ends_with_a_killed_server(
    start_gethory: Callable[..., Any],
) -> None:
    server: Gethory = await start_gethory(drain_seconds=30)
    embedded = server.embedded_pid()
    assert alive(embedded)
    server.running.kill()  # no drain, no cleanup: only the kernel's parent-death signal
    await exit_of(server, EXIT_GRACE_SECONDS)
    deadline = time.monotonic() + EXIT_GRACE_SECONDS
    while True:
        if not alive(embedded):
            break
        assert time.monotonic() < deadline, "the embedded database outlived its killed server"
        await asyncio.sleep(0.05)
