"""vs-janus: the same bots and the same fanout against Janus and Gethory, in one run.

    sudo .venv/bin/python -m benchmarks.scenarios.vs_janus [--listeners 40] [--seconds 20]
        [--warmup 3] [--servers janus-stock,janus-loops2,gethory] [--out DIR]

1 speaker → L listeners, audio only, for a fixed window, against each server in turn:
- `janus-stock`: Janus 1.1.2 (Debian `janus`), VideoRoom, stock threading (a thread and
  event loop per handle);
- `janus-loops2`: the same with `event_loops = 2` (two shared loops: this machine's cores);
- `gethory`: this checkout's server (`python -m api`, development, RATE_LIMITS=off) with
  RTC_HOST_ADDRESSES=10.200.0.1, its bots signed up and joined through the front door.

Janus never pairs loopback candidates, so everything (servers, bots, signaling) runs inside a
network namespace made for the run (benchmarks.janus.netns; needs root): the servers gather
on 10.200.0.1, the bots on 10.200.0.2, HTTP signaling stays on the namespace's 127.0.0.1, and
nothing leaves the namespace. Called from outside, `run_vs_janus` makes the namespace and runs
this module inside it (`ip netns exec`), reading the results back from a JSON file.

The bots (benchmarks.janus.legacy_bots: aiortc, no decoding) all live in the one process
that drives the run, the same for every server: a real-time 440 Hz Opus tone speaker, and
listeners that count packets, sequence gaps and sampled end-to-end delays (payload matched
to its send time). Gethory's bots offer (`sfu-join`); Janus's listeners answer Janus's offer.

Measured over the window, after every listener has heard the speaker and a warm-up:
server CPU (utime+stime of every thread, /proc/<pid>/stat) per forwarded packet, where
forwarded packets are what the listeners received for Janus (it exports no counter, as for
the old benchmark's stock relay) and `gethory_sfu_forwarded_packets_total` of /metrics for
Gethory (cross-checked with what its listeners received); server CPU %, RSS, threads;
end-to-end delay p50/p95/p99; loss (RFC 3550 expected − received); join time (join request
→ first packet); the bots' own CPU. One RunResult per server (scenario "vs-janus", the
server in `target`), plus ratios Janus / Gethory in `VsJanusRun.comparison` (and in every
result's parameters["comparison"]).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from aiortc import RTCConfiguration

from benchmarks.accounts import GethoryAccounts, bounded
from benchmarks.bots import (
    LOOPBACK,
    ProcessSample,
    ServerProcess,
    free_port,
    machine_busy_seconds,
    sample_process,
    server_environment,
    server_process,
)
from benchmarks.janus.legacy_bots import LegacyListener, LegacySpeaker, PayloadClock
from benchmarks.janus.netns import (
    BOT_ADDRESS,
    SERVER_ADDRESS,
    Namespace,
    bench_namespace,
)
from benchmarks.janus.server import JanusSettings, janus_server
from benchmarks.janus.signaling import JanusVideoRoomSignaling, unlimited_http
from benchmarks.results import RunResult, machine_description, make_figures, percentiles, versions
from benchmarks.signaling import GethorySfuSignaling, JoinFailed
from sfu.aiortc_hooks import use_host_addresses

SCENARIO = "vs-janus"
SERVERS = ("janus-stock", "janus-loops2", "gethory")
SETUP_SECONDS = 240.0  # sign-ups and joins of one server's bots
HEAR_SECONDS = 20.0  # for every listener to receive its first packet
SAMPLE_SECONDS = 1.0  # time series resolution inside the window
ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass
class VsJanusRun:
    """The results, one per server in run order, and the ratios Janus / Gethory:
    `comparison["<janus server>/gethory <figure>"]` for CPU per forwarded packet, CPU %,
    end-to-end delay p50/p99 and loss (None where a side is missing or zero)."""

    results: list[RunResult]
    comparison: dict[str, float | None] = field(default_factory=dict)


def run_vs_janus(
    listeners: int = 40,
    seconds: float = 20.0,
    warmup: float = 3.0,
    servers: Sequence[str] = SERVERS,
    out_dir: Path | None = None,
) -> VsJanusRun:
    """Run the fanout against each of `servers` in turn, inside a fresh network namespace.

    listeners: listener bots (≥ 1), one speaker besides; seconds: measurement window per
    server; warmup: seconds after every listener hears before the window; servers: any of
    SERVERS, in that order of running; out_dir: where each RunResult is written (`RunResult
    .write`), None for nowhere. Blocking (it runs its own event loop or a subprocess).

    Raises benchmarks.janus.netns.NamespaceUnavailable (not root, no `ip`),
    benchmarks.janus.server.JanusUnavailable (Janus not installed), ValueError (bad
    parameters), RuntimeError (a server failed to start or a run failed)."""
    unknown = [s for s in servers if s not in SERVERS]
    if unknown or not servers or listeners < 1 or seconds <= 0 or warmup < 0:
        raise ValueError(f"servers from {', '.join(SERVERS)}; listeners ≥ 1, seconds > 0")
    if Namespace.inside() is None:
        return _run_in_namespace(listeners, seconds, warmup, servers, out_dir)
    run = uvloop.run(_run_all(listeners, seconds, warmup, servers))
    if out_dir is not None:
        for result in run.results:
            result.write(out_dir)
    return run


def _run_in_namespace(
    listeners: int, seconds: float, warmup: float, servers: Sequence[str], out_dir: Path | None
) -> VsJanusRun:
    """Make the namespace and run this module inside it; its results come back as JSON."""
    with bench_namespace() as namespace, tempfile.TemporaryDirectory() as tmp:
        results_file = Path(tmp) / "vs-janus.json"
        argv = [sys.executable, "-m", "benchmarks.scenarios.vs_janus"]
        argv += ["--listeners", str(listeners), "--seconds", str(seconds)]
        argv += ["--warmup", str(warmup), "--servers", ",".join(servers)]
        argv += ["--results-json", str(results_file)]
        if out_dir is not None:
            argv += ["--out", str(out_dir.resolve())]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (str(ROOT),))))
        done = subprocess.run(namespace.command(argv), cwd=ROOT, env=env, check=False)
        if done.returncode != 0 or not results_file.exists():
            raise RuntimeError(f"the run inside {namespace.name} failed (exit {done.returncode})")
        data = json.loads(results_file.read_text())
    return VsJanusRun(
        [RunResult.from_json(r, "vs-janus run") for r in data["results"]], data["comparison"]
    )


async def _run_all(
    listeners: int, seconds: float, warmup: float, servers: Sequence[str]
) -> VsJanusRun:
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="gethory-vs-janus-") as tmp:
        for server in servers:
            print(f"\n[{server}] 1 speaker → {listeners} listeners", flush=True)
            workdir = Path(tmp) / server
            workdir.mkdir()
            if server == "gethory":
                run = _gethory_round(listeners, seconds, warmup, workdir)
            else:
                loops = None if server == "janus-stock" else 2
                run = _janus_round(server, loops, listeners, seconds, warmup, workdir)
            results.append(await run)
    comparison = compare(results)
    for result in results:
        result.parameters["comparison"] = comparison
    return VsJanusRun(results, comparison)


# --- the two kinds of server ---------------------------------------------------------------


def _bot_rtc() -> RTCConfiguration:
    """Bots gather on the namespace's bot address only, with no STUN/TURN server."""
    use_host_addresses([BOT_ADDRESS])
    return RTCConfiguration(iceServers=[])


