"""large-room: up to 1,000+ listeners join one sfu room at a given rate; speakers take turns.

S speakers join first; one talks at a time for --turn seconds, then the next (the others
send only DTX frames, as a muted-by-silence browser does), so the room's single slot
switches speaker at every turn. Listeners join at --rate per second; after every --step-listeners
listeners a --step-window measurement gives one point (CPU per forwarded packet, server
and bot CPU, loss, delay vs listeners). When every listener is in, a --duration window
gives the run's figures. The ramp stops early when most of a step's joins fail.

Issue 15 (benchmarks.scenarios.stage): a witness listener joins before the storm and counts
what it is sent; each point also holds `messages_per_existing_listener` (cumulative since
the storm began, total and by event), `server_cpu_ms_per_join` (the server's CPU during the
step's join phase, net of its rate in the quiet windows around it, per join) and the step's
own join percentiles. `--stage` makes it a stage room (speakers on stage, listeners in the
audience); `--signaling-only` makes listeners join without media. `--step-window 0` skips
the windows between steps (and `--duration 0` the final one): the storm then runs without
pauses, its background CPU rate measured once before it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from benchmarks.results import RunResult
from benchmarks.scenarios.base import Param, Scenario
from benchmarks.scenarios.bench import Bench, Window
from benchmarks.scenarios.stage import (
    QUIET_SECONDS,
    STAGE_PARAMS,
    Mark,
    StormMeter,
    join_witness,
    seat_speakers,
)
from benchmarks.server_probe import ProbeSample
from benchmarks.witness import background_rate, cpu_ms_per_join
from benchmarks.workers import BotSpec

MAX_ROOM = 5000  # SFU rooms may ask for up to this many participants
HEAR_SECONDS = 10.0  # for a step's listeners to hear the current speaker
GIVE_UP_FAILED = 0.5  # a step where this share of joins fails ends the ramp

PARAMS = (
    Param("listeners", int, 200, "listener bots (1,000+ for the full run)"),
    Param("speakers", int, 2, "speaker bots taking turns"),
    Param("rate", float, 20.0, "listener joins per second"),
    Param("turn", float, 5.0, "seconds each speaker talks before the next one"),
    Param("step_listeners", int, 100, "listeners between sweep points"),
    Param("step_window", float, 5.0, "seconds measured at each sweep point"),
    Param("decoders", int, 2, "listeners that also decode (tone check, end-to-end delay)"),
    Param("duration", float, 20.0, "final measurement window with every listener in, seconds"),
    *STAGE_PARAMS,
)


async def _take_turns(bench: Bench, speakers: list[str], turn: float) -> None:
    """Speaker i talks during turn i (mod S); runs until cancelled."""
    current = 0
    while True:
        await asyncio.sleep(turn)  # a turn's length: the schedule itself
        following = (current + 1) % len(speakers)
        await bench.workers.talk(0, speakers[following], True)
        await bench.workers.talk(0, speakers[current], False)
        current = following


def check(p: dict[str, Any]) -> None:
    """ValueError unless the room fits (MAX_ROOM) and listeners join at a positive rate."""
    if int(p["listeners"]) + max(1, int(p["speakers"])) + 1 > MAX_ROOM or float(p["rate"]) <= 0:
        raise ValueError(f"--listeners + --speakers < {MAX_ROOM}, --rate > 0")


async def run(bench: Bench, p: dict[str, Any]) -> RunResult:
    check(p)
    listeners, speakers = int(p["listeners"]), max(1, int(p["speakers"]))
    rate, step = float(p["rate"]), max(1, int(p["step_listeners"]))
    stage, media = bool(p["stage"]), not bool(p["signaling_only"])
    total = listeners + speakers + 1  # and the witness
    bench.target_participants = total
    tokens = await bench.tokens(total)
    await bench.start(speakers=speakers)
    room = await bench.room(tokens[0], slots=1, size=max(2, total), stage=stage)
    bench.progress.update(phase="speakers joining")
    names = [f"speaker-{i}" for i in range(speakers)]
    specs = [
        BotSpec(names[i], "speaker", tokens[i], room, speaker_index=i, slots=0)
        for i in range(speakers)
    ]
    await seat_speakers(bench, room, specs, stage=stage)
    for name in names[1:]:
        await bench.workers.talk(0, name, False)
    turns = asyncio.get_running_loop().create_task(_take_turns(bench, names, float(p["turn"])))
    try:
        bench.progress.update(phase="witness joining")
        await join_witness(bench, room, tokens[speakers], media=media)
        return await _ramp(bench, p, room, tokens[speakers + 1 :], listeners, rate, step)
    finally:
        turns.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await turns


async def _ramp(
    bench: Bench,
    p: dict[str, Any],
    room: str,
    tokens: list[str],
    listeners: int,
    rate: float,
    step: int,
) -> RunResult:
    media = not bool(p["signaling_only"])
    decoders = int(p["decoders"]) if media else 0
    step_window = float(p["step_window"])
    points: list[dict[str, float]] = []
    joined = in_room = 0
    limit: tuple[str, str] | None = None
    meter = StormMeter(bench)
    quiet = await meter.background(step_window or QUIET_SECONDS)
    storm = await meter.begin()
    while joined < listeners:
        batch = range(joined, min(listeners, joined + step))
        bench.progress.update(phase=f"listeners joining ({batch.stop}/{listeners})")
        specs = [
            BotSpec(
                f"listener-{n}",
                "listener",
                tokens[n],
                room,
                decode=n < decoders,
                speaker_index=-1,
                media=media,
            )
            for n in batch
        ]
        point, ok, after = await _step(bench, meter, specs, rate, step_window, quiet, in_room)
        if not joined and not ok:  # the first step: a server refusing every join
            bench.check_joined({}, len(specs))
        in_room += ok
        joined = batch.stop
        point["listeners"] = float(in_room)
        points.append(point)
        quiet = after if after is not None else quiet
        if ok < GIVE_UP_FAILED * len(specs):
            limit = ("join-failures", f"{len(specs) - ok} of {len(specs)} joins failed")
            break
    storm_figures = _storm_figures(meter, storm, await meter.settle(), points)
    window: Window | None = None
    if float(p["duration"]) > 0:
        window = await bench.measure(float(p["duration"]))
        figures = bench.figures(window)
        limit = limit or bench.limit(window, figures)
    else:
        last = bench.last
        everyone = last.listeners + last.speakers if last is not None else None
        figures = bench.figures_without_window(participants=everyone)
        limit = limit or ("none", "no final window (--duration 0)")
    figures.update(storm_figures)
    return bench.result("large-room", p, figures, limit=limit, window=window, points=points)


async def _step(
    bench: Bench,
    meter: StormMeter,
    specs: list[BotSpec],
    rate: float,
    step_window: float,
    before: float | None,
    in_room: int,
) -> tuple[dict[str, float], int, float | None]:
    """One step: its joins at `rate`, until they are heard (the witness's too), then its
    window (unless --step-window 0). (Its point, joins that succeeded, the server's CPU rate
    in its window.) `before`: the server's CPU rate in the quiet window before the step."""
    start = await meter.mark()
    outcome = await bench.join_paced(specs, rate)
    end = await meter.mark()
    ok = sum(len(names) for names in outcome.values())
    await bench.wait_heard(in_room + ok + 1, HEAR_SECONDS)
    point: dict[str, float] = {}
    after = None
    if step_window > 0:
        window = await bench.measure(step_window, phase=f"measuring at {in_room + ok}")
        figures = bench.figures(window)
        point.update({k: float(v) for k, v in figures.items() if isinstance(v, int | float)})
        after = _window_rate(window)
    for name in ("join_ms_p50", "join_ms_p95", "join_ms_p99"):  # the run's so far: not this step's
        point.pop(name, None)
    point.update(meter.step(start, end, len(specs), background_rate(before, after)))
    return point, ok, after


def _storm_figures(
    meter: StormMeter, storm: Mark, end: Mark, points: list[dict[str, float]]
) -> dict[str, Any]:
    """The whole storm's messages per existing listener (total, by event), CPU per join
    (net: the steps' net CPU summed; gross: all the CPU between its first and last join
    phase's ends, windows included), its join percentiles and its length."""
    figures: dict[str, Any] = dict(meter.messages_since_start(end))
    figures.update(meter.step_joins(storm.at, end.at))  # the storm's joins, not the witness's
    joins = sum(pt.get("joins", 0.0) for pt in points)
    measured = [pt for pt in points if "server_cpu_ms_per_join" in pt]
    if measured:
        net = sum(pt["server_cpu_ms_per_join"] * pt["joins"] for pt in measured)
        figures["server_cpu_ms_per_join"] = net / sum(pt["joins"] for pt in measured)
    gross, _ = cpu_ms_per_join(_cpu_between(storm.probe, end.probe), 0.0, int(joins))
    figures["server_cpu_ms_per_join_gross_with_windows"] = gross
    return figures


def _window_rate(window: Window) -> float | None:
    """The server's CPU rate (CPU seconds per second) over a measurement window."""
    cpu = _cpu_between(window.probe_start, window.probe_end)
    return cpu / window.seconds if cpu is not None and window.seconds > 0 else None


def _cpu_between(start: ProbeSample, end: ProbeSample) -> float | None:
    a, b = start.cpu_seconds, end.cpu_seconds
    return None if a is None or b is None else b - a


SCENARIO = Scenario(
    name="large-room",
    summary=(
        "One sfu room with one slot: S speakers take turns (--turn seconds each) while up to "
        "1,000+ listeners join at --rate per second. A sweep point every --step-listeners "
        "(server CPU per forwarded packet, CPU, loss, delays vs listeners), then a final "
        "window with everyone in. Says whether the server or the bots ran out first. A witness "
        "listener joined first counts what it is sent: each point also has messages per "
        "existing listener, server CPU per join and the step's join p95 (--stage: a stage "
        "room; --signaling-only: listeners join without media)."
    ),
    params=PARAMS,
    run=run,
    check=check,
)
