"""One fanout round against one server: 1 speaker, L listeners, a measured window.

`fanout_round` is what benchmarks.scenarios.vs_janus runs against each server: the server's
signaling comes in as a factory (`JanusVideoRoomSignaling` or `GethorySfuSignaling`, both the
RoomSignaling contract), the bots as a `BotKit`, so the rounds differ only in the server.

Bot kits (`bot_kit(kind)`), all bots in the process that drives the round:
- "media": benchmarks.media_bots, the bots of gethory-bench's own scenarios: a SpeakerBot
  looping a pre-encoded Opus clip (RFC 6464 levels, DTX pauses), ListenerBots reading RTP
  headers off their ICE sockets (loss from sequence numbers, RFC 3550 A.1/A.3), one packet in
  50 decrypted for the end-to-end delay (the shared SendLog says when its frame left).
- "legacy": benchmarks.janus.legacy_bots, the old benchmark's aiortc bots (a real-time tone
  encoded by aiortc, listeners hooked after SRTP), with loss and delays added.

The window (after every listener has heard the speaker and a warm-up): server CPU
(utime+stime of all threads, /proc/<pid>/stat), RSS and threads at both ends and every
second; the listeners' received and expected packets and delay samples; this process's CPU
(the bots'); for Gethory also /metrics (forwarded packets, forwarding-delay histogram),
scraped before the /proc sample at the start and after it at the end, so that no scrape is
billed to the window; its count is scaled from the span between the scrapes to the window
(a loaded server answers a scrape late), so forwarded − received is about the packets in
flight at the end.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol

import aiohttp
from aiortc import RTCConfiguration

from benchmarks.accounts import bounded
from benchmarks.bots import ProcessSample, ServerProcess, machine_busy_seconds, sample_process
from benchmarks.janus.legacy_bots import LegacyListener, LegacySpeaker, PayloadClock
from benchmarks.janus.netns import BOT_ADDRESS
from benchmarks.media_bots import ListenerBot, SpeakerBot, new_send_log
from benchmarks.results import make_figures, percentiles
from benchmarks.signaling import JoinFailed
from sfu.aiortc_hooks import use_host_addresses

SETUP_SECONDS = 240.0  # the joins of one server's bots
HEAR_SECONDS = 20.0  # for every listener to receive its first packet
SAMPLE_SECONDS = 1.0  # time series resolution inside the window
BUSY_PERCENT = 85.0  # a process this busy (of one core) is the limit

Listener = ListenerBot | LegacyListener
Speaker = SpeakerBot | LegacySpeaker


class Signaling(Protocol):
    """benchmarks.signaling.RoomSignaling, for bots of either kit."""

    join_sent_at: float | None

    async def enter(self, bot: Any) -> None: ...
    async def leave(self) -> None: ...


SignalingFactory = Callable[[bool, str], Signaling]  # (publisher?, bot name) → signaling


def bot_rtc() -> RTCConfiguration:
    """Bots gather on the namespace's bot address only, with no STUN/TURN server at all."""
    use_host_addresses([BOT_ADDRESS])
    return RTCConfiguration(iceServers=[])


@dataclass
class BotKit:
    """Makes one round's speaker and listeners; `close()` frees what they share."""

    kind: str
    speaker: Callable[[], Speaker]
    listener: Callable[[str, int], Listener]  # (name, recvonly slots: 0 when answering)
    close: Callable[[], None]


def bot_kit(kind: str) -> BotKit:
    """A fresh kit of `kind` ("media" or "legacy"; ValueError otherwise)."""
    rtc = bot_rtc()
    if kind == "media":
        log = new_send_log(1)

        def close() -> None:
            log.close()
            log.unlink()

        return BotKit(
            kind,
            lambda: SpeakerBot("speaker", rtc, speaker_index=0, send_log=log),
            lambda name, slots: ListenerBot(name, rtc, slots=slots, send_log=log),
            close,
        )
    if kind == "legacy":
        clock = PayloadClock()
        return BotKit(
            kind,
            lambda: LegacySpeaker("speaker", rtc, clock),
            lambda name, slots: LegacyListener(name, rtc, clock, slots=slots),
            lambda: None,
        )
    raise ValueError(f"bots: media or legacy, not {kind!r}")


def received(bot: Listener) -> int:
    return bot.stats.received if isinstance(bot, ListenerBot) else bot.received


def expected(bot: Listener) -> int:
    return bot.stats.expected if isinstance(bot, ListenerBot) else bot.expected


def first_at(bot: Listener) -> float | None:
    return bot.stats.first_at if isinstance(bot, ListenerBot) else bot.first_at


# --- Gethory's counters ----------------------------------------------------------------------


@dataclass(frozen=True)
class GethoryCounters:
    """From Gethory's /metrics: forwarded packets and the forwarding-delay histogram
    (cumulative counts by upper bound in µs: Prometheus' `le`). `at`: when the server read
    them, taken as the middle of the request (time.monotonic()); a busy server answers late,
    and the counter goes on counting meanwhile."""

    forwarded: int
    delay_buckets: dict[float, float]
    at: float


