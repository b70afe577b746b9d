"""large-room: up to 1,000+ listeners join one sfu room at a given rate; speakers take turns.

S speakers join first; one talks at a time for --turn seconds, then the next (the others
send only DTX frames, as a muted-by-silence browser does), so the room's single slot
switches speaker at every turn. Listeners join at --rate per second; after every --step-listeners
listeners a --step-window measurement gives one point (CPU per forwarded packet, server
and bot CPU, loss, delay vs listeners). When every listener is in, a --duration window
gives the run's figures. The ramp stops early when most of a step's joins fail.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from benchmarks.results import RunResult
from benchmarks.scenarios.base import Param, Scenario
from benchmarks.scenarios.bench import Bench
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
    if int(p["listeners"]) + max(1, int(p["speakers"])) > MAX_ROOM or float(p["rate"]) <= 0:
        raise ValueError(f"--listeners + --speakers ≤ {MAX_ROOM}, --rate > 0")


async def run(bench: Bench, p: dict[str, Any]) -> RunResult:
    check(p)
    listeners, speakers = int(p["listeners"]), max(1, int(p["speakers"]))
    rate, step = float(p["rate"]), max(1, int(p["step_listeners"]))
    bench.target_participants = listeners + speakers
    tokens = await bench.tokens(listeners + speakers)
    await bench.start(speakers=speakers)
    room = await bench.room(tokens[0], slots=1, size=max(2, listeners + speakers))
    bench.progress.update(phase="speakers joining")
    names = [f"speaker-{i}" for i in range(speakers)]
    specs = [
        BotSpec(names[i], "speaker", tokens[i], room, speaker_index=i, slots=0)
        for i in range(speakers)
    ]
    bench.check_joined(await bench.join(specs), speakers)
    for name in names[1:]:
        await bench.workers.talk(0, name, False)
    turns = asyncio.get_running_loop().create_task(_take_turns(bench, names, float(p["turn"])))
    try:
        return await _ramp(bench, p, room, tokens[speakers:], listeners, rate, step)
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
    decoders = int(p["decoders"])
    points: list[dict[str, float]] = []
    joined = in_room = 0
    limit: tuple[str, str] | None = None
    while joined < listeners:
        batch = range(joined, min(listeners, joined + step))
        bench.progress.update(phase=f"listeners joining ({batch.stop}/{listeners})")
        specs = [
            BotSpec(
                f"listener-{n}", "listener", tokens[n], room, decode=n < decoders, speaker_index=-1
            )
            for n in batch
        ]
        outcome = await bench.join_paced(specs, rate)
        if not joined:
            bench.check_joined(outcome, len(specs))
        ok = sum(len(names) for names in outcome.values())
        in_room += ok
        joined = batch.stop
        await bench.wait_heard(in_room, HEAR_SECONDS)
        window = await bench.measure(float(p["step_window"]), phase=f"measuring at {joined}")
        figures = bench.figures(window)
        point = {"listeners": float(window.end.listeners)}
        point.update({k: float(v) for k, v in figures.items() if isinstance(v, int | float)})
        points.append(point)
        if ok < GIVE_UP_FAILED * len(specs):
            limit = ("join-failures", f"{len(specs) - ok} of {len(specs)} joins failed")
            break
    window = await bench.measure(float(p["duration"]))
    figures = bench.figures(window)
    return bench.result(
        "large-room",
        p,
        figures,
        limit=limit or bench.limit(window, figures),
        window=window,
        points=points,
    )


SCENARIO = Scenario(
    name="large-room",
    summary=(
        "One sfu room with one slot: S speakers take turns (--turn seconds each) while up to "
        "1,000+ listeners join at --rate per second. A sweep point every --step-listeners "
        "(server CPU per forwarded packet, CPU, loss, delays vs listeners), then a final "
        "window with everyone in. Says whether the server or the bots ran out first."
    ),
    params=PARAMS,
    run=run,
    check=check,
)
