"""A room of the SFU: its participants, who is loud, and which slot carries whom.

The packet path (`route`) is synchronous and allocation-free apart from the one serialized
packet per subscriber: a dict lookup finds the slots carrying this publisher. Slot assignments
change only in `_reassign`, at most five times a second.

The room builds its participants through a factory, so slot assignment, negotiation, spare
slots and close are tested with fakes (tests/test_room.py); `sfu.participant.Participant` is
the real one, an aiortc peer connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiortc.rtp import RtpPacket

from sfu.config import SfuConfig
from sfu.errors import AlreadyConnected, SessionClosed
from sfu.publisher import Publisher
from sfu.speakers import SpeakerDetector, assign_slots, listener_wanted
from sfu.stats import SfuStats


@dataclass(frozen=True)
class SpeakerUpdate:
    """What one listener should know: whose voice (user ids) is on each of its slots, and
    who is speaking."""

    slots: tuple[str | None, ...]
    speaking: frozenset[str]


class ForwardingSlot(Protocol):
    """One receive slot of a listener (sfu.slot.Slot)."""

    @property
    def publisher_id(self) -> str | None: ...

    def carry(self, publisher_id: str | None) -> bool: ...

    def forward(self, publisher_id: str, packet: RtpPacket, now: float) -> int: ...


class RoomParticipant(Protocol):
    """What a room needs of a participant (sfu.participant.Participant)."""

    id: str
    user_id: str
    publisher: Publisher | None
    # True once the answer is set: before that the slots do not exist yet.
    negotiated: bool

    @property
    def slots(self) -> Sequence[ForwardingSlot]: ...

    async def connect(self, offer_sdp: str, max_slots: int) -> str: ...

    def detach(self) -> None: ...

    async def close(self) -> None: ...


PacketSink = Callable[[Publisher, RtpPacket], None]
FailureSink = Callable[[RoomParticipant], None]
# (participant id, user id, the room's packet sink, its failure sink) → a participant.
ParticipantFactory = Callable[[str, str, PacketSink, FailureSink], RoomParticipant]
# Called with participants' ids (media session ids, not users'): every listener whose update
# is this one, so signaling sends it as one message to all of them.
SpeakersSink = Callable[[list[str], SpeakerUpdate], None]
# Called with the participant's id.
FailedSink = Callable[[str], None]


class Room:
    def __init__(
        self,
        room_id: str,
        slot_count: int,
        config: SfuConfig,
        stats: SfuStats,
        new_participant: ParticipantFactory,
        on_speakers: SpeakersSink,
        on_failed: FailedSink,
        flush: Callable[[], object] = lambda: None,
    ) -> None:
        """`flush`: sends what the slots queued for one received packet (sfu.rtp_batch)."""
        self.id = room_id
        self.slot_count = slot_count
        self._config = config
        self._stats = stats
        self._new_participant = new_participant
        self._on_speakers = on_speakers
        self._on_failed = on_failed
        self._flush = flush
        self.participants: dict[str, RoomParticipant] = {}
        self._detector = SpeakerDetector(max_active=slot_count + 1, config=config.speakers)
        self._routes: dict[str, list[ForwardingSlot]] = {}
        self._last_updates: dict[str, SpeakerUpdate] = {}
        self._last_plan_key: object = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def join(
        self, participant_id: str, user_id: str, offer_sdp: str, on_stage: bool = True
    ) -> str:
        """Connect a media session; `user_id` is whom listeners are told they hear;
        `on_stage` False for a stage room's listener (`set_on_stage`).

        Raises AlreadyConnected, SessionClosed (the room closed, or the participant was
        removed, while the offer was answered) and the participant's own SfuErrors."""
        if self._closed:
            raise SessionClosed()
        if participant_id in self.participants:
            raise AlreadyConnected()
        participant = self._new_participant(participant_id, user_id, self.route, self._failed)
        self.participants[participant_id] = participant
        started = time.monotonic()
        try:
            answer = await participant.connect(offer_sdp, self.slot_count)
        except BaseException:
            self.remove(participant_id)
            await participant.close()
            raise
        if self.participants.get(participant_id) is not participant:
            await participant.close()
            raise SessionClosed()
        publisher = participant.publisher
        if publisher is not None:
            publisher.on_stage = on_stage  # before any packet: ICE has not begun
            if on_stage:
                self._detector.add(participant_id)
        now = time.monotonic()
        self._stats.join_seconds.append(now - started)
        if publisher is not None and on_stage:
            self._reassign(now)  # a new voice may take a spare slot from anyone
        else:
            self._assign_newcomer(participant, now)  # nobody else hears differently
        if self._task is None:
            self._task = asyncio.create_task(self._keep_assigning(), name=f"sfu-room-{self.id}")
        return answer

    def remove(self, participant_id: str) -> RoomParticipant | None:
        """Take the participant out at once: from this call on nothing is forwarded to or
        from it. Returns it for the caller to `close()` (which may take a while)."""
        participant = self.participants.pop(participant_id, None)
        if participant is None:
            return None
        slots, publisher = list(participant.slots), participant.publisher
        self._forget(participant)
        if publisher is not None and publisher.on_stage:
            self._reassign(time.monotonic())
        else:  # a listener alone: only its own slots stop being fed
            self._unroute(slots)
        return participant

    def set_muted(self, participant_id: str, muted: bool) -> None:
        publisher = self._publisher(participant_id)
        if publisher is None or publisher.muted == muted:
            return
        publisher.muted = muted
        if muted:
            self._detector.silence(publisher.id)

    def set_on_stage(self, participant_id: str, on_stage: bool) -> None:
        """Off stage (a stage room's listener), a publisher's audio is dropped on arrival and
        it leaves its slots at once; on stage it is ranked again."""
        publisher = self._publisher(participant_id)
        if publisher is None or publisher.on_stage == on_stage:
            return
        publisher.on_stage = on_stage
        # Only voices on stage are ranked: a large audience costs the detector nothing.
        if on_stage:
            self._detector.add(publisher.id)
        else:
            self._detector.remove(publisher.id)
        self._reassign(time.monotonic())

    def _publisher(self, participant_id: str) -> Publisher | None:
        participant = self.participants.get(participant_id)
        return participant.publisher if participant is not None else None

    def route(self, publisher: Publisher, packet: RtpPacket) -> None:
        """Per incoming packet: drop it if muted or off stage, note its level (RFC 6464, or
        else the Opus payload size against the publisher's noise floor: sfu.speakers), queue
        a copy for every slot carrying its publisher, then send them all (one flush)."""
        stats = self._stats
        if publisher.silenced:
            if publisher.muted:
                stats.dropped_muted_packets += 1
            else:
                stats.dropped_listener_packets += 1
            return
        now = time.monotonic()
        level = packet.extensions.audio_level
        if level is not None:
            self._detector.on_level(publisher.id, level[1], now)
        else:  # no RFC 6464 level negotiated: judge activity by the Opus payload's size
            self._detector.on_opus_size(publisher.id, len(packet.payload), now)
        slots = self._routes.get(publisher.id)
        if slots is None:
            return
        publisher_id = publisher.id
        forwarded = 0
        try:
            for slot in slots:
                sent = slot.forward(publisher_id, packet, now)
                if sent:
                    forwarded += 1
                    stats.forwarded_bytes += sent
        finally:
            # Whatever happened, nothing queued for this packet is left in the shared batch
            # to go out with another packet, on a descriptor that may have changed hands.
            self._flush()
        if forwarded:
            stats.forwarded_packets += forwarded
            # Once per received packet, not per copy: the last copy's delay is the fan-out's.
            stats.forwarding_delay.observe((time.monotonic() - now) * 1e6)

    def close(self) -> list[RoomParticipant]:
        """Idempotent: takes everyone out at once, silently (no reassignment, no `speakers`
        callbacks: the mediasoup way), and returns the participants for the caller to
        `close()`."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            self._task = None
        participants = list(self.participants.values())
        self.participants.clear()
        self._routes = {}
        self._last_updates.clear()
        for participant in participants:
            participant.detach()
        return participants

    def _forget(self, participant: RoomParticipant) -> None:
        self._detector.remove(participant.id)
        self._last_updates.pop(participant.id, None)
        participant.detach()

    def refresh(self, now: float) -> None:
        """The periodic reassignment (every `reassign_interval_seconds`): skipped while the
        slot order and who speaks are what the last reassignment used, since every listener's
        slots are then what it would assign again. So an idle room of 1,000 costs one ranking
        per tick, not a walk over every listener."""
        plan = self._plan(now)
        if plan.key != self._last_plan_key:
            self._reassign(now, plan)

    def _reassign(self, now: float, plan: _Plan | None = None) -> None:
        """Every listener's slots, the routes, and the speaker updates that changed."""
        plan = plan or self._plan(now)
        self._last_plan_key = plan.key
        routes: dict[str, list[ForwardingSlot]] = {}
        # In a large room most listeners hear the same voices: one call per distinct update.
        changed: dict[SpeakerUpdate, list[str]] = {}
        for listener in self.participants.values():
            if not listener.negotiated:
                continue  # its join reassigns once the slots exist
            update = self._assign(listener, plan, routes)
            if self._last_updates.get(listener.id) != update:
                self._last_updates[listener.id] = update
                changed.setdefault(update, []).append(listener.id)
        self._routes = routes
        for update, listener_ids in changed.items():
            self._on_speakers(listener_ids, update)

    def _assign_newcomer(self, listener: RoomParticipant, now: float) -> None:
        """A participant who adds no voice: fill its own slots, leave everyone else's."""
        if not listener.negotiated:
            return
        plan = self._plan(now)
        if plan.key != self._last_plan_key:
            # The room moved on since its last reassignment: the next refresh must reassign
            # everyone even if the room comes back to that state, or this newcomer keeps what
            # it was told now.
            self._last_plan_key = None
        update = self._assign(listener, plan, self._routes)
        self._last_updates[listener.id] = update
        self._on_speakers([listener.id], update)

    def _plan(self, now: float) -> _Plan:
        speaking = self._detector.speaking(now)
        participants = self.participants
        users = frozenset(participants[pid].user_id for pid in speaking if pid in participants)
        return _Plan(self._slot_order(now), users, self._user_of)

    def _assign(
        self, listener: RoomParticipant, plan: _Plan, routes: dict[str, list[ForwardingSlot]]
    ) -> SpeakerUpdate:
        slots = listener.slots
        previous = tuple(slot.publisher_id for slot in slots)
        assigned = plan.assigned(previous, listener.id)
        for slot, publisher_id in zip(slots, assigned, strict=True):
            if slot.carry(publisher_id):
                self._stats.slot_switches += 1
            if publisher_id is not None:
                routes.setdefault(publisher_id, []).append(slot)
        return plan.update(assigned)

    def _unroute(self, slots: Sequence[ForwardingSlot]) -> None:
        for slot in slots:
            carried = self._routes.get(slot.publisher_id) if slot.publisher_id else None
            if carried is not None and slot in carried:
                carried.remove(slot)

    def _user_of(self, participant_id: str | None) -> str | None:
        participant = self.participants.get(participant_id) if participant_id else None
        return participant.user_id if participant is not None else None

    def _slot_order(self, now: float) -> tuple[str, ...]:
        """Who deserves a slot, best first: the ranked speakers, then, while slots are to
        spare, every other unmuted publisher (most recently heard first). Ranking only
        arbitrates scarcity: in a small room nobody has to out-shout a threshold to be heard."""
        ranked = self._detector.ranking(now)
        spare = [
            pid
            for pid in self._detector.by_recency()
            if pid not in ranked and self._may_fill_a_spare_slot(self.participants[pid])
        ]
        return ranked + tuple(spare)

    @staticmethod
    def _may_fill_a_spare_slot(participant: RoomParticipant) -> bool:
        publisher = participant.publisher
        return publisher is not None and not publisher.silenced and participant.negotiated

    async def _keep_assigning(self) -> None:
        interval = self._config.reassign_interval_seconds
        while True:
            await asyncio.sleep(interval)
            self.refresh(time.monotonic())

    def _failed(self, participant: RoomParticipant) -> None:
        self._on_failed(participant.id)