CounterProbe = Callable[[], Awaitable[GethoryCounters]]


async def gethory_counters(http: aiohttp.ClientSession) -> GethoryCounters:
    """Scrape `/metrics` of the server `http` points at; RuntimeError without the counter."""
    sent = time.monotonic()
    async with http.get("/metrics") as response:
        text = await response.text()
    at = (sent + time.monotonic()) / 2
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
    return GethoryCounters(forwarded, buckets, at)


def bucket_quantile(q: float, start: dict[float, float], end: dict[float, float]) -> float | None:
    """The upper bound (µs) of the bucket holding the q-quantile of the observations made
    between two scrapes of a cumulative histogram; None without observations, or when the
    quantile lies beyond the last finite bound."""
    bounds = sorted(end)
    cumulative = [end[b] - start.get(b, 0.0) for b in bounds]
    if not cumulative or cumulative[-1] <= 0:
        return None
    for bound, count in zip(bounds, cumulative, strict=True):
        if count >= q * cumulative[-1]:
            return None if math.isinf(bound) else bound
    return None


# --- the round -------------------------------------------------------------------------------


@dataclass
class Joined:
    """The bots in the room and how their joins went."""

    speaker: Speaker
    listeners: list[Listener] = field(default_factory=list)
    signalings: list[Signaling] = field(default_factory=list)  # speaker's first
    join_ms: list[float] = field(default_factory=list)  # join sent → first packet heard
    errors: dict[str, int] = field(default_factory=dict)  # failed joins by JoinFailed.code
    never_heard: int = 0

    async def close(self) -> None:
        await asyncio.gather(*(s.leave() for s in self.signalings), return_exceptions=True)
        bots: list[Speaker | Listener] = [self.speaker, *self.listeners]
        await asyncio.gather(*(b.close() for b in bots), return_exceptions=True)


@dataclass
class Round:
    """What a round measured: the figures (RunResult names, plus
    forwarded_minus_received_packets, machine_busy_percent, listeners_never_heard), the time
    series, the delay and join samples, failed joins and what ran out first."""

    figures: dict[str, float | int | None]
    series: dict[str, list[tuple[float, float]]]
    distributions: dict[str, list[float]]
    errors: dict[str, int]
    limit: str


async def fanout_round(
    server: ServerProcess,
    signaling: SignalingFactory,
    kit: BotKit,
    *,
    listeners: int,
    seconds: float,
    warmup: float,
    listener_slots: int,
    counters: CounterProbe | None = None,
) -> Round:
    """Join the speaker then `listeners` listeners (8 at a time) through `signaling`, wait
    until they hear, warm up, measure `seconds`, and leave. `listener_slots`: recvonly lines
    a listener offers (0 for a server that offers, as Janus does); `counters`: the server's
    own forwarded-packet counter, None to count what the listeners received.

    Raises JoinFailed when the speaker cannot join; listeners that cannot are counted in
    `errors` and the round goes on with the others."""
    baseline = sample_process(server.pid)
    joined = Joined(kit.speaker())
    try:
        async with asyncio.timeout(SETUP_SECONDS):
            speaker_signaling = signaling(True, "speaker")
            joined.signalings.append(speaker_signaling)
            await speaker_signaling.enter(joined.speaker)
            await _join_listeners(joined, signaling, kit, listeners, listener_slots)
        print(f"  {len(joined.listeners)} listeners in, {sum(joined.errors.values())} failed")
        joined.never_heard = await _wait_heard(joined.listeners)
        for bot, room_signaling in zip(joined.listeners, joined.signalings[1:], strict=True):
            heard, sent = first_at(bot), room_signaling.join_sent_at
            if heard is not None and sent is not None:
                joined.join_ms.append((heard - sent) * 1000)
        await asyncio.sleep(warmup)  # a duration: the warm-up is not an event
        window = await _measure(server.pid, joined.listeners, seconds, counters)
    finally:
        await joined.close()
    figures = _figures(window, baseline, joined)
    return Round(
        figures=figures,
        series=window.series,
        distributions={"e2e_delay_ms": window.delays_ms, "join_ms": joined.join_ms},
        errors=joined.errors,
        limit=_limit(figures),
    )


async def _join_listeners(
    joined: Joined, signaling: SignalingFactory, kit: BotKit, count: int, slots: int
) -> None:
    async def enter(n: int) -> None:
        bot = kit.listener(f"listener-{n}", slots)
        room_signaling = signaling(False, f"listener-{n}")
        try:
            await room_signaling.enter(bot)
        except JoinFailed as failure:
            joined.errors[failure.code] = joined.errors.get(failure.code, 0) + 1
            await asyncio.gather(room_signaling.leave(), bot.close(), return_exceptions=True)
            return
        joined.listeners.append(bot)
        joined.signalings.append(room_signaling)

    await bounded([partial(enter, n) for n in range(count)])


