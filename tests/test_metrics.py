"""`api.metrics` on a small app of its own: HTTP counting, SFU stats, loop lag, registries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from api.metrics import UNMATCHED, Metrics
from sfu.stats import SfuStats


@dataclass
class Served:
    metrics: Metrics
    stats: SfuStats
    session: aiohttp.ClientSession

    async def scrape(self) -> list[Sample]:
        async with self.session.get("/metrics") as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            text = await response.text()
        return [s for family in text_string_to_metric_families(text) for s in family.samples]


async def _room(request: web.Request) -> web.Response:
    return web.json_response({"id": request.match_info["id"]})


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    stats = SfuStats()
    metrics = Metrics(stats)
    app = web.Application(middlewares=[metrics.middleware()])
    app.router.add_get("/api/rooms/{id}", _room)
    app.router.add_get("/metrics", metrics.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
        yield Served(metrics, stats, session)
    await runner.cleanup()


def _only(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) == 1, found
    return found[0].value


async def test_requests_are_counted_by_route_template(served: Served) -> None:
    for path in ("/api/rooms/rm_1", "/api/rooms/rm_2", "/nowhere/rm_3"):
        async with served.session.get(path) as response:
            await response.read()

    samples = await served.scrape()

    requests = [s for s in samples if s.name == "gethory_http_requests_total"]
    assert {(s.labels["route"], s.labels["status"], s.value) for s in requests} == {
        ("/api/rooms/{id}", "200", 2.0),
        (UNMATCHED, "404", 1.0),
    }
    assert not any("rm_" in value for s in samples for value in s.labels.values())
    latency = "gethory_http_request_seconds_count"
    assert _only(samples, latency, method="GET", route="/api/rooms/{id}") == 2.0
    # The scrapes themselves are not traffic worth counting.
    assert not any(s.labels.get("route") == "/metrics" for s in samples)


async def test_sfu_stats_are_read_at_scrape_time(served: Served) -> None:
    stats = served.stats
    stats.forwarded_packets += 120
    stats.forwarded_bytes += 9600
    stats.dropped_muted_packets += 7
    stats.slot_switches += 2
    rooms, participants = [3], [5]
    served.metrics.watch_sfu(lambda: rooms[0], lambda: participants[0])
    stats.join_seconds.extend([0.02, 0.3, 4.0])

    first = await served.scrape()

    assert _only(first, "gethory_sfu_forwarded_packets_total") == 120
    assert _only(first, "gethory_sfu_forwarded_bytes_total") == 9600
    assert _only(first, "gethory_sfu_dropped_muted_packets_total") == 7
    assert _only(first, "gethory_sfu_slot_switches_total") == 2
    assert _only(first, "gethory_sfu_rooms") == 3
    assert _only(first, "gethory_sfu_participants") == 5
    assert _only(first, "gethory_sfu_join_seconds_count") == 3
    assert _only(first, "gethory_sfu_join_seconds_sum") == pytest.approx(4.32)
    assert _only(first, "gethory_sfu_join_seconds_bucket", le="0.025") == 1
    assert stats.join_seconds == []
    rooms[0], participants[0] = 1, 2  # gauges are counted when scraped, not kept
    assert _only(await served.scrape(), "gethory_sfu_participants") == 2

    stats.forwarded_packets += 1
    stats.join_seconds.append(0.1)
    second = await served.scrape()

    assert _only(second, "gethory_sfu_forwarded_packets_total") == 121
    assert _only(second, "gethory_sfu_join_seconds_count") == 4


async def test_signaling_gauges_call_the_watched_functions(served: Served) -> None:
    assert _only(await served.scrape(), "gethory_signaling_connections") == 0
    connections = [4]
    served.metrics.watch_signaling(lambda: connections[0], lambda: 2)

    samples = await served.scrape()
    assert _only(samples, "gethory_signaling_connections") == 4
    assert _only(samples, "gethory_rooms_with_participants") == 2

    connections[0] = 1
    assert _only(await served.scrape(), "gethory_signaling_connections") == 1


async def test_loop_lag_is_measured() -> None:
    metrics = Metrics(SfuStats(), lag_interval=0.05)
    metrics.start()
    metrics.start()  # idempotent: still one monitor
    task = metrics._lag_task
    try:
        # One sample first, so the monitor's timer is certainly armed before the loop blocks.
        await asyncio.wait_for(metrics.next_lag(), 5)
        time.sleep(0.3)  # noqa: ASYNC251 - hogging the loop is the lag being measured
        lag = await asyncio.wait_for(metrics.next_lag(), 5)
    finally:
        await metrics.stop()
        await metrics.stop()

    assert lag >= 0.2
    assert task is not None and task.done()
    assert metrics._lag_task is None
    lag_sum = metrics.registry.get_sample_value("gethory_event_loop_lag_seconds_sum")
    assert lag_sum is not None and lag_sum >= 0.2
    slow = metrics.registry.get_sample_value("gethory_event_loop_lag_seconds_bucket", {"le": "0.1"})
    total = metrics.registry.get_sample_value("gethory_event_loop_lag_seconds_count")
    assert slow is not None and total is not None and slow < total


async def test_lag_monitor_follows_the_app_lifecycle() -> None:
    metrics = Metrics(SfuStats())
    app = web.Application()
    app.cleanup_ctx.append(metrics.lag_monitor)
    runner = web.AppRunner(app)
    await runner.setup()
    task = metrics._lag_task
    assert task is not None and not task.done()
    await runner.cleanup()
    assert task.done() and metrics._lag_task is None


async def test_instances_have_separate_registries() -> None:
    one, two = SfuStats(forwarded_packets=1), SfuStats(forwarded_packets=2)
    first, second = Metrics(one), Metrics(two)

    assert first.registry is not second.registry
    assert first.registry.get_sample_value("gethory_sfu_forwarded_packets_total") == 1
    assert second.registry.get_sample_value("gethory_sfu_forwarded_packets_total") == 2


async def test_forwarding_delay_is_a_cumulative_histogram_in_microseconds(served: Served) -> None:
    delay = served.stats.forwarding_delay
    for microseconds in (3.0, 40.0, 40.0, 2_000_000.0):
        delay.observe(microseconds)

    samples = await served.scrape()

    name = "gethory_sfu_forwarding_delay_microseconds"
    assert _only(samples, f"{name}_bucket", le="10.0") == 1
    assert _only(samples, f"{name}_bucket", le="50.0") == 3
    assert _only(samples, f"{name}_bucket", le="100000.0") == 3
    assert _only(samples, f"{name}_bucket", le="+Inf") == 4
    assert _only(samples, f"{name}_count") == 4
    assert _only(samples, f"{name}_sum") == 2_000_083.0


async def test_process_figures_are_scraped_for_remote_load_tests(served: Served) -> None:
    samples = await served.scrape()

    assert _only(samples, "process_cpu_seconds_total") > 0
    assert _only(samples, "process_resident_memory_bytes") > 10_000_000
    assert _only(samples, "process_open_fds") > 0
    assert _only(samples, "process_threads") >= 1
