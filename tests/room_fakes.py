"""Stand-ins for tests of the SFU's rooms: a listener that ignores what the SFU tells it,
and fake participants and slots for `sfu.room.Room` in place of aiortc peer connections
(tests/test_sfu.py covers those end to end); everything the room decides is its own code,
run for real."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiortc.rtp import RtpPacket

from sfu.publisher import Publisher
from sfu.room import SpeakerUpdate

OPUS = 111


class FakeSlot:
    def __init__(self) -> None:
        self.publisher_id: str | None = None
        self.forwarded: list[int] = []
        self.carries = 0  # every time the room (re)assigned this slot, changed or not

    def carry(self, publisher_id: str | None) -> bool:
        self.carries += 1
        changed = publisher_id != self.publisher_id
        self.publisher_id = publisher_id
        return changed

    def forward(self, publisher_id: str, packet: RtpPacket, now: float) -> int:
        self.forwarded.append(packet.sequence_number)
        return len(packet.payload)


class FakeParticipant:
    def __init__(
        self,
        participant_id: str,
        user_id: str,
        slots: int,
        microphone: bool,
        answered: bool = True,
    ) -> None:
        self.id = participant_id
        self.user_id = user_id
        self.publisher = Publisher(participant_id, user_id, OPUS) if microphone else None
        self.negotiated = False
        self._slot_count = slots
        self.slots: list[FakeSlot] = []
        self.detached = False
        self.closed = False
        # A test opens it to let the answer through (a participant still negotiating).
        self.answer = asyncio.Event()
        if answered:
            self.answer.set()

    async def connect(self, offer_sdp: str, max_slots: int) -> str:
        await self.answer.wait()
        self.slots = [FakeSlot() for _ in range(min(self._slot_count, max_slots))]
        self.negotiated = True
        return "answer"

    def detach(self) -> None:
        self.detached = True
        self.negotiated = False

    async def close(self) -> None:
        self.detach()
        self.closed = True


class NoListener:
    def on_speakers(
        self, room_id: str, participant_ids: Sequence[str], update: SpeakerUpdate
    ) -> None:
        pass

    def on_media_failed(self, room_id: str, participant_id: str) -> None:
        pass
