"""rooms: R sfu rooms of K people each, one or two of them speaking, all at once."""

from __future__ import annotations

from typing import Any

from benchmarks.results import RunResult
from benchmarks.scenarios.base import Param, Scenario
from benchmarks.scenarios.bench import Bench
from benchmarks.workers import BotSpec

PARAMS = (
    Param("rooms", int, 10, "sfu rooms"),
    Param("room_size", int, 5, "people per room, speakers included (2 or more)"),
    Param("room_speakers", int, 1, "speakers per room, talking all the time (1 or 2)"),
    Param("decoders", int, 2, "listeners that also decode (tone check, end-to-end delay)"),
    Param("duration", float, 20.0, "measurement window, seconds"),
    Param("warmup", float, 3.0, "seconds after every listener hears before the window"),
)


def check(p: dict[str, Any]) -> None:
    """ValueError unless there is a room of at least a speaker and a listener."""
    if int(p["rooms"]) < 1 or int(p["room_size"]) < 2:
        raise ValueError("--rooms ≥ 1 and --room-size ≥ 2")


async def run(bench: Bench, p: dict[str, Any]) -> RunResult:
    check(p)
    rooms, size = int(p["rooms"]), int(p["room_size"])
    per_room = min(max(1, int(p["room_speakers"])), size - 1)
    listeners_per_room = size - per_room
    bench.target_participants = rooms * size
    tokens = await bench.tokens(rooms * size)
    await bench.start(speakers=rooms * per_room)
    speakers: list[BotSpec] = []
    listeners: list[BotSpec] = []
    decoders = int(p["decoders"])
    for r in range(rooms):
        seat = tokens[r * size : (r + 1) * size]
        room = await bench.room(seat[0], slots=per_room, size=size)
        speakers += [
            BotSpec(
                f"r{r}-speaker-{i}",
                "speaker",
                seat[i],
                room,
                speaker_index=r * per_room + i,
                slots=0,
            )
            for i in range(per_room)
        ]
        for n in range(listeners_per_room):
            decode = len([x for x in listeners if x.decode]) < decoders and n == 0
            listeners.append(
                BotSpec(
                    f"r{r}-listener-{n}",
                    "listener",
                    seat[per_room + n],
                    room,
                    slots=per_room,
                    decode=decode,
                    speaker_index=r * per_room if per_room == 1 else -1,
                )
            )
    bench.progress.update(phase="speakers joining")
    bench.check_joined(await bench.join(speakers), len(speakers))
    bench.progress.update(phase="listeners joining")
    joined = await bench.join(listeners)
    bench.check_joined(joined, len(listeners))
    bench.progress.update(phase="waiting for audio")
    await bench.wait_heard(sum(len(names) for names in joined.values()))
    await bench.measure(float(p["warmup"]), phase="warming up")
    window = await bench.measure(float(p["duration"]))
    figures = bench.figures(window)
    point = {"rooms": float(rooms), "participants": float(rooms * size)}
    point.update({k: float(v) for k, v in figures.items() if isinstance(v, int | float)})
    return bench.result(
        "rooms", p, figures, limit=bench.limit(window, figures), window=window, points=[point]
    )


SCENARIO = Scenario(
    name="rooms",
    summary=(
        "R sfu rooms of K people at once, one or two speakers per room talking all the time, "
        "the rest listening. Measures what many small rooms cost the server compared with "
        "one large one (fanout): CPU per forwarded packet, RSS per participant, delays, loss."
    ),
    params=PARAMS,
    run=run,
    check=check,
)
