"""What the server costs while bots load it: CPU, memory, threads, fds, packets, delays.

A local server (a pid on this machine) is read from /proc/<pid> (proc(5): stat fields 14–15
utime/stime, 20 threads, 24 RSS pages; the entries of fd/), and its `/metrics` for what only
it counts. A remote server is read from its `/metrics` alone (Prometheus text format,
parsed with prometheus_client's parser), sent `Authorization: Bearer <METRICS_TOKEN>` when
given: process_cpu_seconds_total, process_resident_memory_bytes, process_threads,
process_open_fds, gethory_sfu_forwarded_packets_total, gethory_signaling_connections, and
two histograms: gethory_sfu_forwarding_delay_microseconds (packet received → last copy
sent) and gethory_event_loop_lag_seconds (how late a timer ran).

Percentiles of a window come from the difference of the histograms' cumulative bucket counts
at its two ends, interpolated linearly inside a bucket as Prometheus' histogram_quantile
does; a percentile that falls in the +Inf bucket is the largest finite bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.bots import sample_process
from benchmarks.targets import BenchError

Buckets = list[tuple[float, float]]  # cumulative (upper bound `le`, count), ascending


@dataclass(frozen=True)
class ProbeSample:
    """The server at one moment (`at`: time.monotonic()); None where it cannot be read."""

    at: float
    cpu_seconds: float | None = None
    rss_bytes: float | None = None
    threads: float | None = None
    fds: float | None = None
    forwarded: float | None = None
    connections: float | None = None
    delay_us: Buckets = field(default_factory=list)
    lag_seconds: Buckets = field(default_factory=list)


def parse_metrics(text: str) -> dict[str, float | Buckets]:
    """Scalar samples by name (`process_cpu_seconds_total`, ...) and histograms' cumulative
    buckets by family name, from Prometheus text exposition format."""
    values: dict[str, float | Buckets] = {}
    for family in text_string_to_metric_families(text):
        if family.type == "histogram":
            buckets = [
                (float(s.labels["le"]), float(s.value))
                for s in family.samples
                if s.name.endswith("_bucket") and not set(s.labels) - {"le"}
            ]
            values[family.name] = sorted(buckets)
            continue
        for sample in family.samples:
            if not sample.labels:
                values[sample.name] = float(sample.value)
    return values


def quantile(q: float, start: Buckets, end: Buckets) -> float | None:
    """The q-quantile (0..1) of what a histogram observed between two scrapes; None if
    nothing was observed."""
    before = dict(start)
    deltas = [(le, count - before.get(le, 0.0)) for le, count in end]
    if not deltas or deltas[-1][1] <= 0:
        return None
    total = deltas[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    finite = [le for le, _ in deltas if le != float("inf")]
    for le, cumulative in deltas:
        if cumulative >= rank:
            if le == float("inf"):
                return finite[-1] if finite else None
            inside = cumulative - below
            share = (rank - below) / inside if inside > 0 else 1.0
            return lower + (le - lower) * share
        lower, below = le, cumulative
    return finite[-1] if finite else None


def highest_bucket(start: Buckets, end: Buckets) -> float | None:
    """The upper bound of the highest bucket that gained observations: a bound on the max."""
    before = dict(start)
    previous = 0.0
    highest: float | None = None
    finite = [le for le, _ in end if le != float("inf")]
    for le, count in end:
        gained = (count - before.get(le, 0.0)) - previous
        previous = count - before.get(le, 0.0)
        if gained > 0:
            highest = le if le != float("inf") else (finite[-1] if finite else None)
    return highest


class ServerProbe:
    """Samples a Gethory server; `watch()` appends a sample every `interval` seconds."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        pid: int | None,
        metrics_token: str | None = None,
        interval: float = 1.0,
    ) -> None:
        self._http = http
        self.pid = pid
        self._headers = {"Authorization": f"Bearer {metrics_token}"} if metrics_token else {}
        self.interval = interval
        self.samples: list[ProbeSample] = []
        self.metrics_available = True

    async def check(self) -> None:
        """Raises BenchError if /metrics refuses this token; a server with metrics off (404)
        only loses the figures that need them."""
        async with self._http.get("/metrics", headers=self._headers) as response:
            if response.status in (401, 403):
                raise BenchError(
                    f"{self._http._base_url}/metrics answered {response.status}: "
                    "give the server's METRICS_TOKEN with --metrics-token"
                )
            if response.status != 200:
                self.metrics_available = False

    async def _metrics(self) -> dict[str, float | Buckets]:
        if not self.metrics_available:
            return {}
        try:
            async with self._http.get("/metrics", headers=self._headers) as response:
                if response.status != 200:
                    return {}
                return parse_metrics(await response.text())
        except (aiohttp.ClientError, TimeoutError):
            return {}

    async def sample(self) -> ProbeSample:
        metrics = await self._metrics()

        def scalar(name: str) -> float | None:
            value = metrics.get(name)
            return value if isinstance(value, float) else None

        def buckets(name: str) -> Buckets:
            value = metrics.get(name)
            return value if isinstance(value, list) else []

        common = {
            "forwarded": scalar("gethory_sfu_forwarded_packets_total"),
            "connections": scalar("gethory_signaling_connections"),
            "delay_us": buckets("gethory_sfu_forwarding_delay_microseconds"),
            "lag_seconds": buckets("gethory_event_loop_lag_seconds"),
        }
        if self.pid is not None:
            with contextlib.suppress(OSError):
                process = sample_process(self.pid)
                return ProbeSample(
                    at=time.monotonic(),
                    cpu_seconds=process.cpu_seconds,
                    rss_bytes=float(process.rss_bytes),
                    threads=float(process.threads),
                    fds=float(len(os.listdir(Path(f"/proc/{self.pid}/fd")))),
                    **common,  # type: ignore[arg-type]
                )
        return ProbeSample(
            at=time.monotonic(),
            cpu_seconds=scalar("process_cpu_seconds_total"),
            rss_bytes=scalar("process_resident_memory_bytes"),
            threads=scalar("process_threads"),
            fds=scalar("process_open_fds"),
            **common,  # type: ignore[arg-type]
        )

    async def watch(self) -> None:
        """Sample until cancelled."""
        while True:
            self.samples.append(await self.sample())
            await asyncio.sleep(self.interval)  # a sampling period, not a stand-in for an event

    def peak_rss(self, since: float) -> float | None:
        values = [s.rss_bytes for s in self.samples if s.at >= since and s.rss_bytes is not None]
        return max(values) if values else None


def cpu_percent(samples: Sequence[ProbeSample]) -> list[tuple[float, float]]:
    """(monotonic time, % of one core) between consecutive samples."""
    points = []
    for a, b in itertools.pairwise(samples):
        if a.cpu_seconds is not None and b.cpu_seconds is not None and b.at > a.at:
            points.append((b.at, 100 * (b.cpu_seconds - a.cpu_seconds) / (b.at - a.at)))
    return points
