"""gethory-bench's limit verdict (benchmarks.scenarios.bench.limit_of) on crafted windows:
what ran out first, and never a culprit the run did not measure."""

from __future__ import annotations

from typing import Any

from benchmarks.scenarios.bench import Window, limit_of
from benchmarks.server_probe import ProbeSample
from benchmarks.workers import PoolStats, WorkerStats


def pool(at: float, cpu_seconds: list[float]) -> PoolStats:
    workers = [WorkerStats(i, cpu, at) for i, cpu in enumerate(cpu_seconds)]
    return PoolStats(
        at=at,
        workers=workers,
        counters={},
        cpu_seconds=sum(cpu_seconds),
        listeners=0,
        speakers=0,
        sent_packets=0,
        sent_bytes=0,
        mesh_peers=0,
        slot_switches=0,
        jitter_ms=[],
        failures={},
        unheard=0,
    )


def window(bot_percent: float, seconds: float = 10.0) -> Window:
    """Two bot processes; the second `bot_percent` % of one core busy over the window."""
    start = pool(0.0, [0.0, 0.0])
    end = pool(seconds, [0.01 * seconds, bot_percent / 100 * seconds])
    return Window(start, end, ProbeSample(at=0.0), ProbeSample(at=seconds), 0.0)


def figures(**given: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "server_cpu_percent": 20.0,
        "loss_percent": 0.0,
        "event_loop_lag_ms_p99": 5.0,
        "machine_busy_percent": 40.0,
        "joins_failed": 0,
        "joins_ok": 100,
    }
    return base | given


def test_a_quiet_run_has_no_limit() -> None:
    assert limit_of(window(10.0), figures())[0] == "none"


def test_a_full_core_is_the_limit() -> None:
    assert limit_of(window(10.0), figures(server_cpu_percent=95.0))[0] == "server"
    assert limit_of(window(95.0), figures())[0] == "bots"


def test_loss_goes_to_the_busier_of_server_and_bots() -> None:
    assert limit_of(window(10.0), figures(loss_percent=5.0))[0] == "server"
    lossy = figures(loss_percent=5.0, server_cpu_percent=5.0)
    assert limit_of(window(30.0), lossy)[0] == "bots"


def test_loss_at_a_server_whose_cpu_was_not_measured_blames_no_one() -> None:
    """A remote server without --metrics-token: its CPU is null, so loss (on the network, at
    the server...) must not be charged to bot processes that were nearly idle."""
    unmeasured = figures(loss_percent=5.0, server_cpu_percent=None)
    verdict, detail = limit_of(window(3.0), unmeasured)
    assert verdict == "unknown"
    assert "--metrics-token" in detail
    failing = figures(joins_failed=10, joins_ok=90, server_cpu_percent=None)
    assert limit_of(window(3.0), failing)[0] == "unknown"


def test_churn_calls_growth_a_leak_and_a_decrease_none() -> None:
    from benchmarks.scenarios.churn import leaks

    back: dict[str, float | None] = {
        "server_rss_mb_growth": 3.0,
        "server_threads_growth": 0.0,
        "server_fds_growth": -2.0,  # a sign-in's keep-alive socket closed meanwhile
        "server_connections_growth": None,  # not measured
    }
    assert leaks(back, rss_tolerance_mb=10.0) == []
    grown = back | {"server_fds_growth": 4.0, "server_rss_mb_growth": 12.0}
    assert leaks(grown, rss_tolerance_mb=10.0) == ["server_fds_growth", "server_rss_mb_growth"]
