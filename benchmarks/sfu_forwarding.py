"""Server CPU per forwarded packet: 1 speaker → N listeners, Gethory's SFU vs aiortc's stock relay.

    .venv/bin/python -m benchmarks.sfu_forwarding [--listeners 40] [--seconds 20]
                                                  [--warmup 3] [--mode gethory|stock|both]
                                                  [--baseline DIR] [--rounds 1]

gethory: the real server (`python -m api`, development, embedded database, RATE_LIMITS=off,
    RTC_HOST_ADDRESSES=127.0.0.1) in a subprocess. Bots sign up over REST (verification links
    from the outbox), one creates a public sfu room with one slot, all connect Socket.IO
    (`auth: {token}`), `join`, then `sfu-join` with an aiortc offer. Forwarded packets come
    from the server's `/metrics` (`gethory_sfu_forwarded_packets_total`), cross-checked with
    what the listener bots received.
--baseline DIR: also runs the gethory server from DIR (a checkout of an earlier commit, e.g.
    `git worktree add /tmp/before <rev>`), alternating with this tree's round by round, so a
    before/after pair shares one run and one machine state. The bots are this tree's.
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
import socket
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

import aiohttp
import uvloop

from benchmarks.accounts import GethoryAccounts, SfuMember, bounded
from benchmarks.bots import (
    Bot,
    ServerProcess,
    cpu_model,
    development_server_environment,
    free_port,
    loopback_rtc,
    server_environment,
    server_process,
)
from benchmarks.measurement import Measurement, measure, print_table

PACKETS_PER_SECOND_PER_LISTENER = 50  # one 20 ms Opus packet each
SETUP_TIMEOUT = 180.0


# --- Gethory: the real server ----------------------------------------------------------


async def forwarded_packets(http: aiohttp.ClientSession) -> int:
    async with http.get("/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith("gethory_sfu_forwarded_packets_total "):
            return int(float(line.split()[1]))
    raise RuntimeError("/metrics has no gethory_sfu_forwarded_packets_total")


def run_gethory(
    listeners: int,
    seconds: float,
    warmup: float,
    workdir: Path,
    tree: Path | None = None,
    shared_port: bool = False,
) -> Measurement:
    """`tree`: where the server's code comes from (default: this checkout); `shared_port`:
    all media on one UDP port (RTC_UDP_PORT) instead of a socket per connection."""
    port = free_port()
    data_dir = workdir / "gethory-data"
    media = {"RTC_UDP_PORT": str(free_port(socket.SOCK_DGRAM))} if shared_port else {}
    env = development_server_environment(port, data_dir, tree=tree) | media
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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--listeners", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the window")
    parser.add_argument("--mode", choices=("gethory", "stock", "both"), default="both")
    parser.add_argument(
        "--baseline", type=Path, help="an earlier checkout whose server runs alternately"
    )
    parser.add_argument("--rounds", type=int, default=1, help="alternations of every mode")
    parser.add_argument(
        "--shared-port",
        action="store_true",
        help="also run Gethory with all media on one UDP port (RTC_UDP_PORT)",
    )
    args = parser.parse_args(argv)
    if args.listeners < 1 or args.seconds <= 0 or args.warmup < 0 or args.rounds < 1:
        parser.error("--listeners ≥ 1, --seconds > 0, --warmup ≥ 0, --rounds ≥ 1")

    print(
        f"1 speaker → {args.listeners} listeners, {args.warmup:g} s warm-up, "
        f"{args.seconds:g} s window; {os.cpu_count()} CPUs ({cpu_model()}); "
        f"expected {args.listeners * PACKETS_PER_SECOND_PER_LISTENER} forwarded packets/s"
    )
    runs: list[tuple[str, Callable[[int, float, float, Path], Measurement]]] = []
    if args.baseline is not None:
        baseline = args.baseline.resolve()
        if not (baseline / "api" / "__main__.py").is_file():
            parser.error(f"--baseline {baseline} is not a Gethory checkout")
        runs.append(("baseline", partial(run_gethory, tree=baseline)))
    if args.mode in ("gethory", "both"):
        runs.append(("gethory", run_gethory))
        if args.shared_port:
            runs.append(("shared port", partial(run_gethory, shared_port=True)))
    if args.mode in ("stock", "both"):
        runs.append(("stock", run_stock))
    results = []
    with tempfile.TemporaryDirectory(prefix="gethory-bench-") as tmp:
        for round_ in range(args.rounds):
            for name, run in runs:
                print(f"\n[{name}, round {round_ + 1}]")
                workdir = Path(tmp) / f"{name}-{round_}"
                workdir.mkdir()
                try:
                    measured = run(args.listeners, args.seconds, args.warmup, workdir)
                except KeyboardInterrupt:
                    raise SystemExit("interrupted; servers stopped") from None
                results.append(replace(measured, mode=name))
    print()
    print_table(results)


if __name__ == "__main__":
    main()
