"""Server CPU per forwarded packet: 1 speaker → N listeners, Gethory's SFU vs aiortc's stock relay.

    .venv/bin/python -m benchmarks.sfu_forwarding [--listeners 40] [--seconds 20]
                                                  [--warmup 3] [--mode gethory|stock|both]

gethory: the real server (`python -m api`, development, embedded database, RATE_LIMITS=off,
    RTC_HOST_ADDRESSES=127.0.0.1) in a subprocess. Bots sign up over REST (verification links
    from the outbox), one creates a public sfu room with one slot, all connect Socket.IO
    (`auth: {token}`), `join`, then `sfu-join` with an aiortc offer. Forwarded packets come
    from the server's `/metrics` (`gethory_sfu_forwarded_packets_total`), cross-checked with
    what the listener bots received.
stock: `benchmarks.stock_relay` in a subprocess: MediaRelay of the decoded speaker track,
    one Opus encoder per listener. Forwarded packets = what the listener bots received.

The window starts once every listener hears the speaker and a warm-up has passed. Server CPU
is utime + stime from /proc/<pid>/stat over the window (all threads; not the embedded
database, a separate process). Everything stays on 127.0.0.1; the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import aiohttp
import socketio
import uvloop

from benchmarks.bots import (
    LOOPBACK,
    Bot,
    ProcessSample,
    ServerProcess,
    cpu_model,
    free_port,
    loopback_rtc,
    machine_busy_seconds,
    sample_process,
    server_environment,
    server_process,
)

PASSWORD = "benchmark password, not a secret"
PACKETS_PER_SECOND_PER_LISTENER = 50  # one 20 ms Opus packet each
TARGET_RATIO = 15.0
CONCURRENCY = 8  # sign-ups and joins in flight at once
SETUP_TIMEOUT = 180.0
HEARD_SECONDS = 20.0  # for every listener to hear the speaker
MAIL_SECONDS = 30.0  # for the verification emails to reach the outbox
LINK = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class Measurement:
    mode: str
    listeners: int
    heard_by: int  # listeners that received audio before the window
    window_seconds: float
    server_cpu_seconds: float
    server_system_seconds: float  # the kernel's share of server_cpu_seconds
    server_forwarded: int | None  # from the server's own counter, where it has one
    bots_received: int
    bot_cpu_seconds: float
    machine_busy_seconds: float  # every process on the machine, these two included
    server_threads: int
    server_rss_bytes: int

    @property
    def forwarded(self) -> int:
        return self.bots_received if self.server_forwarded is None else self.server_forwarded

    @property
    def us_per_packet(self) -> float:
        return self.server_cpu_seconds / self.forwarded * 1e6 if self.forwarded else float("inf")

    @property
    def core_percent(self) -> float:
        return self.percent_of_core(self.server_cpu_seconds)

    @property
    def others_cpu_seconds(self) -> float:
        """What the rest of the machine used meanwhile: should be near 0 for a clean run."""
        return self.machine_busy_seconds - self.server_cpu_seconds - self.bot_cpu_seconds

    def percent_of_core(self, cpu_seconds: float) -> float:
        return 100 * cpu_seconds / self.window_seconds

    @property
    def packets_per_second(self) -> float:
        return self.forwarded / self.window_seconds


async def measure(
    mode: str,
    server: ServerProcess,
    listeners: Sequence[Bot],
    seconds: float,
    warmup: float,
    server_counter: Callable[[], Awaitable[int]] | None = None,
) -> Measurement:
    silent = await wait_until_heard(listeners)
    if silent:
        print(f"  warning: {silent} of {len(listeners)} listeners never received audio")
    await asyncio.sleep(warmup)

    # Scrape before the CPU sample at the start and after it at the end: no scrape is billed.
    forwarded_0 = await server_counter() if server_counter else None
    start = Snapshot.take(server.pid, listeners)
    await asyncio.sleep(seconds)
    end = Snapshot.take(server.pid, listeners)
    forwarded_1 = await server_counter() if server_counter else None

    forwarded = None
    if forwarded_0 is not None and forwarded_1 is not None:
        forwarded = forwarded_1 - forwarded_0
    return Measurement(
        mode=mode,
        listeners=len(listeners),
        heard_by=len(listeners) - silent,
        window_seconds=end.wall - start.wall,
        server_cpu_seconds=end.server.cpu_seconds - start.server.cpu_seconds,
        server_system_seconds=end.server.system_seconds - start.server.system_seconds,
        server_forwarded=forwarded,
        bots_received=end.received - start.received,
        bot_cpu_seconds=end.bot_cpu - start.bot_cpu,
        machine_busy_seconds=end.machine_busy - start.machine_busy,
        server_threads=end.server.threads,
        server_rss_bytes=end.server.rss_bytes,
    )


@dataclass(frozen=True)
class Snapshot:
    """Every clock and counter the window needs, read at one moment."""

    wall: float
    server: ProcessSample
    bot_cpu: float  # this process, all threads
    machine_busy: float
    received: int

    @classmethod
    def take(cls, server_pid: int, listeners: Sequence[Bot]) -> Snapshot:
        return cls(
            wall=time.monotonic(),
            server=sample_process(server_pid),
            bot_cpu=time.process_time(),
            machine_busy=machine_busy_seconds(),
            received=sum(bot.received for bot in listeners),
        )


async def wait_until_heard(listeners: Sequence[Bot]) -> int:
    """Wait until every listener has received a packet; how many never did."""
    deadline = time.monotonic() + HEARD_SECONDS
    while time.monotonic() < deadline:
        if all(bot.received for bot in listeners):
            return 0
        await asyncio.sleep(0.1)
    return sum(1 for bot in listeners if not bot.received)


async def bounded(jobs: Sequence[Callable[[], Awaitable[Any]]], limit: int = CONCURRENCY) -> None:
    """Run the jobs with at most `limit` in flight; the first failure cancels the rest."""
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[Any]]) -> None:
        async with gate:
            await job()

    async with asyncio.TaskGroup() as group:
        for job in jobs:
            group.create_task(run(job))


# --- Gethory: the real server ----------------------------------------------------------


class GethoryAccounts:
    """Sign-up as a person does it: register, the emailed link, verify, sign in."""

    def __init__(self, http: aiohttp.ClientSession, outbox: Path) -> None:
        self._http = http
        self._outbox = outbox

    async def sign_up(self, count: int) -> list[str]:
        """`count` verified, signed-in accounts; their access tokens."""
        emails = [f"bench-{n:03d}@example.com" for n in range(count)]
        await bounded([partial(self._register, e, f"Bot {n}") for n, e in enumerate(emails)])
        tokens = await self._email_tokens(set(emails))
        await bounded([partial(self._verify, tokens[e]) for e in emails])
        access: dict[str, str] = {}

        async def login(email: str) -> None:
            body = await self._post("/api/auth/login", {"email": email, "password": PASSWORD})
            access[email] = str(body["accessToken"])

        await bounded([partial(login, e) for e in emails])
        return [access[e] for e in emails]

    async def create_sfu_room(self, token: str) -> str:
        body = {"topic": "Forwarding benchmark", "visibility": "public", "media": "sfu", "slots": 1}
        room = await self._post("/api/rooms", body, token=token)
        return str(room["id"])

    async def _register(self, email: str, name: str) -> None:
        await self._post("/api/auth/register", {"email": email, "password": PASSWORD, "name": name})

    async def _verify(self, token: str) -> None:
        await self._post("/api/auth/verify-email", {"token": token})

    async def _email_tokens(self, emails: set[str]) -> dict[str, str]:
        """The verification token emailed to each address (development outbox, no SMTP)."""
        deadline = time.monotonic() + MAIL_SECONDS
        tokens: dict[str, str] = {}
        while time.monotonic() < deadline:
            for path in sorted(self._outbox.glob("*.eml")):
                message = message_from_bytes(path.read_bytes(), policy=policy.default)
                assert isinstance(message, EmailMessage)
                if str(message["To"]) in emails:
                    tokens[str(message["To"])] = _token_in(message)
            if len(tokens) == len(emails):
                return tokens
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{len(emails) - len(tokens)} verification emails never arrived")

    async def _post(self, path: str, body: dict[str, Any], token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self._http.post(path, json=body, headers=headers) as response:
            reply = await response.json()
            if response.status == 429:
                raise RuntimeError(
                    f"{path} was rate limited (429): the server needs RATE_LIMITS=off, which "
                    "it honours in development; fewer --listeners fit under the limits"
                )
            if response.status >= 300:
                raise RuntimeError(f"{path} answered {response.status}: {reply}")
            return reply


def _token_in(message: EmailMessage) -> str:
    plain = message.get_body(("plain",))
    assert plain is not None, "the email has no text part"
    link = LINK.search(plain.get_content())
    assert link is not None, "the email has no link"
    return parse_qs(urlparse(link.group()).query)["token"][0]


@dataclass
class SfuMember:
    """A bot in a Gethory sfu room: its signaling socket and its media connection."""

    bot: Bot
    # Ctrl-C stays with asyncio.run: engineio's own SIGINT handler would stop the loop
    # before the peer connections and servers are cleaned up.
    sio: socketio.AsyncClient = field(
        default_factory=lambda: socketio.AsyncClient(reconnection=False, handle_sigint=False)
    )

    async def enter(self, base_url: str, token: str, room_id: str) -> None:
        await self.sio.connect(base_url, auth={"token": token}, transports=["websocket"])
        await self._call("join", {"roomId": room_id})
        ack = await self._call("sfu-join", {"roomId": room_id, "sdp": await self.bot.offer()})
        await self.bot.accept(str(ack["sdp"]))

    async def _call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        ack: dict[str, Any] = await self.sio.call(event, data, timeout=30)
        if not ack.get("ok"):
            raise RuntimeError(f"{self.bot.name}: {event} refused: {ack}")
        return ack

    async def close(self) -> None:
        await self.bot.close()
        if self.sio.connected:
            await self.sio.disconnect()


async def forwarded_packets(http: aiohttp.ClientSession) -> int:
    async with http.get("/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith("gethory_sfu_forwarded_packets_total "):
            return int(float(line.split()[1]))
    raise RuntimeError("/metrics has no gethory_sfu_forwarded_packets_total")


def run_gethory(listeners: int, seconds: float, warmup: float, workdir: Path) -> Measurement:
    port = free_port()
    data_dir = workdir / "gethory-data"
    env = server_environment(
        PORT=str(port),
        APP_ORIGIN=f"http://{LOOPBACK}:{port}",
        DATA_DIR=str(data_dir),
        GETHORY_ENV="development",
        RTC_HOST_ADDRESSES=LOOPBACK,
        RATE_LIMITS="off",
    )
    with server_process("api", env, port, workdir) as server:
        try:
            return uvloop.run(_drive_gethory(server, data_dir, listeners, seconds, warmup))
        except Exception:
            print(f"--- gethory server log (tail) ---\n{server.log_tail()}")
            raise


async def _drive_gethory(
    server: ServerProcess, data_dir: Path, listeners: int, seconds: float, warmup: float
) -> Measurement:
    rtc = loopback_rtc()
    members: list[SfuMember] = []
    jar = aiohttp.DummyCookieJar()  # bearer tokens only: 41 sign-ins must not share cookies
    async with aiohttp.ClientSession(base_url=server.base_url, cookie_jar=jar) as http:
        try:
            async with asyncio.timeout(SETUP_TIMEOUT):
                await server.wait_healthy("/api/health")
                accounts = GethoryAccounts(http, data_dir / "outbox")
                started = time.monotonic()
                tokens = await accounts.sign_up(1 + listeners)
                print(f"  {len(tokens)} accounts in {time.monotonic() - started:.1f} s")
                room_id = await accounts.create_sfu_room(tokens[0])

                async def enter(bot: Bot, token: str) -> None:
                    member = SfuMember(bot)
                    members.append(member)  # closed in the end even if entering fails
                    await member.enter(server.base_url, token, room_id)

                await enter(Bot("speaker", rtc, speaks=True, slots=0), tokens[0])
                bots = [Bot(f"listener-{n}", rtc, speaks=False, slots=1) for n in range(listeners)]

                started = time.monotonic()
                await bounded([partial(enter, b, t) for b, t in zip(bots, tokens[1:], strict=True)])
                print(f"  {listeners} listeners connected in {time.monotonic() - started:.1f} s")
            return await measure(
                "gethory", server, bots, seconds, warmup, lambda: forwarded_packets(http)
            )
        finally:
            await asyncio.gather(*(m.close() for m in members), return_exceptions=True)


# --- stock: MediaRelay of decoded frames -------------------------------------------------


def run_stock(listeners: int, seconds: float, warmup: float, workdir: Path) -> Measurement:
    port = free_port()
    env = server_environment(PORT=str(port))
    with server_process("benchmarks.stock_relay", env, port, workdir) as server:
        try:
            return uvloop.run(_drive_stock(server, listeners, seconds, warmup))
        except Exception:
            print(f"--- stock relay log (tail) ---\n{server.log_tail()}")
            raise


async def _drive_stock(
    server: ServerProcess, listeners: int, seconds: float, warmup: float
) -> Measurement:
    rtc = loopback_rtc()
    bots: list[Bot] = []
    async with aiohttp.ClientSession(base_url=server.base_url) as http:

        async def connect(bot: Bot, role: str) -> None:
            bots.append(bot)
            offer = {"sdp": await bot.offer(), "type": "offer", "role": role}
            async with http.post("/offer", json=offer) as response:
                if response.status != 200:
                    raise RuntimeError(
                        f"/offer answered {response.status}: {await response.text()}"
                    )
                answer = await response.json()
            await bot.accept(str(answer["sdp"]))

        try:
            async with asyncio.timeout(SETUP_TIMEOUT):
                await server.wait_healthy("/health")
                await connect(Bot("speaker", rtc, speaks=True, slots=0), "speaker")
                listening = [
                    Bot(f"listener-{n}", rtc, speaks=False, slots=1) for n in range(listeners)
                ]
                started = time.monotonic()
                await bounded([partial(connect, b, "listener") for b in listening])
                print(f"  {listeners} listeners connected in {time.monotonic() - started:.1f} s")
            return await measure("stock", server, listening, seconds, warmup)
        finally:
            await asyncio.gather(*(bot.close() for bot in bots), return_exceptions=True)


# --- report ------------------------------------------------------------------------------


def print_table(results: Sequence[Measurement]) -> None:
    """A Markdown table, ready for RESULTS.md."""
    rows = [
        (
            "mode",
            "listeners heard",
            "window s",
            "server CPU s (sys)",
            "% of a core",
            "forwarded pkt/s",
            "µs CPU / packet",
            "forwarded (server count)",
            "received (bots)",
            "server threads",
            "server RSS MB",
            "bots % core",
            "others % core",
        )
    ]
    for m in results:
        rows.append(
            (
                m.mode,
                f"{m.heard_by}/{m.listeners}",
                f"{m.window_seconds:.1f}",
                f"{m.server_cpu_seconds:.2f} ({m.server_system_seconds:.2f})",
                f"{m.core_percent:.1f}",
                f"{m.packets_per_second:.0f}",
                f"{m.us_per_packet:.1f}",
                "-" if m.server_forwarded is None else str(m.server_forwarded),
                str(m.bots_received),
                str(m.server_threads),
                f"{m.server_rss_bytes / 2**20:.0f}",
                f"{m.percent_of_core(m.bot_cpu_seconds):.1f}",
                f"{m.percent_of_core(m.others_cpu_seconds):.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
        print("| " + " | ".join(cells) + " |")
        if n == 0:
            rule = [":" + "-" * (widths[0] + 1)] + ["-" * (w + 1) + ":" for w in widths[1:]]
            print("|" + "|".join(rule) + "|")
    by_mode = {m.mode: m for m in results}
    if "gethory" in by_mode and "stock" in by_mode:
        ratio = by_mode["stock"].us_per_packet / by_mode["gethory"].us_per_packet
        verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
        print(f"\nstock / gethory CPU per forwarded packet: {ratio:.1f}×")
        print(f"target ≥ {TARGET_RATIO:.0f}×: {verdict}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--listeners", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the window")
    parser.add_argument("--mode", choices=("gethory", "stock", "both"), default="both")
    args = parser.parse_args(argv)
    if args.listeners < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--listeners ≥ 1, --seconds > 0, --warmup ≥ 0")

    print(
        f"1 speaker → {args.listeners} listeners, {args.warmup:g} s warm-up, "
        f"{args.seconds:g} s window; {os.cpu_count()} CPUs ({cpu_model()}); "
        f"expected {args.listeners * PACKETS_PER_SECOND_PER_LISTENER} forwarded packets/s"
    )
    runs: list[tuple[str, Callable[[int, float, float, Path], Measurement]]] = []
    if args.mode in ("gethory", "both"):
        runs.append(("gethory", run_gethory))
    if args.mode in ("stock", "both"):
        runs.append(("stock", run_stock))
    results = []
    with tempfile.TemporaryDirectory(prefix="gethory-bench-") as tmp:
        for name, run in runs:
            print(f"\n[{name}]")
            workdir = Path(tmp) / name
            workdir.mkdir()
            try:
                results.append(run(args.listeners, args.seconds, args.warmup, workdir))
            except KeyboardInterrupt:
                raise SystemExit("interrupted; servers stopped") from None
    print()
    print_table(results)


if __name__ == "__main__":
    main()