class _Plan:
    """One reassignment's view of the room: the slot order and who speaks, with the work
    shared by listeners in the same position memoized (in a room of 1,000 listeners nearly
    all of them have the same previous slots and want the same voices)."""

    def __init__(
        self,
        ranking: tuple[str, ...],
        speaking_users: frozenset[str],
        user_of: Callable[[str | None], str | None],
    ) -> None:
        self._ranking = ranking
        # What the assignment depends on besides each listener's own slots.
        self.key = (ranking, speaking_users)
        self._ranked = frozenset(ranking)
        self._speaking = speaking_users
        self._user_of = user_of
        self._assigned: dict[tuple[tuple[str | None, ...], str | None], tuple[str | None, ...]] = {}
        self._updates: dict[tuple[str | None, ...], SpeakerUpdate] = {}

    def assigned(
        self, previous: tuple[str | None, ...], listener_id: str
    ) -> tuple[str | None, ...]:
        # A listener among the ranked must not get its own voice; all others want the same.
        own = listener_id if listener_id in self._ranked else None
        key = (previous, own)
        assigned = self._assigned.get(key)
        if assigned is None:
            wanted = listener_wanted(self._ranking, listener_id, len(previous))
            assigned = self._assigned[key] = assign_slots(previous, wanted)
        return assigned

    def update(self, assigned: tuple[str | None, ...]) -> SpeakerUpdate:
        update = self._updates.get(assigned)
        if update is None:
            users = tuple(self._user_of(pid) for pid in assigned)
            update = self._updates[assigned] = SpeakerUpdate(users, self._speaking)
        return update