async def _wait_heard(listeners: Sequence[Listener]) -> int:
    """Wait until every listener has received a packet; how many never did."""
    deadline = time.monotonic() + HEAR_SECONDS
    while True:
        silent = sum(1 for bot in listeners if not received(bot))
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
    def take(
        cls, pid: int, listeners: Sequence[Listener], counters: GethoryCounters | None = None
    ) -> _Sample:
        return cls(
            at=time.monotonic(),
            server=sample_process(pid),
            bot_cpu=time.process_time(),
            machine_busy=machine_busy_seconds(),
            received=sum(received(bot) for bot in listeners),
            expected=sum(expected(bot) for bot in listeners),
            delays=tuple(len(bot.delays_ms) for bot in listeners),
            counters=counters,
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
    pid: int, listeners: Sequence[Listener], seconds: float, counters: CounterProbe | None
) -> _Window:
    # The scrape before the start sample and after the end one: the window bills none.
    first_counters = await counters() if counters else None
    start = previous = _Sample.take(pid, listeners, first_counters)
    series: dict[str, list[tuple[float, float]]] = {
        name: [] for name in ("server_cpu_percent", "server_rss_mb", "packets_per_second")
    }
    rss_peak = start.server.rss_bytes
    while True:
        remaining = start.at + seconds - time.monotonic()
        if remaining <= 0:
            break
        await asyncio.sleep(min(SAMPLE_SECONDS, remaining))  # the window: a duration
        now = _Sample.take(pid, listeners)
        span, t = now.at - previous.at, now.at - start.at
        cpu = now.server.cpu_seconds - previous.server.cpu_seconds
        series["server_cpu_percent"].append((t, 100 * cpu / span))
        series["server_rss_mb"].append((t, now.server.rss_bytes / 2**20))
        series["packets_per_second"].append((t, (now.received - previous.received) / span))
        rss_peak = max(rss_peak, now.server.rss_bytes)
        previous = now
    end = previous
    if counters:
        end = _Sample.take(pid, listeners)
        end = replace(end, counters=await counters())
    delays = [
        delay
        for bot, first, last in zip(listeners, start.delays, end.delays, strict=True)
        for delay in bot.delays_ms[first:last]
    ]
    return _Window(start, end, max(rss_peak, end.server.rss_bytes), delays, series)


def _figures(w: _Window, baseline: ProcessSample, joined: Joined) -> dict[str, float | int | None]:
    seconds = w.seconds
    server_cpu = w.end.server.cpu_seconds - w.start.server.cpu_seconds
    got = w.end.received - w.start.received
    wanted = w.end.expected - w.start.expected
    lost = max(0, wanted - got)
    forwarded = got
    delay_us: list[float | None] = [None, None, None]
    if w.start.counters is not None and w.end.counters is not None:
        # The counter's rate between the two scrapes, over the window: the scrapes lie
        # outside the window (so no scrape is billed to the CPU), a little before and after.
        counted = w.end.counters.forwarded - w.start.counters.forwarded
        span = w.end.counters.at - w.start.counters.at
        forwarded = round(counted * seconds / span) if span > 0 else counted
        delay_us = [
            bucket_quantile(q, w.start.counters.delay_buckets, w.end.counters.delay_buckets)
            for q in (0.50, 0.95, 0.99)
        ]
    bot_cpu = w.end.bot_cpu - w.start.bot_cpu
    participants = len(joined.listeners) + 1
    e2e, join = percentiles(w.delays_ms), percentiles(joined.join_ms)
    rss_growth = w.end.server.rss_bytes - baseline.rss_bytes
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
        received_packets=got,
        expected_packets=wanted,
        lost_packets=lost,
        loss_percent=100 * lost / wanted if wanted else None,
        join_ms_p50=join[0],
        join_ms_p95=join[1],
        join_ms_p99=join[2],
        joins_ok=participants,
        joins_failed=sum(joined.errors.values()),
        participants=participants,
        server_rss_mb_start=baseline.rss_bytes / 2**20,
        server_rss_mb_peak=w.rss_peak / 2**20,
        server_rss_mb_end=w.end.server.rss_bytes / 2**20,
        server_rss_kb_per_participant=rss_growth / 1024 / participants,
        bot_cpu_us_per_received_packet=bot_cpu / got * 1e6 if got else None,
        bot_cpu_percent=100 * bot_cpu / seconds,
        bot_processes=1,
        server_threads_start=baseline.threads,
        server_threads_end=w.end.server.threads,
    )
    # Beyond the common names: the cross-check, the rest of the machine, the silent ones.
    figures["forwarded_minus_received_packets"] = forwarded - got
    figures["machine_busy_percent"] = 100 * (w.end.machine_busy - w.start.machine_busy) / seconds
    figures["listeners_never_heard"] = joined.never_heard
    return figures


def _limit(figures: dict[str, float | int | None]) -> str:
    server = figures.get("server_cpu_percent") or 0.0
    bots = figures.get("bot_cpu_percent") or 0.0
    if max(server, bots) < BUSY_PERCENT and (figures.get("loss_percent") or 0.0) <= 1.0:
        return "none"
    return "server" if server >= bots else "bots"
