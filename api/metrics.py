"""Prometheus metrics: HTTP traffic, signaling, the media plane and event-loop lag.

Each `Metrics` owns its own registry, so several apps can live in one process (the tests do).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import AsyncIterator, Callable, Iterable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from api.errors import NotAuthenticated, NotFound
from api.services import SERVICES
from api.settings import Settings
from sfu.stats import DelayHistogram, SfuStats

# WebRTC negotiation ranges from a few milliseconds on a LAN to seconds with slow ICE.
JOIN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LAG_INTERVAL = 0.5
UNMATCHED = "unmatched"


def check_metrics_access(request: web.BaseRequest, settings: Settings) -> None:
    """Raises NotFound (production without METRICS_TOKEN: scraping is off) or
    NotAuthenticated (production, and no `Authorization: Bearer` with the token).

    The token is compared in constant time (`hmac.compare_digest`), so its bytes cannot be
    guessed one at a time from response times. A bearer header rather than a separate
    internal port: one published port, and Prometheus' `authorization` scrape option
    (`credentials_file`) sends it.
    """
    if not settings.is_production:
        return
    if settings.metrics_token is None:
        raise NotFound("Metrics are off: set METRICS_TOKEN to scrape them.")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    expected = settings.metrics_token.encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise NotAuthenticated("Metrics need Authorization: Bearer with METRICS_TOKEN.")


class SfuCollector:
    """Reads `SfuStats` at scrape time, keeping the packet path free of Prometheus locks."""

    def __init__(self, stats: SfuStats) -> None:
        self._stats = stats
        # Counted from the rooms when scraped (attached once the SFU exists).
        self.rooms: Callable[[], int] = lambda: 0
        self.participants: Callable[[], int] = lambda: 0
        self.media_port_faults: Callable[[], tuple[int, int]] = lambda: (0, 0)
        self.send_failures: Callable[[], int] = lambda: 0
        # Not registered on its own: draining the join durations must happen before the
        # histogram is rendered, whatever order the registry walks its collectors in.
        self._join = Histogram(
            "gethory_sfu_join_seconds",
            "Seconds from an SFU join offer to its answer.",
            buckets=JOIN_BUCKETS,
            registry=None,
        )

    def collect(self) -> Iterable[Metric]:
        s = self._stats
        for name, value, doc in (
            ("forwarded_packets", s.forwarded_packets, "RTP packets forwarded."),
            ("forwarded_bytes", s.forwarded_bytes, "RTP payload bytes forwarded."),
            ("dropped_muted_packets", s.dropped_muted_packets, "Packets dropped while muted."),
            (
                "dropped_listener_packets",
                s.dropped_listener_packets,
                "Packets of stage-room listeners, dropped (only hosts and speakers are heard).",
            ),
            ("slot_switches", s.slot_switches, "Forwarding slot reassignments."),
        ):
            yield CounterMetricFamily(f"gethory_sfu_{name}", doc, value=value)
        yield GaugeMetricFamily("gethory_sfu_rooms", "Rooms with media sessions.", self.rooms())
        yield GaugeMetricFamily(
            "gethory_sfu_participants", "Participants with media sessions.", self.participants()
        )
        dropped, errors = self.media_port_faults()
        yield CounterMetricFamily(
            "gethory_sfu_media_port_dropped_datagrams",
            "Datagrams on the shared media port (RTC_UDP_PORT) that no connection took.",
            value=dropped,
        )
        yield CounterMetricFamily(
            "gethory_sfu_media_port_errors",
            "Shared media port datagrams that could not be sent or whose handler raised.",
            value=errors,
        )
        yield CounterMetricFamily(
            "gethory_sfu_send_failures",
            "Forwarded datagrams the kernel refused (a socket gone, a full send buffer): "
            "dropped, never retried, never holding up the other listeners' copies.",
            value=self.send_failures(),
        )
        for seconds in s.take_join_seconds():
            self._join.observe(seconds)
        yield from self._join.collect()
        yield _histogram_family(
            "gethory_sfu_forwarding_delay_microseconds",
            "Per received RTP packet: from the SFU taking it (after SRTP unprotect) to its last "
            "copy handed to the kernel, in microseconds.",
            s.forwarding_delay,
        )


def _histogram_family(name: str, doc: str, histogram: DelayHistogram) -> HistogramMetricFamily:
    """Prometheus' cumulative `le` buckets from per-bucket counts."""
    buckets: list[tuple[str, float]] = []
    total = 0
    for bound, count in zip((*histogram.bounds, float("inf")), histogram.counts, strict=True):
        total += count
        # Labels as the Prometheus client writes them: "10.0", "+Inf".
        buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), total))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=histogram.sum_us)


