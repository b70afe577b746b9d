"""The run harness every scenario uses: accounts, rooms, bot processes, sampling, windows.

A `Bench` owns, for one run: the target server (benchmarks.targets), its probe
(benchmarks.server_probe, sampled every second), the bot processes (benchmarks.workers), the
SendLog shared with them (end-to-end delay), the live progress display, and what it has
gathered so far: join records, delay samples, time series. Scenarios call `tokens`,
`room`, `join`, `leave`, `wait_heard`, `measure` (a measurement window) and `result`.

Placement: worker 0 hosts the speakers and the decoding listeners; header-only listeners go
round-robin to workers 1..N-1 (to worker 0 as well when there is one process), so the bots'
CPU per received packet is measured on processes that do nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.bots import machine_busy_seconds
from benchmarks.progress import Progress
from benchmarks.results import (
    FIGURE_NAMES,
    RunResult,
    machine_description,
    make_figures,
    percentile_figures,
    utc_now,
    versions,
)
from benchmarks.server_probe import ProbeSample, ServerProbe, cpu_percent, highest_bucket, quantile
from benchmarks.targets import BenchError, Target
from benchmarks.workers import BotSpec, PoolStats, WorkerConfig, WorkerPool

HEAR_SECONDS = 30.0  # for every listener to receive its first packet
LIMIT_PERCENT = 85.0  # a process this busy (of one core) is the limit
LAG_LIMIT_MS = 100.0  # a server event loop this late (p99) cannot keep audio on time
IN_FLIGHT_SECONDS = 0.25  # forwarded but not yet counted: sampling skew plus the path's delay


@dataclass
class Window:
    """Two moments of a run and what happened between them."""

    start: PoolStats
    end: PoolStats
    probe_start: ProbeSample
    probe_end: ProbeSample
    machine_busy_seconds: float
    delays_ms: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.end.at - self.start.at

    def counter(self, name: str) -> float:
        return self.end.counters.get(name, 0.0) - self.start.counters.get(name, 0.0)


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


class Bench:
    """One run against one target (see the module docstring)."""

    def __init__(
        self,
        target: Target,
        probe: ServerProbe,
        progress: Progress,
        *,
        processes: int,
        relay_only: bool = False,
    ) -> None:
        self.target = target
        self.probe = probe
        self.progress = progress
        self.processes = max(1, processes)
        self.relay_only = relay_only
        self.started = time.monotonic()
        self.started_at = utc_now()
        self.pool: WorkerPool | None = None
        self.send_log: Any = None
        self.join_records: list[tuple[float, float | None, str | None]] = []
        self.connect_records: list[tuple[float, float]] = []  # (join sent, ms to media up)
        self.delays: list[tuple[float, float]] = []  # (monotonic time reported, ms)
        self.series: dict[str, list[tuple[float, float]]] = {}
        self.baseline: ProbeSample | None = None
        self.last: PoolStats | None = None
        self.target_participants = 0
        self._monitor: asyncio.Task[None] | None = None
        self._next_listener = 0
        self._tokens_used = 0
        self._tokens: list[str] = []
        self.speakers = 1  # clips in the SendLog (speaker indices 0..speakers-1)
        self.refusals: list[dict[str, Any]] = []  # every failed join's outcome, in order
        self.homes: dict[str, int] = {}  # each bot's worker

    # --- set-up ------------------------------------------------------------------------

    async def start(self, *, speakers: int, join_concurrency: int = 16) -> None:
        """Baseline sample, SendLog for `speakers` clips, bot processes, sampling task."""
        from benchmarks.media_bots import MAX_CLIP_FRAMES, new_send_log

        await self.probe.check()
        self.baseline = await self.probe.sample()
        self.probe.samples.append(self.baseline)
        frames = MAX_CLIP_FRAMES
        self.speakers = max(1, speakers)
        self.send_log = new_send_log(self.speakers)
        config = WorkerConfig(
            base_url=self.target.base_url,
            rtc=self.target.rtc,
            relay_only=self.relay_only,
            send_log=self.send_log.name,
            speakers=max(1, speakers),
            frames=frames,
            join_concurrency=join_concurrency,
        )
        self.pool = WorkerPool(self.processes, config)
        self._monitor = asyncio.get_running_loop().create_task(self._watch())

    async def close(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._monitor
        if self.pool is not None:
            self.progress.update(phase="stopping bots")
            await self.pool.close()
        if self.send_log is not None:
            self.send_log.unlink()

    async def tokens(self, count: int) -> list[str]:
        """`count` fresh bot accounts' tokens (each account joins once at a time)."""
        self.progress.update(phase=f"signing in {count} bots")
        self._tokens = await self.target.tokens(count)
        return self._tokens

    async def room(
        self,
        token: str,
        *,
        media: str = "sfu",
        slots: int | None = None,
        size: int | None = None,
        stage: bool = False,
    ) -> str:
        return await self.target.create_room(
            token, media=media, slots=slots, max_participants=size, stage=stage
        )

    # --- bots ----------------------------------------------------------------------------

    @property
    def workers(self) -> WorkerPool:
        if self.pool is None:
            raise RuntimeError("Bench.start() first")
        return self.pool

    def place(self, spec: BotSpec) -> int:
        """The worker for a bot (see the module docstring)."""
        if spec.role == "speaker" or spec.decode or spec.witness or self.processes == 1:
            return 0
        worker = 1 + self._next_listener % (self.processes - 1)
        self._next_listener += 1
        return worker

    async def join(self, specs: Sequence[BotSpec]) -> dict[str, list[str]]:
        """Join the bots (each on its worker, concurrently); names by worker; failures are
        counted by code in the stats, not raised."""
        by_worker: dict[int, list[BotSpec]] = {}
        for spec in specs:
            worker = self.place(spec)
            self.homes[spec.name] = worker
            by_worker.setdefault(worker, []).append(spec)
        outcomes = await asyncio.gather(
            *(self.workers.join(w, bots) for w, bots in by_worker.items())
        )
        self.refusals += [o for results in outcomes for o in results if not o["ok"]]
        return {
            str(w): [o["name"] for o in results if o["ok"]]
            for w, results in zip(by_worker, outcomes, strict=True)
        }

    async def join_paced(self, specs: Sequence[BotSpec], rate: float) -> dict[str, list[str]]:
        """Join the bots one by one, the i-th at i/rate seconds from now; names by worker."""
        started = time.monotonic()
        tasks = []
        for i, spec in enumerate(specs):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing: the i-th join leaves at i/rate seconds
            tasks.append(asyncio.ensure_future(self.join([spec])))
        joined: dict[str, list[str]] = {}
        for outcome in await asyncio.gather(*tasks):
            for worker, names in outcome.items():
                joined.setdefault(worker, []).extend(names)
        return joined

    async def call(self, name: str, event: str, data: dict[str, Any]) -> dict[str, Any]:
        """Bot `name` sends one acknowledged Socket.IO event; the ack (WorkerError on a
        refusal, with the server's code)."""
        return await self.workers.call(self.homes[name], name, event, data)

    async def leave(self, joined: dict[str, list[str]]) -> None:
        await asyncio.gather(*(self.workers.leave(int(w), names) for w, names in joined.items()))

    def check_joined(self, joined: dict[str, list[str]], wanted: int) -> None:
        """BenchError when the server refused every join (a wrong URL, a closed server...)."""
        if wanted and not any(joined.values()) and self.refusals:
            first = self.refusals[-1]
            if first["code"] == "error":  # a bot's own failure, not the server's refusal
                raise RuntimeError(f"every join failed: {first['message']}")
            raise BenchError(
                f"the server refused every join ({wanted}): {first['code']}: {first['message']}"
            )

    async def wait_heard(self, listeners: int, within: float = HEAR_SECONDS) -> int:
        """Wait until `listeners` listeners have each received a packet; how many have not."""
        return await self.wait_heard_since(0.0, listeners, within)

    async def wait_heard_since(self, since: float, listeners: int, within: float) -> int:
        """Wait until `listeners` listeners whose join was sent after `since` (monotonic)
        have each received a packet, at most `within` seconds; how many have not."""
        deadline = time.monotonic() + within
        while True:
            await self.poll()
            heard = len([r for r in self.join_records if r[0] >= since and r[1] is not None])
            if heard >= listeners or time.monotonic() > deadline:
                return max(0, listeners - heard)
            await asyncio.sleep(0.2)

    # --- sampling --------------------------------------------------------------------------

    async def poll(self) -> PoolStats:
        """The workers' stats now; join records and delay samples are kept."""
        stats = await self.workers.stats()
        self.last = stats
        for worker in stats.workers:
            self.join_records.extend(tuple(r) for r in worker.join_records)  # type: ignore[misc]
            self.connect_records.extend((r[0], r[1]) for r in worker.connect_records)
            self.delays.extend((stats.at, d) for d in worker.delays_ms)
        return stats

    async def _watch(self) -> None:
        previous: tuple[PoolStats, ProbeSample] | None = None
        while True:
            stats, sample = await asyncio.gather(self.poll(), self.probe.sample())
            self.probe.samples.append(sample)
            self._record(previous, stats, sample)
            previous = (stats, sample)
            await asyncio.sleep(1.0)  # the sampling period

    def _record(
        self, previous: tuple[PoolStats, ProbeSample] | None, stats: PoolStats, sample: ProbeSample
    ) -> None:
        t = stats.at - self.started
        participants = stats.listeners + stats.speakers
        self._add("participants", t, participants)
        if sample.rss_bytes is not None:
            self._add("server_rss_mb", t, sample.rss_bytes / 2**20)
        status: dict[str, Any] = {
            "joined": participants,
            "failed": sum(stats.failures.values()),
            "failures": ", ".join(f"{code} {n}" for code, n in sorted(stats.failures.items())),
            "target": self.target_participants,
        }
        if stats.witnesses:
            status["witness"] = witness_line(stats.messages, stats.witnesses)
        if previous is not None:
            before, probe_before = previous
            seconds = stats.at - before.at
            if seconds > 0:
                pps, bots = _rates(before, stats)
                self._add("packets_per_second", t, pps)
                self._add("bot_cpu_percent", t, bots)
                status.update(packets_per_second=pps, bot_cpu_percent=bots)
                expected = stats.counters.get("expected", 0) - before.counters.get("expected", 0)
                lost = stats.counters.get("lost", 0) - before.counters.get("lost", 0)
                if expected > 0:
                    loss = 100 * max(0.0, lost) / expected
                    self._add("loss_percent", t, loss)
                    status["loss_percent"] = loss
            for _, percent in cpu_percent([probe_before, sample]):
                self._add("server_cpu_percent", t, percent)
                status["server_cpu_percent"] = percent
        self.progress.update(**status)

    def _add(self, name: str, t: float, value: float) -> None:
        self.series.setdefault(name, []).append((round(t, 3), float(value)))

    async def measure(self, seconds: float, phase: str = "measuring") -> Window:
        """A measurement window of `seconds`: stats and a probe sample at both ends."""
        self.progress.update(phase=phase)
        busy = machine_busy_seconds()
        start, probe_start = await asyncio.gather(self.poll(), self.probe.sample())
        await asyncio.sleep(seconds)  # the window itself: a duration, not an event
        end, probe_end = await asyncio.gather(self.poll(), self.probe.sample())
        busy = machine_busy_seconds() - busy
        delays = [d for at, d in self.delays if start.at < at <= end.at]
        return Window(start, end, probe_start, probe_end, busy, delays)

    # --- figures ---------------------------------------------------------------------------

    def figures(self, window: Window) -> dict[str, float | int | None]:
        """Every figure of the spec that this window measured (the rest None)."""
        w = window
        seconds = w.seconds
        ps, pe = w.probe_start, w.probe_end
        forwarded = _delta(ps.forwarded, pe.forwarded)
        server_cpu = _delta(ps.cpu_seconds, pe.cpu_seconds)
        received = w.counter("received")
        expected = w.counter("expected")
        lost = max(0.0, w.counter("lost"))
        bot_cpu = w.end.cpu_seconds - w.start.cpu_seconds
        header_cpu, header_received = self._header_listener_cost(w)
        joins = [ms for _, ms, code in self.join_records if ms is not None]
        ok = len([r for r in self.join_records if r[2] is None])
        failed = len([r for r in self.join_records if r[2] is not None])
        participants = w.end.listeners + w.end.speakers
        base_rss = self.baseline.rss_bytes if self.baseline else None
        peak = self.probe.peak_rss(self.started)
        tones = [t for worker in w.end.workers for t in worker.tones]
        figures: dict[str, Any] = {
            "server_cpu_us_per_forwarded_packet": (
                server_cpu / forwarded * 1e6 if server_cpu is not None and forwarded else None
            ),
            "server_cpu_percent": 100 * server_cpu / seconds if server_cpu is not None else None,
            "forwarded_packets": forwarded,
            "forwarded_packets_per_second": forwarded / seconds if forwarded is not None else None,
            "server_forwarding_delay_us_p50": quantile(0.50, ps.delay_us, pe.delay_us),
            "server_forwarding_delay_us_p95": quantile(0.95, ps.delay_us, pe.delay_us),
            "server_forwarding_delay_us_p99": quantile(0.99, ps.delay_us, pe.delay_us),
            **percentile_figures("e2e_delay_ms", w.delays_ms),
            "received_packets": received,
            "expected_packets": expected,
            "lost_packets": lost,
            "loss_percent": 100 * lost / expected if expected > 0 else None,
            "duplicate_packets": w.counter("duplicates"),
            "reordered_packets": w.counter("reordered"),
            "jitter_ms_p95": percentile_figures("j", w.end.jitter_ms)["j_p95"],
            "slot_switches": w.end.slot_switches - w.start.slot_switches,
            "marker_packets": w.counter("marker_packets"),
            **percentile_figures("join_ms", joins),
            "joins_ok": ok,
            "joins_failed": failed,
            "participants": participants,
            "server_rss_mb_start": base_rss / 2**20 if base_rss is not None else None,
            "server_rss_mb_peak": peak / 2**20 if peak is not None else None,
            "server_rss_mb_end": pe.rss_bytes / 2**20 if pe.rss_bytes is not None else None,
            "server_rss_kb_per_participant": (
                (pe.rss_bytes - base_rss) / 1024 / participants
                if pe.rss_bytes is not None and base_rss is not None and participants
                else None
            ),
            "event_loop_lag_ms_p99": _ms(quantile(0.99, ps.lag_seconds, pe.lag_seconds)),
            "event_loop_lag_ms_max": _ms(highest_bucket(ps.lag_seconds, pe.lag_seconds)),
            "bot_cpu_us_per_received_packet": (
                header_cpu / header_received * 1e6 if header_received else None
            ),
            "bot_cpu_percent": 100 * bot_cpu / seconds,
            "bot_processes": self.processes,
            "tones_checked": len([t for t in tones if t[1] is not None]) if tones else None,
            "tones_ok": len([t for t in tones if _tone_ok(*t, self.speakers)]) if tones else None,
            "server_threads_start": self.baseline.threads if self.baseline else None,
            "server_threads_end": pe.threads,
            "server_fds_start": self.baseline.fds if self.baseline else None,
            "server_fds_end": pe.fds,
        }
        result = make_figures(figures)
        # Consistency: what the server says it forwarded vs what the listeners counted. At
        # either end of the window, packets on their way (rate × the path's delay, p95) and
        # the moments between the server's and the bots' samples may fall on either side.
        if forwarded is not None:
            e2e_p95 = result.get("e2e_delay_ms_p95")
            path = (e2e_p95 if isinstance(e2e_p95, int | float) else 0.0) / 1000
            result["forwarded_minus_received_packets"] = forwarded - received
            result["in_flight_allowance_packets"] = math.ceil(
                (IN_FLIGHT_SECONDS + path) * max(forwarded, received) / seconds
            )
        result["machine_busy_percent"] = 100 * w.machine_busy_seconds / seconds
        return result

    def figures_without_window(self, **given: Any) -> dict[str, float | int | None]:
        """The run-wide figures (joins, server RSS, threads, fds) plus `given`."""
        joins = [ms for _, ms, _ in self.join_records if ms is not None]
        last = self.probe.samples[-1] if self.probe.samples else None
        base = self.baseline
        peak = self.probe.peak_rss(self.started)
        figures: dict[str, Any] = {
            **percentile_figures("join_ms", joins),
            "joins_ok": len([r for r in self.join_records if r[2] is None]),
            "joins_failed": len([r for r in self.join_records if r[2] is not None]),
            "server_rss_mb_start": _mb(base.rss_bytes if base else None),
            "server_rss_mb_peak": _mb(peak),
            "server_rss_mb_end": _mb(last.rss_bytes if last else None),
            "bot_processes": self.processes,
            "server_threads_start": base.threads if base else None,
            "server_threads_end": last.threads if last else None,
            "server_fds_start": base.fds if base else None,
            "server_fds_end": last.fds if last else None,
        }
        figures.update(given)
        return make_figures({k: v for k, v in figures.items() if k in FIGURE_NAMES}) | {
            k: v for k, v in figures.items() if k not in FIGURE_NAMES
        }

    def error_examples(self) -> dict[str, str]:
        """The first message seen for each failed join's code (from the last report)."""
        examples: dict[str, str] = {}
        for worker in self.last.workers if self.last is not None else []:
            for code, message in worker.failure_examples.items():
                examples.setdefault(code, message)
        return examples

    def _header_listener_cost(self, w: Window) -> tuple[float, float]:
        """CPU seconds and packets received of the processes holding header-only listeners
        (workers 1..N-1; worker 0 too when it is the only one)."""
        chosen = range(1, self.processes) if self.processes > 1 else range(1)
        cpu = received = 0.0
        for i in chosen:
            a, b = w.start.workers[i], w.end.workers[i]
            cpu += b.cpu_seconds - a.cpu_seconds
            received += b.counters.get("received", 0) - a.counters.get("received", 0)
        return cpu, received

    def limit(self, window: Window, figures: dict[str, Any]) -> tuple[str, str]:
        """Which ran out first, and the figures that show it: see `limit_of`."""
        return limit_of(window, figures)

    def result(
        self,
        scenario: str,
        parameters: dict[str, Any],
        figures: dict[str, Any],
        *,
        limit: tuple[str, str],
        window: Window | None,
        points: list[dict[str, float]] | None = None,
    ) -> RunResult:
        joins = [ms for _, ms, _ in self.join_records if ms is not None]
        errors: dict[str, int] = {}
        for _, _, code in self.join_records:
            if code is not None:
                errors[code] = errors.get(code, 0) + 1
        distributions = {"join_ms": joins}
        if window is not None:
            distributions["e2e_delay_ms"] = window.delays_ms
            distributions["jitter_ms"] = window.end.jitter_ms
        return RunResult(
            scenario=scenario,
            parameters={
                **parameters,
                "processes": self.processes,
                "limit_detail": limit[1],
                "error_examples": self.error_examples(),
            },
            target=self.target.describe(),
            machine=machine_description(),
            versions=versions(),
            started_at=self.started_at,
            duration_seconds=round(time.monotonic() - self.started, 3),
            figures=figures,
            series=dict(self.series),
            distributions=distributions,
            points=points or [],
            errors=errors,
            limit=limit[0],
        )