async def _janus_round(
    label: str, loops: int | None, listeners: int, seconds: float, warmup: float, workdir: Path
) -> RunResult:
    settings = JanusSettings(http_port=free_port(), event_loops=loops, publishers=4)
    with janus_server(workdir, settings) as janus:
        await janus.wait_ready()
        async with unlimited_http() as http:

            def signaling(publisher: bool, name: str) -> JanusVideoRoomSignaling:
                return JanusVideoRoomSignaling(
                    janus.api_url, settings.room_id, publisher=publisher, display=name, http=http
                )

            target = {
                "kind": "janus",
                "url": janus.api_url,
                "server": label,
                "event_loops": loops,
                "janus_version": "1.1.2",
                "media_address": SERVER_ADDRESS,
            }
            try:
                return await _fanout(
                    label, target, janus.server, signaling, listeners, seconds, warmup, 0, None
                )
            except Exception:
                print(f"--- janus log (tail) ---\n{janus.server.log_tail()}")
                raise


async def _gethory_round(listeners: int, seconds: float, warmup: float, workdir: Path) -> RunResult:
    port = free_port()
    data_dir = workdir / "gethory-data"
    env = server_environment(
        PORT=str(port),
        APP_ORIGIN=f"http://{LOOPBACK}:{port}",
        DATA_DIR=str(data_dir),
        GETHORY_ENV="development",
        RTC_HOST_ADDRESSES=SERVER_ADDRESS,
        RATE_LIMITS="off",
    )
    with server_process("api", env, port, workdir) as server:
        jar = aiohttp.DummyCookieJar()  # bearer tokens only: the sign-ins must not share cookies
        async with aiohttp.ClientSession(base_url=server.base_url, cookie_jar=jar) as http:
            try:
                await server.wait_healthy("/api/health")
                accounts = GethoryAccounts(http, data_dir / "outbox")
                async with asyncio.timeout(SETUP_SECONDS):
                    tokens = await accounts.sign_up(1 + listeners)
                    room_id = await accounts.create_sfu_room(tokens[0])
                unused = iter(tokens)

                def signaling(publisher: bool, name: str) -> GethorySfuSignaling:
                    return GethorySfuSignaling(server.base_url, next(unused), room_id)

                target = {
                    "kind": "gethory-local",
                    "url": server.base_url,
                    "server": "gethory",
                    "media_address": SERVER_ADDRESS,
                }
                return await _fanout(
                    "gethory",
                    target,
                    server,
                    signaling,
                    listeners,
                    seconds,
                    warmup,
                    1,
                    partial(gethory_counters, http),
                )
            except Exception:
                print(f"--- gethory server log (tail) ---\n{server.log_tail()}")
                raise


