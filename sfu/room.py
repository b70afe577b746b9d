"""A room of the SFU: its participants, who is loud, and which slot carries whom.

The packet path (`route`) is synchronous and allocation-free apart from the one serialized
packet per subscriber: a dict lookup finds the slots carrying this speaker. Slot assignments
change only in `_reassign`, at most five times a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiortc.rtp import RtpPacket

from sfu.config import RtcConfig
from sfu.errors import AlreadyConnected, SessionClosed
from sfu.participant import Participant
from sfu.slot import Slot
from sfu.speakers import SpeakerDetector, assign_slots, listener_wanted
from sfu.stats import SfuStats

REASSIGN_INTERVAL_SECONDS = 0.2  # the `speakers` event goes out at most 5 times a second


@dataclass(frozen=True)
class SpeakerUpdate:
    """What one listener should know: who is on each of its slots, and who is speaking."""

    slots: tuple[str | None, ...]
    speaking: frozenset[str]


# Both are called with the participant's id (its media session id, not the user's).
SpeakersSink = Callable[[str, SpeakerUpdate], None]
FailedSink = Callable[[str], None]


class Room:
    def __init__(
        self,
        room_id: str,
        slots: int,
        rtc: RtcConfig,
        stats: SfuStats,
        on_speakers: SpeakersSink,
        on_failed: FailedSink,
    ) -> None:
        self.id = room_id
        self.slots = slots
        self._rtc = rtc
        self._stats = stats
        self._on_speakers = on_speakers
        self._on_failed = on_failed
        self.participants: dict[str, Participant] = {}
        self._detector = SpeakerDetector(max_active=slots + 1)
        self._routes: dict[str, list[Slot]] = {}
        self._last_updates: dict[str, SpeakerUpdate] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def join(self, participant_id: str, user_id: str, offer_sdp: str) -> str:
        """Connect a media session; `user_id` is whom listeners are told they hear."""
        if self._closed:
            raise SessionClosed()
        if participant_id in self.participants:
            raise AlreadyConnected()
        participant = Participant(participant_id, user_id, self._rtc, self.route, self._failed)
        self.participants[participant_id] = participant
        self._stats.participants += 1
        self._detector.add(participant_id)
        started = time.monotonic()
        try:
            answer = await participant.connect(offer_sdp, self.slots)
        except BaseException:
            self.remove(participant_id)
            await participant.close()
            raise
        if self.participants.get(participant_id) is not participant:
            await participant.close()  # left, or the room closed, while negotiating
            raise SessionClosed()
        self._stats.join_seconds.append(time.monotonic() - started)
        self._reassign(time.monotonic())
        if self._task is None:
            self._task = asyncio.create_task(self._keep_assigning(), name=f"sfu-room-{self.id}")
        return answer

    def remove(self, participant_id: str) -> Participant | None:
        """Take the participant out at once: from this call on nothing is forwarded to or
        from it. Returns it for the caller to `close()` (which may take a while)."""
        participant = self.participants.pop(participant_id, None)
        if participant is None:
            return None
        self._forget(participant)
        self._reassign(time.monotonic())
        return participant

    def _forget(self, participant: Participant) -> None:
        self._stats.participants -= 1
        self._detector.remove(participant.id)
        self._last_updates.pop(participant.id, None)
        participant.detach()

    def set_muted(self, participant_id: str, muted: bool) -> None:
        participant = self.participants.get(participant_id)
        if participant is not None:
            participant.muted = muted
            self._detector.set_muted(participant_id, muted)

    def route(self, publisher: Participant, packet: RtpPacket) -> None:
        """Per incoming packet: drop it if muted, note its level, send it to its slots."""
        stats = self._stats
        if publisher.muted:
            stats.dropped_muted_packets += 1
            return
        now = time.monotonic()
        level = packet.extensions.audio_level
        if level is not None:
            self._detector.on_level(publisher.id, level[1], now)
        slots = self._routes.get(publisher.id)
        if slots is None:
            return
        for slot in slots:
            sent = slot.forward(packet, now)
            if sent:
                stats.forwarded_packets += 1
                stats.forwarded_bytes += sent

    def _reassign(self, now: float) -> None:
        speaking = self._detector.speaking(now)
        ranking = self._slot_order(now)
        routes: dict[str, list[Slot]] = {}
        for listener in self.participants.values():
            if not listener.negotiated:
                continue  # its join reassigns once the slots exist
            previous = tuple(slot.publisher_id for slot in listener.slots)
            wanted = listener_wanted(ranking, listener.id, len(listener.slots))
            assigned = assign_slots(previous, wanted)
            for slot, publisher_id in zip(listener.slots, assigned, strict=True):
                if slot.carry(publisher_id):
                    self._stats.slot_switches += 1
                if publisher_id is not None:
                    routes.setdefault(publisher_id, []).append(slot)
            update = SpeakerUpdate(
                tuple(self._user_of(pid) for pid in assigned),
                frozenset(self.participants[pid].user_id for pid in speaking),
            )
            if self._last_updates.get(listener.id) != update:
                self._last_updates[listener.id] = update
                self._on_speakers(listener.id, update)
        self._routes = routes

    def _user_of(self, participant_id: str | None) -> str | None:
        participant = self.participants.get(participant_id) if participant_id else None
        return participant.user_id if participant is not None else None

    def _slot_order(self, now: float) -> tuple[str, ...]:
        """Who deserves a slot, best first: the ranked speakers, then, while slots are to
        spare, every other publisher (most recently heard first). Ranking only arbitrates
        scarcity: in a small room nobody has to out-shout a threshold to be heard."""
        ranked = self._detector.ranking(now)
        spare = [
            pid
            for pid in self._detector.by_recency()
            if pid not in ranked
            and self.participants[pid].publishing
            and self.participants[pid].negotiated
        ]
        return ranked + tuple(spare)

    async def _keep_assigning(self) -> None:
        while True:
            await asyncio.sleep(REASSIGN_INTERVAL_SECONDS)
            self._reassign(time.monotonic())

    def _failed(self, participant: Participant) -> None:
        self._on_failed(participant.id)

    def close(self) -> list[Participant]:
        """Idempotent: takes everyone out at once, silently (no reassignment, no `speakers`
        callbacks), and returns the participants for the caller to `close()`."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            self._task = None
        participants = list(self.participants.values())
        self.participants.clear()
        self._routes = {}
        for participant in participants:
            self._forget(participant)
        return participants