class ThreadCollector:
    """`process_threads`: the OS threads of this process (proc(5) stat field 20), which
    ProcessCollector leaves out; a leak of threads per call shows here."""

    def collect(self) -> Iterable[Metric]:
        try:
            with open("/proc/self/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            return
        yield GaugeMetricFamily("process_threads", "OS threads of this process.", int(fields[17]))


class Metrics:
    def __init__(self, sfu_stats: SfuStats, lag_interval: float = LAG_INTERVAL) -> None:
        self.registry = CollectorRegistry()
        self._sfu = SfuCollector(sfu_stats)
        self.registry.register(self._sfu)
        # process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds...: what a
        # load tester reads from a server it cannot see the /proc of (gethory-bench --server).
        ProcessCollector(registry=self.registry)
        # python_gc_collections_total{generation}: a full collection (generation 2) stops
        # every room's audio for as long as it walks the heap (api.__main__ tunes it).
        GCCollector(registry=self.registry)
        self.registry.register(ThreadCollector())
        self._connections = Gauge(
            "gethory_signaling_connections", "Open signaling sockets.", registry=self.registry
        )
        self._active_rooms = Gauge(
            "gethory_rooms_with_participants",
            "Rooms with at least one participant.",
            registry=self.registry,
        )
        self._requests = Counter(
            "gethory_http_requests",
            "HTTP requests handled.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "gethory_http_request_seconds",
            "HTTP request handling time.",
            ["method", "route"],
            registry=self.registry,
        )
        self._lag = Histogram(
            "gethory_event_loop_lag_seconds",
            "How late a timer callback ran on the event loop.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self._lag_interval = lag_interval
        self._lag_task: asyncio.Task[None] | None = None
        self._lag_waiters: list[asyncio.Future[float]] = []

    def watch_signaling(
        self, connections: Callable[[], int], active_rooms: Callable[[], int]
    ) -> None:
        """Signaling state is built after the app, so it is attached late and read lazily."""
        self._connections.set_function(lambda: float(connections()))
        self._active_rooms.set_function(lambda: float(active_rooms()))

    def watch_sfu(
        self,
        rooms: Callable[[], int],
        participants: Callable[[], int],
        media_port_faults: Callable[[], tuple[int, int]] = lambda: (0, 0),
        send_failures: Callable[[], int] = lambda: 0,
    ) -> None:
        """The SFU is built after the app too; its gauges are counted when scraped."""
        self._sfu.rooms = rooms
        self._sfu.participants = participants
        self._sfu.media_port_faults = media_port_faults
        self._sfu.send_failures = send_failures

    def middleware(self) -> Middleware:
        @web.middleware
        async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.match_info.handler == self.handle:
                return await handler(request)
            resource = request.match_info.route.resource
            # The route template, not the path: room and user ids would explode cardinality.
            route = resource.canonical if resource is not None else UNMATCHED
            status = 500  # an exception that escapes every middleware becomes a 500
            started = time.perf_counter()
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                self._latency.labels(request.method, route).observe(time.perf_counter() - started)
                self._requests.labels(request.method, route, str(status)).inc()

        return metrics_middleware

    async def handle(self, request: web.Request) -> web.Response:
        """`GET /metrics`: Prometheus' text format. In production only for a scraper with
        `Authorization: Bearer <METRICS_TOKEN>` (401 `not_authenticated` otherwise), and
        disabled (404) when METRICS_TOKEN is unset; open in development."""
        services = request.app.get(SERVICES)
        if services is not None:
            check_metrics_access(request, services.settings)
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    def start(self) -> None:
        if self._lag_task is None:
            self._lag_task = asyncio.get_running_loop().create_task(self._watch_lag())

    async def stop(self) -> None:
        task, self._lag_task = self._lag_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def lag_monitor(self, app: web.Application) -> AsyncIterator[None]:
        """For `app.cleanup_ctx`."""
        self.start()
        try:
            yield
        finally:
            await self.stop()

    async def next_lag(self) -> float:
        """The next lag sample, in seconds; lets tests wait without polling."""
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._lag_waiters.append(waiter)
        return await waiter

    async def _watch_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self._lag_interval
            # A timer cannot fire while a callback hogs the loop; its delay is the lag.
            await asyncio.sleep(self._lag_interval)
            lag = max(0.0, loop.time() - due)
            self._lag.observe(lag)
            waiters, self._lag_waiters = self._lag_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(lag)