@dataclass(frozen=True)
class GethoryCounters:
    """From Gethory's /metrics: forwarded packets and the forwarding-delay histogram
    (cumulative counts by upper bound in µs, `le` of Prometheus)."""

    forwarded: int
    delay_buckets: dict[float, float]


async def gethory_counters(http: aiohttp.ClientSession) -> GethoryCounters:
    async with http.get("/metrics") as response:
        text = await response.text()
    forwarded: int | None = None
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("gethory_sfu_forwarded_packets_total "):
            forwarded = int(float(line.split()[1]))
        elif line.startswith("gethory_sfu_forwarding_delay_microseconds_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[math.inf if bound == "+Inf" else float(bound)] = float(line.split()[-1])
    if forwarded is None:
        raise RuntimeError("/metrics has no gethory_sfu_forwarded_packets_total")
    return GethoryCounters(forwarded, buckets)


def bucket_quantile(q: float, start: dict[float, float], end: dict[float, float]) -> float | None:
    """The upper bound (µs) of the bucket holding the q-quantile of the observations made
    between two scrapes of a cumulative histogram; None without observations or beyond the
    last finite bound."""
    bounds = sorted(end)
    deltas = [end[b] - start.get(b, 0.0) for b in bounds]
    if not deltas or deltas[-1] <= 0:
        return None
    for bound, cumulative in zip(bounds, deltas, strict=True):
        if cumulative >= q * deltas[-1]:
            return None if math.isinf(bound) else bound
    return None


# --- the fanout itself ---------------------------------------------------------------------

Signaling = JanusVideoRoomSignaling | GethorySfuSignaling
SignalingFactory = Callable[[bool, str], Signaling]
CounterProbe = Callable[[], Awaitable[GethoryCounters]]


@dataclass
class _Joined:
    speaker: LegacySpeaker
    listeners: list[LegacyListener] = field(default_factory=list)
    signalings: list[Signaling] = field(default_factory=list)
    join_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    async def close(self) -> None:
        await asyncio.gather(*(s.leave() for s in self.signalings), return_exceptions=True)
        bots = [self.speaker, *self.listeners]
        await asyncio.gather(*(b.close() for b in bots), return_exceptions=True)


async def _fanout(
    label: str,
    target: dict[str, Any],
    server: ServerProcess,
    signaling: SignalingFactory,
    listeners: int,
    seconds: float,
    warmup: float,
    listener_slots: int,
    counters: CounterProbe | None,
) -> RunResult:
    started_at, started = _utc_now(), time.monotonic()
    baseline = sample_process(server.pid)
    rtc = _bot_rtc()
    clock = PayloadClock()
    joined = _Joined(LegacySpeaker("speaker", rtc, clock))
    try:
        async with asyncio.timeout(SETUP_SECONDS):
            speaker_signaling = signaling(True, "speaker")
            joined.signalings.append(speaker_signaling)
            await speaker_signaling.enter(joined.speaker)
            await _join_listeners(joined, signaling, rtc, clock, listeners, listener_slots)
        print(f"  {len(joined.listeners)} listeners in, {sum(joined.errors.values())} failed")
        silent = await _wait_heard(joined.listeners)
        joined.join_ms = [
            (bot.first_at - sig.join_sent_at) * 1000
            for bot, sig in zip(joined.listeners, joined.signalings[1:], strict=True)
            if bot.first_at is not None and sig.join_sent_at is not None
        ]
        await asyncio.sleep(warmup)  # a duration: the warm-up is not an event
        window = await _measure(server.pid, joined.listeners, seconds, counters)
    finally:
        await joined.close()
    figures = _figures(window, baseline, joined, silent)
    print(
        f"  server CPU {figures['server_cpu_percent']:.1f} % of a core, "
        f"{figures['server_cpu_us_per_forwarded_packet'] or math.nan:.1f} µs per forwarded packet"
    )
    return RunResult(
        scenario=SCENARIO,
        parameters={
            "server": label,
            "listeners": listeners,
            "speakers": 1,
            "seconds": seconds,
            "warmup": warmup,
            "bots": "benchmarks.janus.legacy_bots (aiortc 440 Hz tone speaker, header-only "
            "listeners, one process)",
            "network": f"namespace, servers {SERVER_ADDRESS}, bots {BOT_ADDRESS}",
            "forwarded_from": "listeners" if counters is None else "server /metrics",
            "listeners_never_heard": silent,
        },
        target=target,
        machine=machine_description(),
        versions=versions(),
        started_at=started_at,
        duration_seconds=round(time.monotonic() - started, 3),
        figures=figures,
        series=window.series,
        distributions={"e2e_delay_ms": window.delays_ms, "join_ms": joined.join_ms},
        errors=joined.errors,
        limit=_limit(figures),
    )


async def _join_listeners(
    joined: _Joined,
    signaling: SignalingFactory,
    rtc: RTCConfiguration,
    clock: PayloadClock,
    count: int,
    slots: int,
) -> None:
    async def enter(n: int) -> None:
        bot = LegacyListener(f"listener-{n}", rtc, clock, slots=slots)
        room_signaling = signaling(False, bot.name)
        try:
            await room_signaling.enter(bot)
        except JoinFailed as failure:
            joined.errors[failure.code] = joined.errors.get(failure.code, 0) + 1
            await asyncio.gather(room_signaling.leave(), bot.close(), return_exceptions=True)
            return
        joined.listeners.append(bot)
        joined.signalings.append(room_signaling)

    await bounded([partial(enter, n) for n in range(count)])


async def _wait_heard(listeners: Sequence[LegacyListener]) -> int:
    """Wait until every listener has received a packet; how many never did."""
    deadline = time.monotonic() + HEAR_SECONDS
    while True:
        silent = sum(1 for bot in listeners if not bot.received)
        if not silent or time.monotonic() > deadline:
            return silent
        await asyncio.sleep(0.1)


@dataclass(frozen=True)
class _Sample:
    at: float
    server: ProcessSample
    bot_cpu: float  # this process (every bot), all threads
    machine_busy: float
    received: int
    expected: int
    delays: tuple[int, ...]  # len(delays_ms) of each listener
    counters: GethoryCounters | None

    @classmethod
    async def take(
        cls, pid: int, listeners: Sequence[LegacyListener], counters: CounterProbe | None
    ) -> _Sample:
        return cls(
            at=time.monotonic(),
            server=sample_process(pid),
            bot_cpu=time.process_time(),
            machine_busy=machine_busy_seconds(),
            received=sum(bot.received for bot in listeners),
            expected=sum(bot.expected for bot in listeners),
            delays=tuple(len(bot.delays_ms) for bot in listeners),
            counters=await counters() if counters else None,
        )


@dataclass
class _Window:
    start: _Sample
    end: _Sample
    rss_peak: int
    delays_ms: list[float]
    series: dict[str, list[tuple[float, float]]]

    @property
    def seconds(self) -> float:
        return self.end.at - self.start.at


async def _measure(
    pid: int, listeners: Sequence[LegacyListener], seconds: float, counters: CounterProbe | None
) -> _Window:
    start = previous = await _Sample.take(pid, listeners, counters)
    series: dict[str, list[tuple[float, float]]] = {
        name: [] for name in ("server_cpu_percent", "server_rss_mb", "packets_per_second")
    }
    rss_peak = start.server.rss_bytes
    while True:
        remaining = start.at + seconds - time.monotonic()
        if remaining <= 0:
            break
        await asyncio.sleep(min(SAMPLE_SECONDS, remaining))  # the window: a duration
        now = await _Sample.take(pid, listeners, None)
        span = now.at - previous.at
        t = now.at - start.at
        series["server_cpu_percent"].append(
            (t, 100 * (now.server.cpu_seconds - previous.server.cpu_seconds) / span)
        )
        series["server_rss_mb"].append((t, now.server.rss_bytes / 2**20))
        series["packets_per_second"].append((t, (now.received - previous.received) / span))
        rss_peak = max(rss_peak, now.server.rss_bytes)
        previous = now
    end = await _Sample.take(pid, listeners, counters)
    delays = [
        delay
        for bot, first, last in zip(listeners, start.delays, end.delays, strict=True)
        for delay in bot.delays_ms[first:last]
    ]
    return _Window(start, end, max(rss_peak, end.server.rss_bytes), delays, series)


def _figures(
    w: _Window, baseline: ProcessSample, joined: _Joined, silent: int
) -> dict[str, float | int | None]:
    seconds = w.seconds
    server_cpu = w.end.server.cpu_seconds - w.start.server.cpu_seconds
    received = w.end.received - w.start.received
    expected = w.end.expected - w.start.expected
    lost = max(0, expected - received)
    forwarded = received
    delay_us: list[float | None] = [None, None, None]
    if w.start.counters is not None and w.end.counters is not None:
        forwarded = w.end.counters.forwarded - w.start.counters.forwarded
        delay_us = [
            bucket_quantile(q, w.start.counters.delay_buckets, w.end.counters.delay_buckets)
            for q in (0.50, 0.95, 0.99)
        ]
    bot_cpu = w.end.bot_cpu - w.start.bot_cpu
    participants = len(joined.listeners) + 1
    e2e = percentiles(w.delays_ms)
    join = percentiles(joined.join_ms)
    figures = make_figures(
        server_cpu_us_per_forwarded_packet=server_cpu / forwarded * 1e6 if forwarded else None,
        server_cpu_percent=100 * server_cpu / seconds,
        forwarded_packets=forwarded,
        forwarded_packets_per_second=forwarded / seconds,
        server_forwarding_delay_us_p50=delay_us[0],
        server_forwarding_delay_us_p95=delay_us[1],
        server_forwarding_delay_us_p99=delay_us[2],
        e2e_delay_ms_p50=e2e[0],
        e2e_delay_ms_p95=e2e[1],
        e2e_delay_ms_p99=e2e[2],
        received_packets=received,
        expected_packets=expected,
        lost_packets=lost,
        loss_percent=100 * lost / expected if expected else None,
        join_ms_p50=join[0],
        join_ms_p95=join[1],
        join_ms_p99=join[2],
        joins_ok=len(joined.listeners) + 1,
        joins_failed=sum(joined.errors.values()),
        participants=participants,
        server_rss_mb_start=baseline.rss_bytes / 2**20,
        server_rss_mb_peak=w.rss_peak / 2**20,
        server_rss_mb_end=w.end.server.rss_bytes / 2**20,
        server_rss_kb_per_participant=(w.end.server.rss_bytes - baseline.rss_bytes)
        / 1024
        / participants,
        bot_cpu_us_per_received_packet=bot_cpu / received * 1e6 if received else None,
        bot_cpu_percent=100 * bot_cpu / seconds,
        bot_processes=1,
        server_threads_start=baseline.threads,
        server_threads_end=w.end.server.threads,
    )
    # Beyond the common figures: the cross-check and what the rest of the machine did.
    figures["forwarded_minus_received_packets"] = forwarded - received
    figures["machine_busy_percent"] = 100 * (w.end.machine_busy - w.start.machine_busy) / seconds
    figures["listeners_never_heard"] = silent
    return figures


def _limit(figures: dict[str, float | int | None]) -> str:
    server = figures.get("server_cpu_percent") or 0.0
    bots = figures.get("bot_cpu_percent") or 0.0
    if max(server, bots) < 85.0 and (figures.get("loss_percent") or 0.0) <= 1.0:
        return "none"
    return "server" if server >= bots else "bots"


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# --- comparison and report -----------------------------------------------------------------

COMPARED = (
    "server_cpu_us_per_forwarded_packet",
    "server_cpu_percent",
    "e2e_delay_ms_p50",
    "e2e_delay_ms_p99",
    "loss_percent",
)


def compare(results: Sequence[RunResult]) -> dict[str, float | None]:
    """`"<server>/gethory <figure>"`: each Janus run's figure divided by Gethory's."""
    by_server = {str(r.parameters.get("server")): r for r in results}
    gethory = by_server.get("gethory")
    ratios: dict[str, float | None] = {}
    if gethory is None:
        return ratios
    for server, result in by_server.items():
        if server == "gethory":
            continue
        for name in COMPARED:
            ours, theirs = gethory.figures.get(name), result.figures.get(name)
            ratio = theirs / ours if ours and theirs is not None else None
            ratios[f"{server}/gethory {name}"] = ratio
    return ratios


ROWS = (
    ("listeners heard", None),
    ("server CPU % of a core", "server_cpu_percent"),
    ("forwarded packets/s", "forwarded_packets_per_second"),
    ("µs CPU / forwarded packet", "server_cpu_us_per_forwarded_packet"),
    ("forwarded − received", "forwarded_minus_received_packets"),
    ("e2e delay p50 ms", "e2e_delay_ms_p50"),
    ("e2e delay p99 ms", "e2e_delay_ms_p99"),
    ("loss %", "loss_percent"),
    ("join p50 ms", "join_ms_p50"),
    ("server RSS MB (end)", "server_rss_mb_end"),
    ("server threads", "server_threads_end"),
    ("bots % core", "bot_cpu_percent"),
    ("bots µs / received packet", "bot_cpu_us_per_received_packet"),
    ("machine busy % (of 1 core)", "machine_busy_percent"),
)


def table(run: VsJanusRun) -> str:
    """A Markdown table, one column per server, then the ratios."""
    names = [str(r.parameters.get("server")) for r in run.results]
    lines = ["| figure | " + " | ".join(names) + " |", "|:--|" + "--:|" * len(names)]
    for label, name in ROWS:
        cells = []
        for r in run.results:
            if name is None:
                heard = int(r.parameters["listeners"]) - int(
                    r.figures.get("listeners_never_heard") or 0
                )
                cells.append(f"{heard}/{r.parameters['listeners']}")
                continue
            value = r.figures.get(name)
            cells.append("-" if value is None else f"{value:,.1f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if run.comparison:
        lines.append("")
    for key, ratio in run.comparison.items():
        lines.append(f"{key}: {'-' if ratio is None else f'{ratio:.2f}×'}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--listeners", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the window")
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help=f"comma-separated, of {', '.join(SERVERS)}"
    )
    parser.add_argument("--out", type=Path, help="write one RunResult JSON per server here")
    parser.add_argument("--results-json", type=Path, help=argparse.SUPPRESS)  # inner run
    args = parser.parse_args(argv)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    try:
        run = run_vs_janus(args.listeners, args.seconds, args.warmup, servers, args.out)
    except (ValueError, RuntimeError) as error:
        raise SystemExit(f"vs-janus: {error}") from None
    if args.results_json is not None:  # inside the namespace, for the process outside
        data = {"results": [r.to_json() for r in run.results], "comparison": run.comparison}
        args.results_json.write_text(json.dumps(data))
    if Namespace.inside() is not None:  # the run happened in this process: print it here
        print()
        print(table(run))


if __name__ == "__main__":
    main()
