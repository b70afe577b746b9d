"""Stage rooms, the witness and the storm meter: what large-room and join-storm share for
issue 15 ("signaling that scales with the room").

- `--stage`: the room is made with `stage: true` (docs/protocol.md, "Stage rooms"). The
  owner's bot (speaker 0) enters as its host; every other speaker bot enters as a listener
  and is brought on stage the way a person is: the host sends `invite-to-speak {roomId,
  userId}`, the bot answers `accept-speak {roomId}` (a listener cannot be made a speaker
  without consent). Listener bots join as the audience.
- `--signaling-only`: listener bots send Socket.IO `join` and nothing else (no `sfu-join`, no
  peer connection), so the server's CPU per join is signaling alone; a join's time is then
  `join` sent → its ack. Speakers keep their media, so `speakers` updates flow as in a real
  room.
- The *witness*: one listener that joins before the storm and counts every Socket.IO event
  it receives, by name (benchmarks.witness): messages per existing listener.
- `StormMeter`: the server's CPU and the witness's counts at both ends of each join phase,
  turned into a sweep point's `server_cpu_ms_per_join` (net of the server's background rate,
  measured in quiet windows around the phase), `messages_per_existing_listener` (cumulative
  since the storm began) and the step's own join percentiles.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.results import percentile_figures
from benchmarks.scenarios.base import Param
from benchmarks.scenarios.bench import Bench
from benchmarks.server_probe import ProbeSample
from benchmarks.targets import BenchError
from benchmarks.witness import cpu_ms_per_join, message_figures, messages_between
from benchmarks.workers import BotSpec, WorkerError

WITNESS = "witness"
QUIET_SECONDS = 3.0  # the quiet window before the storm: the server's background CPU rate
# After the last join, the witness's counts are taken once they have not changed for this
# long (the server coalesces audience updates over 1 s, so the last one may leave up to 1 s
# after the last join), waiting at most SETTLE_WITHIN seconds.
SETTLED_SECONDS = 1.5
SETTLE_WITHIN = 6.0

STAGE_PARAMS = (
    Param("stage", bool, False, "a stage room: speakers on stage, listeners in the audience"),
    Param(
        "signaling_only",
        bool,
        False,
        "listeners send `join` only (no sfu-join, no WebRTC): signaling cost alone",
    ),
)


async def seat_speakers(bench: Bench, room: str, specs: Sequence[BotSpec], *, stage: bool) -> None:
    """Join the speaker bots; in a stage room put them on stage. specs[0] is the room
    owner's bot (the host); the others are invited by it and accept. BenchError when the
    server refuses a step (e.g. a server without stage rooms)."""
    if not stage:
        bench.check_joined(await bench.join(specs), len(specs))
        return
    host, others = specs[0], list(specs[1:])
    _all_in(bench, await bench.join([host]), [host])
    if not others:
        return
    _all_in(bench, await bench.join(others), others)
    for spec in others:
        user_id = await bench.target.user_id(spec.token)
        await _call(bench, host.name, "invite-to-speak", {"roomId": room, "userId": user_id})
        await _call(bench, spec.name, "accept-speak", {"roomId": room})


def _all_in(bench: Bench, joined: dict[str, list[str]], specs: Sequence[BotSpec]) -> None:
    bench.check_joined(joined, len(specs))
    names = {name for names in joined.values() for name in names}
    missing = [s.name for s in specs if s.name not in names]
    if missing:
        raise BenchError(f"speaker bots could not join: {', '.join(missing)}")


async def _call(bench: Bench, name: str, event: str, data: dict[str, Any]) -> None:
    try:
        await bench.call(name, event, data)
    except WorkerError as error:
        raise BenchError(f"stage set-up failed: {error}") from None


async def join_witness(bench: Bench, room: str, token: str, *, media: bool) -> None:
    """The witness listener (signaling only when `media` is False), before the storm."""
    spec = BotSpec(WITNESS, "listener", token, room, speaker_index=-1, media=media, witness=True)
    joined = await bench.join([spec])
    bench.check_joined(joined, 1)
    if not any(joined.values()):
        raise BenchError("the witness listener could not join")


@dataclass(frozen=True)
class Mark:
    """One moment of a storm: the server's probe and the witnesses' cumulative counts."""

    at: float  # time.monotonic()
    probe: ProbeSample
    messages: dict[str, int]
    witnesses: int


class StormMeter:
    """Marks at the ends of join phases, and a sweep point's storm figures from two marks."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.storm_start: Mark | None = None

    async def mark(self) -> Mark:
        stats, sample = await asyncio.gather(self.bench.poll(), self.bench.probe.sample())
        return Mark(time.monotonic(), sample, stats.messages, stats.witnesses)

    async def background(self, seconds: float = QUIET_SECONDS) -> float | None:
        """The server's CPU rate (CPU seconds per second) over a quiet window of `seconds`."""
        self.bench.progress.update(phase="measuring the server at rest")
        start = await self.mark()
        await asyncio.sleep(seconds)  # the window itself: a duration, not an event
        end = await self.mark()
        return rate_between(start, end)

    async def settle(self, quiet: float = SETTLED_SECONDS, within: float = SETTLE_WITHIN) -> Mark:
        """A mark taken once the witnesses' counts have stayed the same for `quiet` seconds
        (or after `within` seconds, if they keep changing: `speakers` updates)."""
        deadline = time.monotonic() + within
        last = await self.mark()
        since = last.at
        while True:
            now = await self.mark()
            if now.messages != last.messages:
                since = now.at
            last = now
            if now.at - since >= quiet or now.at >= deadline:
                return now
            await asyncio.sleep(0.25)  # polling period of the counts

    async def begin(self) -> Mark:
        self.storm_start = await self.mark()
        return self.storm_start

    def step(
        self,
        start: Mark,
        end: Mark,
        joins: int,
        background: float | None,
        messages_at: Mark | None = None,
    ) -> dict[str, float]:
        """One join phase (`start` → `end`, `joins` joins sent): CPU per join (gross and net
        of `background`), messages per existing listener from the storm's beginning to
        `messages_at` (default `end`; total and by event), and the percentiles of the joins
        sent in the phase (as recorded so far: poll the bench after the listeners have
        heard)."""
        seconds = end.at - start.at
        gross, net = cpu_ms_per_join(_cpu(start, end), seconds, joins, background)
        point: dict[str, float] = {"joins": float(joins), "join_phase_seconds": seconds}
        if gross is not None:
            point["server_cpu_ms_per_join_gross"] = gross
        if net is not None:
            point["server_cpu_ms_per_join"] = net
        if background is not None:
            point["server_background_cpu_percent"] = 100 * background
        point.update(self.messages_since_start(messages_at or end))
        point.update(self.step_joins(start.at, end.at))
        return point

    def messages_since_start(self, end: Mark) -> dict[str, float]:
        if self.storm_start is None or not end.witnesses:
            return {}
        delta = messages_between(self.storm_start.messages, end.messages)
        figures = message_figures(delta, end.witnesses)
        figures["storm_seconds"] = end.at - self.storm_start.at
        return figures

    def step_joins(self, since: float, until: float) -> dict[str, float]:
        """join_ms_p50/_p95/_p99 (`join` sent → first audio packet; signaling only: → ack)
        and join_connected_ms_p50/_p95/_p99 (`join` sent → ICE+DTLS up, without the wait
        for the speaker's next packet) of the joins sent in [since, until] (monotonic)."""
        records = [r for r in self.bench.join_records if since <= r[0] <= until]
        times = [ms for _, ms, code in records if ms is not None]
        figures = percentile_figures("join_ms", times)
        connected = [ms for at, ms in self.bench.connect_records if since <= at <= until]
        figures.update(percentile_figures("join_connected_ms", connected))
        return {k: float(v) for k, v in figures.items() if v is not None}


def rate_between(start: Mark, end: Mark) -> float | None:
    cpu = _cpu(start, end)
    seconds = end.at - start.at
    return cpu / seconds if cpu is not None and seconds > 0 else None


def _cpu(start: Mark, end: Mark) -> float | None:
    a, b = start.probe.cpu_seconds, end.probe.cpu_seconds
    return None if a is None or b is None else b - a
