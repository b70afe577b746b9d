"""churn: people keep joining and leaving one sfu room for T minutes; does the server return
to its baseline afterwards?

One speaker stays in the room throughout. The baseline (server RSS, threads, open fds,
signaling connections) is sampled with only the speaker in. Then --people listeners join;
--swap-rate times a second the longest-present listener leaves (Socket.IO `leave`, disconnect,
its peer connection closed) and a fresh one joins. After --minutes every listener leaves,
the server gets up to --settle seconds to let go of them (its connections back to the
baseline), and the same figures are sampled again. `limit` is "none" when threads, fds and
connections came back and RSS grew by less than --rss-tolerance-mb, else "leak"; the
detail says by how much each did not come back.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from benchmarks.results import RunResult
from benchmarks.scenarios.base import Param, Scenario
from benchmarks.scenarios.bench import Bench
from benchmarks.server_probe import ProbeSample
from benchmarks.workers import BotSpec

PARAMS = (
    Param("people", int, 20, "listeners in the room at any time"),
    Param("minutes", float, 1.0, "how long people keep coming and going (< 15: token lifetime)"),
    Param("swap_rate", float, 2.0, "leave-and-join swaps per second"),
    Param("settle", float, 20.0, "seconds the server gets to return to its baseline"),
    Param("rss_tolerance_mb", float, 10.0, "RSS growth still counted as back to baseline, MiB"),
)


def _growth(before: ProbeSample, after: ProbeSample) -> dict[str, float | None]:
    def delta(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else b - a

    rss = delta(before.rss_bytes, after.rss_bytes)
    return {
        "server_rss_mb_growth": None if rss is None else rss / 2**20,
        "server_threads_growth": delta(before.threads, after.threads),
        "server_fds_growth": delta(before.fds, after.fds),
        "server_connections_growth": delta(before.connections, after.connections),
    }


def check(p: dict[str, Any]) -> None:
    """ValueError unless people are swapped at a positive rate."""
    if float(p["swap_rate"]) <= 0:
        raise ValueError("--swap-rate > 0")


async def run(bench: Bench, p: dict[str, Any]) -> RunResult:
    check(p)
    people, rate = max(1, int(p["people"])), float(p["swap_rate"])
    bench.target_participants = people + 1
    tokens = await bench.tokens(1 + 2 * people)
    await bench.start(speakers=1)
    room = await bench.room(tokens[0], slots=1, size=people + 1)
    speaker = BotSpec("speaker-0", "speaker", tokens[0], room, slots=0)
    bench.check_joined(await bench.join([speaker]), 1)
    await bench.measure(2.0, phase="baseline")
    before = await bench.probe.sample()
    free = deque(range(1, 1 + 2 * people))
    present: deque[tuple[str, str, int]] = deque()  # (worker, name, account)
    serial = 0

    async def enter(account: int) -> None:
        nonlocal serial
        serial += 1
        spec = BotSpec(f"churn-{serial}", "listener", tokens[account], room)
        for worker, names in (await bench.join([spec])).items():
            present.extend((worker, name, account) for name in names)
        if not any(name == spec.name for _, name, _ in present):
            free.append(account)

    async def swap() -> None:
        if present:
            worker, name, account = present.popleft()
            await bench.leave({worker: [name]})
            free.append(account)
        if free:
            await enter(free.popleft())

    bench.progress.update(phase="listeners joining")
    await asyncio.gather(*(enter(free.popleft()) for _ in range(people)))
    bench.check_joined({"0": [n for _, n, _ in present]}, people)
    bench.progress.update(phase="churning")
    started = time.monotonic()
    end = started + 60 * float(p["minutes"])
    tasks: list[asyncio.Task[None]] = []
    tick = 0
    while time.monotonic() < end:
        tasks.append(asyncio.ensure_future(swap()))
        tick += 1
        await asyncio.sleep(max(0.0, started + tick / rate - time.monotonic()))  # pacing
    await asyncio.gather(*tasks)
    window = await bench.measure(2.0, phase="last window")
    figures_in_churn = bench.figures(window)
    bench.progress.update(phase="everyone leaves")
    by_worker: dict[str, list[str]] = {}
    for worker, name, _ in present:
        by_worker.setdefault(worker, []).append(name)
    await bench.leave(by_worker)
    after = await _settled(bench, before, float(p["settle"]))
    growth = _growth(before, after)
    leaked = leaks(growth, float(p["rss_tolerance_mb"]))
    detail = ", ".join(f"{k} {v:+g}" for k, v in growth.items() if v is not None)
    figures = bench.figures_without_window(
        participants=people + 1,
        server_rss_mb_start=_mb(before.rss_bytes),
        server_rss_mb_end=_mb(after.rss_bytes),
        server_threads_start=before.threads,
        server_threads_end=after.threads,
        server_fds_start=before.fds,
        server_fds_end=after.fds,
        server_cpu_percent=figures_in_churn.get("server_cpu_percent"),
        loss_percent=figures_in_churn.get("loss_percent"),
        swaps=float(tick),
        server_connections_start=before.connections,
        server_connections_end=after.connections,
        **growth,
    )
    limit = ("leak", f"not back to baseline: {detail}") if leaked else ("none", detail)
    return bench.result("churn", p, figures, limit=limit, window=None)


def leaks(growth: dict[str, float | None], rss_tolerance_mb: float) -> list[str]:
    """The growth figures (from `_growth`) that did not come back to the baseline: threads,
    fds or connections above it, RSS more than `rss_tolerance_mb` above it. Fewer than at
    the baseline (a socket of the sign-ins closed meanwhile) is no leak."""
    leaked = [
        name
        for name, value in growth.items()
        if name != "server_rss_mb_growth" and value is not None and value > 0
    ]
    rss = growth.get("server_rss_mb_growth")
    if rss is not None and rss > rss_tolerance_mb:
        leaked.append("server_rss_mb_growth")
    return leaked


def _mb(size: float | None) -> float | None:
    return None if size is None else size / 2**20


async def _settled(bench: Bench, before: ProbeSample, within: float) -> ProbeSample:
    """The server once its connections, threads and fds are back where they were (or
    `within` seconds passed)."""
    bench.progress.update(phase="settling")
    deadline = time.monotonic() + within
    while True:
        sample = await bench.probe.sample()
        back = all(
            a is None or b is None or b <= a
            for a, b in (
                (before.connections, sample.connections),
                (before.threads, sample.threads),
                (before.fds, sample.fds),
            )
        )
        if back or time.monotonic() > deadline:
            return sample
        await asyncio.sleep(0.5)


SCENARIO = Scenario(
    name="churn",
    summary=(
        "One sfu room, one speaker throughout; --people listeners, of whom one leaves and a "
        "fresh one joins --swap-rate times a second for --minutes. Server RSS, threads, fds and "
        "signaling connections are sampled before and after (everyone gone, --settle "
        "seconds allowed): they must return to the baseline; the run says by how much they "
        "did not."
    ),
    params=PARAMS,
    run=run,
    check=check,
)