def limit_of(window: Window, figures: dict[str, Any]) -> tuple[str, str]:
    """Which ran out first, and the figures that show it (one line).

    "server": its one Python process near a full core; "bots": a bot process near a full
    core; "machine": neither, but every core busy (other processes included: the
    server's event-loop lag is then the machine's doing); "server" again when its event
    loop is late by LAG_LIMIT_MS (p99) on a machine with room to spare; else loss or
    failed joins charge whichever of the server and the busiest bot process was busier, or
    "unknown" when the server's CPU was not measured (a remote server without
    --metrics-token); "none"."""
    seconds = window.seconds
    busiest = max(
        100 * (b.cpu_seconds - a.cpu_seconds) / seconds
        for a, b in zip(window.start.workers, window.end.workers, strict=True)
    )
    server = figures.get("server_cpu_percent")
    loss = figures.get("loss_percent") or 0.0
    lag = figures.get("event_loop_lag_ms_p99")
    machine = figures.get("machine_busy_percent") or 0.0
    failed = figures.get("joins_failed") or 0
    tried = failed + (figures.get("joins_ok") or 0)
    cores = float(os.cpu_count() or 1)
    detail = (
        f"server CPU {_fmt(server)} % of one core, event-loop lag p99 {_fmt(lag)} ms, "
        f"busiest bot process {busiest:.0f} % of one core, machine {machine:.0f} % of one "
        f"core ({cores:.0f} cores), loss {loss:.2f} %, failed joins {failed} of {tried}"
    )
    if server is not None and server >= LIMIT_PERCENT:
        return "server", detail
    if busiest >= LIMIT_PERCENT:
        return "bots", detail
    if machine >= 0.9 * 100 * cores:  # no one process full, but no core free either
        return "machine", detail
    if lag is not None and lag >= LAG_LIMIT_MS:
        return "server", detail
    if loss > 1.0 or (tried and failed > 0.01 * tried):
        if server is None:  # a remote server without --metrics-token: no one to charge
            return "unknown", detail + " (server CPU not measured: --metrics-token)"
        return ("server" if server >= busiest else "bots"), detail
    return "none", detail


