"""join-storm: listeners join one sfu room at J joins per second, J ramped step by step.

Each step sends J × --step-seconds joins, evenly spaced, into a room where one speaker
talks; a join's time is `join` sent → the listener's first audio packet. After each step its
listeners leave. The ramp stops at the first step where joins fail (more than --max-fail-percent) or
the p95 join time exceeds --deadline-ms; that step is the limit.

Issue 15 (benchmarks.scenarios.stage): a witness listener joins before the first step and
counts what it is sent; each point also holds `messages_per_existing_listener` (during that
step's joins, total and by event) and `server_cpu_ms_per_join` (the server's CPU during the
step's join phase, net of its rate in a quiet window before the first step, per join).
`--stage` makes it a stage room; `--signaling-only` makes listeners join without media (a
join's time is then `join` sent → its ack).
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.results import RunResult, percentiles
from benchmarks.scenarios.base import Param, Scenario
from benchmarks.scenarios.bench import Bench
from benchmarks.scenarios.stage import STAGE_PARAMS, StormMeter, join_witness, seat_speakers
from benchmarks.server_probe import cpu_percent
from benchmarks.workers import BotSpec

HEAR_SECONDS = 15.0  # after a step's last join, for its listeners to hear the speaker

PARAMS = (
    Param("rates", str, "5,10,20,40,80", "join rates to ramp through, joins per second"),
    Param("step_seconds", float, 5.0, "seconds of joining per step"),
    Param("deadline_ms", float, 3000.0, "p95 join time above which the ramp stops, ms"),
    Param("max_fail_percent", float, 1.0, "failed joins above which the ramp stops, %"),
    *STAGE_PARAMS,
)


def parse_rates(text: str) -> list[float]:
    try:
        rates = [float(r) for r in text.split(",") if r.strip()]
    except ValueError:
        raise ValueError(f"--rates {text!r}: give numbers separated by commas") from None
    if not rates or min(rates) <= 0:
        raise ValueError("--rates: positive joins per second, e.g. 5,10,20")
    return rates


def check(p: dict[str, Any]) -> None:
    """ValueError (one line) for a --rates that does not parse."""
    parse_rates(str(p["rates"]))


async def run(bench: Bench, p: dict[str, Any]) -> RunResult:
    rates = parse_rates(str(p["rates"]))
    step = float(p["step_seconds"])
    most = max(1, max(round(rate * step) for rate in rates))
    stage, media = bool(p["stage"]), not bool(p["signaling_only"])
    bench.target_participants = most + 2  # the speaker and the witness
    tokens = await bench.tokens(most + 2)
    await bench.start(speakers=1, join_concurrency=100_000)
    room = await bench.room(tokens[0], slots=1, size=max(2, min(5000, most + 2)), stage=stage)
    speaker = BotSpec("speaker-0", "speaker", tokens[0], room, slots=0)
    await seat_speakers(bench, room, [speaker], stage=stage)
    await join_witness(bench, room, tokens[1], media=media)
    meter = StormMeter(bench)
    background = await meter.background()
    points: list[dict[str, float]] = []
    limit = ("none", "every step kept within the deadline")
    for rate in rates:
        point = await _step(bench, meter, background, room, tokens[2:], rate, step, media)
        points.append(point)
        failed = 100 * point["joins_failed"] / max(1, point["joins"])
        p95 = point.get("join_ms_p95")
        if failed > float(p["max_fail_percent"]):
            limit = ("join-failures", f"{failed:.1f} % of joins failed at {rate:g} joins/s")
            break
        if p95 is None or p95 > float(p["deadline_ms"]):
            limit = ("join-deadline", f"p95 join time {p95} ms at {rate:g} joins/s")
            break
    last = points[-1] if points else {}
    peak = max((v for _, v in bench.series.get("participants", [])), default=None)
    storm_names = ("messages_per_", "bytes_per_", "server_cpu_ms")
    storm = {k: v for k, v in last.items() if k.startswith(storm_names)}
    figures = bench.figures_without_window(
        server_cpu_percent=last.get("server_cpu_percent"), participants=peak, **storm
    )
    return bench.result("join-storm", p, figures, limit=limit, window=None, points=points)


async def _step(
    bench: Bench,
    meter: StormMeter,
    background: float | None,
    room: str,
    tokens: list[str],
    rate: float,
    step: float,
    media: bool,
) -> dict[str, float]:
    count = max(1, round(rate * step))
    bench.progress.update(phase=f"join storm: {rate:g} joins/s")
    specs = [
        BotSpec(f"j{rate:g}-{i}", "listener", tokens[i], room, media=media) for i in range(count)
    ]
    started = time.monotonic()
    probe_start = await bench.probe.sample()
    begin = await meter.begin()  # this step's messages, from here
    joined = await bench.join_paced(specs, rate)
    end = await meter.mark()
    ok = sum(len(names) for names in joined.values())
    await bench.wait_heard_since(started, ok, HEAR_SECONDS)
    probe_end = await bench.probe.sample()
    records = [r for r in bench.join_records if r[0] >= started]  # this step's joins
    times = [ms for _, ms, code in records if ms is not None]
    failed = len([r for r in records if r[2] is not None])
    p50, p95, p99 = percentiles(times)
    cpu = cpu_percent([probe_start, probe_end])
    settled = await meter.settle()  # the step's last audience update, before anyone leaves
    await bench.leave(joined)
    point: dict[str, float] = {
        "join_rate_per_second": rate,
        "joins": float(count),
        "joins_ok": float(len(times)),
        "joins_failed": float(failed + max(0, ok - len(times))),  # unheard counts as failed
        "server_cpu_percent": cpu[0][1] if cpu else float("nan"),
    }
    for name, value in (("join_ms_p50", p50), ("join_ms_p95", p95), ("join_ms_p99", p99)):
        if value is not None:
            point[name] = value
    storm = meter.step(begin, end, count, background, messages_at=settled)
    point.update({k: v for k, v in storm.items() if not k.startswith("join_ms_")})
    return point


SCENARIO = Scenario(
    name="join-storm",
    summary=(
        "Listeners join one sfu room (one speaker talking) at J joins per second, J ramped "
        "through --rates, --step-seconds each; every step's listeners leave before the next. "
        "Stops at the first step where joins fail or the p95 join time (join sent → first "
        "audio packet) exceeds --deadline-ms. One point per step, with the messages a witness "
        "listener joined first was sent during it and the server CPU per join (--stage: a "
        "stage room; --signaling-only: listeners join without media)."
    ),
    params=PARAMS,
    run=run,
    check=check,
)
