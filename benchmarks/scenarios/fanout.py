"""fanout: one sfu room, S speakers talking all the time, L listeners hearing them."""

from __future__ import annotations

from typing import Any

from benchmarks.results import RunResult
from benchmarks.scenarios.base import Param, Scenario
from benchmarks.scenarios.bench import Bench
from benchmarks.workers import BotSpec

MAX_SLOTS = 8  # a room's slots: 1..8 (docs/protocol.md)

PARAMS = (
    Param("listeners", int, 40, "listener bots in the room"),
    Param("speakers", int, 1, "speaker bots, each sending its own tone all the time"),
    Param("decoders", int, 2, "listeners that also decode (tone check, end-to-end delay)"),
    Param("duration", float, 20.0, "measurement window, seconds"),
    Param("warmup", float, 3.0, "seconds after every listener hears before the window"),
)


async def run(bench: Bench, p: dict[str, Any]) -> RunResult:
    listeners, speakers = int(p["listeners"]), max(1, int(p["speakers"]))
    slots = min(speakers, MAX_SLOTS)
    bench.target_participants = listeners + speakers
    tokens = await bench.tokens(listeners + speakers)
    await bench.start(speakers=speakers)
    room = await bench.room(tokens[0], slots=slots, size=max(2, listeners + speakers))
    bench.progress.update(phase="speakers joining")
    specs = [
        BotSpec(f"speaker-{i}", "speaker", tokens[i], room, speaker_index=i, slots=0)
        for i in range(speakers)
    ]
    joined = await bench.join(specs)
    bench.check_joined(joined, speakers)
    bench.progress.update(phase="listeners joining")
    decoders = min(int(p["decoders"]), listeners)
    specs = [
        BotSpec(
            f"listener-{n}",
            "listener",
            tokens[speakers + n],
            room,
            slots=slots,
            decode=n < decoders,
        )
        for n in range(listeners)
    ]
    heard = await bench.join(specs)
    bench.check_joined(heard, listeners)
    bench.progress.update(phase="waiting for audio")
    await bench.wait_heard(sum(len(names) for names in heard.values()))
    await bench.measure(float(p["warmup"]), phase="warming up")
    window = await bench.measure(float(p["duration"]))
    figures = bench.figures(window)
    limit = bench.limit(window, figures)
    point = {"listeners": float(listeners), "speakers": float(speakers)}
    point.update({k: float(v) for k, v in figures.items() if isinstance(v, int | float)})
    return bench.result("fanout", p, figures, limit=limit, window=window, points=[point])


SCENARIO = Scenario(
    name="fanout",
    summary=(
        "One sfu room: S speakers talk all the time (pre-encoded Opus tones), L listeners "
        "hear them on min(S, 8) slots. Measures server CPU per forwarded packet, forwarding "
        "and end-to-end delay, loss, join times, server RSS, and the bots' own cost."
    ),
    params=PARAMS,
    run=run,
)