def witness_line(messages: dict[str, int], witnesses: int) -> str:
    """What a witness has received since it joined, e.g. "42 (speakers 30, room-state 1)"."""
    per = {e: n / max(1, witnesses) for e, n in messages.items() if not e.startswith("#")}
    by_event = ", ".join(f"{e} {n:,.0f}" for e, n in sorted(per.items(), key=lambda i: -i[1]))
    return f"{sum(per.values()):,.0f}" + (f" ({by_event})" if by_event else "")


def _rates(before: PoolStats, after: PoolStats) -> tuple[float, float]:
    """Packets/s received and bot CPU (% of one core) between two reports, each worker over
    its own report times: a busy worker answers late, and the coordinator's clock would
    charge its packets to the wrong second."""
    packets = cpu = 0.0
    for a, b in zip(before.workers, after.workers, strict=True):
        seconds = b.at - a.at
        if seconds > 0:
            packets += (b.counters.get("received", 0) - a.counters.get("received", 0)) / seconds
            cpu += 100 * (b.cpu_seconds - a.cpu_seconds) / seconds
    return packets, cpu


def _mb(size: float | None) -> float | None:
    return None if size is None else size / 2**20


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _tone_ok(speaker_index: int, heard_hz: float | None, speakers: int) -> bool:
    """Whether a decoding listener heard speaker `speaker_index`'s tone (any of the run's
    `speakers` for -1: speakers taking turns), within 3 % or 10 Hz."""
    if heard_hz is None:
        return False
    from benchmarks.opus_clip import speaker_hz

    candidates = range(speakers) if speaker_index < 0 else [speaker_index]
    return any(abs(heard_hz - speaker_hz(i)) <= max(10.0, 0.03 * speaker_hz(i)) for i in candidates)


def window_points(window: Window, figures: dict[str, Any], **extra: float) -> dict[str, float]:
    """One sweep step's point: `extra` (e.g. listeners=40) and the figures it measured."""
    point = {k: float(v) for k, v in figures.items() if isinstance(v, int | float)}
    return {**extra, **point}
