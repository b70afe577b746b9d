"""CPU of the SFU room's slot assignment as the audience grows (issue 15): one listener's join,
and one periodic reassignment of every listener, with S speakers on stage and N listeners.

Runs `sfu.room.Room` for real with stand-in participants (no peer connections: this measures
the room's own bookkeeping, which a join storm pays once per join and the room pays five
times a second). `--room-source FILE` loads another version of sfu/room.py in its place, for a
before/after in one run, e.g. `git show <commit>:sfu/room.py > /tmp/room_old.py`.

    python -m benchmarks.room_assignment [--sizes 100,300,1000] [--room-source FILE]

Prints one JSON object per size: `{listeners, join_us, reassign_us}` (process CPU µs, the
mean over the joins from N to N + `--joins` and over `--reassigns` reassignments).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import inspect
import json
import sys
import time
from typing import Any

from aiortc.rtp import RtpPacket

from sfu.config import SfuConfig
from sfu.publisher import Publisher
from sfu.room import Room
from sfu.stats import SfuStats

OPUS = 111


class _Slot:
    def __init__(self) -> None:
        self.publisher_id: str | None = None

    def carry(self, publisher_id: str | None) -> bool:
        changed = publisher_id != self.publisher_id
        self.publisher_id = publisher_id
        return changed

    def forward(self, publisher_id: str, packet: RtpPacket, now: float) -> int:
        return len(packet.payload)


class _Participant:
    def __init__(self, participant_id: str, user_id: str, slots: int, microphone: bool) -> None:
        self.id = participant_id
        self.user_id = user_id
        self.publisher = Publisher(participant_id, user_id, OPUS) if microphone else None
        self.negotiated = False
        self._slots = slots
        self.slots: list[_Slot] = []

    async def connect(self, offer_sdp: str, max_slots: int) -> str:
        self.slots = [_Slot() for _ in range(min(self._slots, max_slots))]
        self.negotiated = True
        return "answer"

    def detach(self) -> None:
        self.negotiated = False

    async def close(self) -> None:
        self.detach()


def _room_class(source: str | None) -> Any:
    if source is None:
        return Room
    spec = importlib.util.spec_from_file_location("room_under_test", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module.Room


async def _join(room: Any, pid: str, speaker: bool, stage_aware: bool) -> None:
    if stage_aware:
        await room.join(pid, f"usr_{pid}", "offer", on_stage=speaker)
    else:
        await room.join(pid, f"usr_{pid}", "offer")


async def measure(
    room_class: Any, listeners: int, speakers: int, joins: int, reassigns: int
) -> dict[str, float]:
    slots = 3
    microphones: dict[str, bool] = {}

    def make(pid: str, user_id: str, on_packet: Any, on_failed: Any) -> _Participant:
        return _Participant(pid, user_id, slots, microphones.get(pid, False))

    room = room_class(
        "rm_bench", slots, SfuConfig(), SfuStats(), make, lambda *_: None, lambda *_: None
    )
    # Before stage rooms a room had no `on_stage`: its listeners offered no microphone.
    stage_aware = "on_stage" in inspect.signature(room.join).parameters
    try:
        for n in range(speakers):
            microphones[f"s{n}"] = True
            await _join(room, f"s{n}", True, stage_aware)
        for n in range(listeners):
            await _join(room, f"l{n}", False, stage_aware)
        started = time.process_time()
        for _ in range(reassigns):
            room._reassign(time.monotonic())
        reassign_us = (time.process_time() - started) / reassigns * 1e6
        started = time.process_time()
        for n in range(listeners, listeners + joins):
            await _join(room, f"l{n}", False, stage_aware)
        join_us = (time.process_time() - started) / joins * 1e6
    finally:
        room.close()
    return {
        "listeners": listeners,
        "join_us": round(join_us, 1),
        "reassign_us": round(reassign_us, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--speakers", type=int, default=3)
    parser.add_argument("--joins", type=int, default=100)
    parser.add_argument("--reassigns", type=int, default=50)
    parser.add_argument("--room-source", default=None, help="another sfu/room.py to measure")
    args = parser.parse_args()
    room_class = _room_class(args.room_source)
    for size in (int(s) for s in args.sizes.split(",")):
        figures = asyncio.run(measure(room_class, size, args.speakers, args.joins, args.reassigns))
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
