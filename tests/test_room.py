"""The SFU room with fake participants: slot assignment, negotiation, spare slots, mute, close.

The fakes stand in for aiortc peer connections (tests/test_sfu.py covers those end to end);
everything the room decides is its own code, run for real.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar

import pytest
from aiortc.rtp import RtpPacket

from sfu import aiortc_hooks
from sfu.config import SfuConfig
from sfu.errors import SessionClosed
from sfu.room import FailureSink, PacketSink, Room, RoomParticipant, SpeakerUpdate
from sfu.room_manager import RoomManager, SfuStartError
from sfu.stats import SfuStats
from tests.room_fakes import OPUS, FakeParticipant, FakeSlot, NoListener


class Harness:
    """A room whose participants are fakes, recording what the room tells signaling."""

    rooms: ClassVar[list[Room]] = []

    def __init__(self, slot_count: int = 2) -> None:
        self.updates: list[tuple[str, SpeakerUpdate]] = []
        self.failed: list[str] = []
        self.made: dict[str, FakeParticipant] = {}
        self.next_microphone = True
        self.next_answered = True
        self.stats = SfuStats()
        self.room = Room(
            "rm_test",
            slot_count,
            SfuConfig(),
            self.stats,
            new_participant=self._make,
            on_speakers=lambda pids, update: self.updates.extend((pid, update) for pid in pids),
            on_failed=self.failed.append,
        )
        Harness.rooms.append(self.room)

    def _make(
        self, participant_id: str, user_id: str, on_packet: PacketSink, on_failed: FailureSink
    ) -> RoomParticipant:
        fake = FakeParticipant(
            participant_id,
            user_id,
            self.room.slot_count,
            self.next_microphone,
            self.next_answered,
        )
        self.made[participant_id] = fake
        return fake

    async def join(self, pid: str, microphone: bool = True) -> FakeParticipant:
        self.next_microphone = microphone
        await self.room.join(pid, f"usr_{pid}", "offer")
        return self.made[pid]

    async def next_update(
        self, pid: str, wanted: Callable[[SpeakerUpdate], bool], timeout: float = 2.0
    ) -> SpeakerUpdate:
        """Waits for the room to tell `pid` something `wanted` (it reassigns every 0.2 s)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            updates = [update for listener, update in self.updates if listener == pid]
            if updates and wanted(updates[-1]):
                return updates[-1]
            assert asyncio.get_running_loop().time() < deadline, updates[-1:]
            await asyncio.sleep(0.01)  # the callback has no awaitable; sample what it recorded

    def last_update(self, pid: str) -> SpeakerUpdate:
        return [update for listener, update in self.updates if listener == pid][-1]


@pytest.fixture(autouse=True)
def close_rooms() -> Iterator[None]:
    """Stops each room's reassignment task with the test."""
    yield
    while Harness.rooms:
        Harness.rooms.pop().close()


def packet(sequence_number: int, level: int | None = None) -> RtpPacket:
    out = RtpPacket(payload_type=OPUS, sequence_number=sequence_number, payload=b"\x01" * 40)
    if level is not None:
        out.extensions.audio_level = (True, level)
    return out


def slot_users(slots: Sequence[FakeSlot]) -> list[str | None]:
    return [slot.publisher_id for slot in slots]


async def test_spare_slots_carry_every_other_publisher_never_oneself() -> None:
    h = Harness(slot_count=2)
    a, b = await h.join("a"), await h.join("b")
    listener = await h.join("c", microphone=False)
    assert set(slot_users(listener.slots)) == {"a", "b"}
    assert slot_users(a.slots) == ["b", None] and slot_users(b.slots) == ["a", None]
    # Listeners are told user ids, not session ids.
    assert set(h.last_update("c").slots) == {"usr_a", "usr_b"}


async def test_packets_reach_the_slots_carrying_their_publisher_and_mute_drops_them() -> None:
    h = Harness(slot_count=1)
    a = await h.join("a")
    listener = await h.join("l", microphone=False)
    assert a.publisher is not None
    h.room.route(a.publisher, packet(1))
    assert listener.slots[0].forwarded == [1] and h.stats.forwarded_packets == 1

    h.room.set_muted("a", True)
    h.room.route(a.publisher, packet(2))
    assert listener.slots[0].forwarded == [1] and h.stats.dropped_muted_packets == 1
    # At the next periodic reassignment a muted publisher gives up its spare slot.
    await h.next_update("l", lambda update: update.slots == (None,))
    assert slot_users(listener.slots) == [None]


async def test_the_loudest_take_scarce_slots() -> None:
    h = Harness(slot_count=1)
    quiet, loud = await h.join("quiet"), await h.join("loud")
    listener = await h.join("l", microphone=False)
    assert quiet.publisher is not None and loud.publisher is not None
    loop = asyncio.get_running_loop()
    started = loop.time()
    n = 0
    while loop.time() - started < 0.4:  # real packets at real times: 0.4 s of speech
        n += 1
        h.room.route(quiet.publisher, packet(n, level=50))
        h.room.route(loud.publisher, packet(n, level=10))
        await asyncio.sleep(0.02)
    assert slot_users(listener.slots) == ["loud"]
    assert "usr_loud" in h.last_update("l").speaking


async def test_publishers_without_audio_levels_are_judged_by_opus_payload_size() -> None:
    """No RFC 6464 level on the packets: Opus payloads clearly above the publisher's own
    noise floor count as speaking, DTX's one-byte frames as silence (sfu.speakers)."""
    h = Harness(slot_count=1)
    quiet, talking = await h.join("quiet"), await h.join("talking")
    listener = await h.join("l", microphone=False)
    assert quiet.publisher is not None and talking.publisher is not None
    dtx = RtpPacket(payload_type=OPUS, payload=b"\x08")
    loop = asyncio.get_running_loop()
    started = loop.time()
    n = 0
    talking_noise = packet(0)
    talking_noise.payload = b"\x01" * 20  # its floor: half the size of its speech
    h.room.route(talking.publisher, talking_noise)
    while loop.time() - started < 0.4:  # real packets at real times: 0.4 s of speech
        n += 1
        h.room.route(talking.publisher, packet(n))
        if n % 20 == 1:  # DTX: a frame every 400 ms
            dtx.sequence_number = n
            h.room.route(quiet.publisher, dtx)
        await asyncio.sleep(0.02)
    await h.next_update("l", lambda update: update.slots == ("usr_talking",))
    assert h.last_update("l").speaking == {"usr_talking"}
    assert slot_users(listener.slots) == ["talking"]


async def test_a_participant_still_negotiating_takes_no_part() -> None:
    h = Harness(slot_count=2)
    await h.join("a")
    h.next_answered = False
    pending = asyncio.create_task(h.room.join("slow", "usr_slow", "offer"))
    await asyncio.sleep(0)  # let it reach connect(): negotiating
    assert "slow" in h.made and not h.made["slow"].negotiated
    h.next_answered = True
    await h.join("b")
    assert "slow" not in [listener for listener, _ in h.updates]
    assert all("slow" not in slot_users(p.slots) for p in h.made.values())
    h.made["slow"].answer.set()
    assert await pending == "answer"
    assert set(slot_users(h.made["slow"].slots)) == {"a", "b"}


async def test_leaving_while_negotiating_ends_the_session() -> None:
    h = Harness()
    h.next_answered = False
    pending = asyncio.create_task(h.room.join("gone", "usr_gone", "offer"))
    await asyncio.sleep(0)
    removed = h.room.remove("gone")
    assert removed is h.made["gone"] and h.made["gone"].detached
    h.made["gone"].answer.set()
    with pytest.raises(SessionClosed):
        await pending
    assert h.made["gone"].closed and h.room.participants == {}


async def test_closing_a_thousand_participant_room_is_silent_and_immediate() -> None:
    h = Harness(slot_count=3)
    for n in range(1000):
        await h.join(f"p{n}", microphone=n < 5)
    h.updates.clear()
    participants = h.room.close()
    assert h.updates == []  # no reassignment, no `speakers` for people being ejected
    assert len(participants) == 1000 and h.room.participants == {}
    assert all(fake.detached for fake in h.made.values())
    with pytest.raises(SessionClosed):
        await h.room.join("late", "usr_late", "offer")


async def test_the_manager_refuses_to_start_when_aiortc_internals_moved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def moved() -> None:
        raise RuntimeError("aiortc/aioice internals changed: RTCRtpSender.__init__ lost __mid")

    monkeypatch.setattr(aiortc_hooks, "check_internals", moved)
    manager = RoomManager(SfuConfig(), NoListener())
    with pytest.raises(SfuStartError, match="lost __mid"):
        manager.start()


async def test_forwarding_delay_is_observed_once_per_received_packet_not_per_copy() -> None:
    h = Harness(slot_count=1)
    a = await h.join("a")
    for name in ("l1", "l2", "l3"):
        await h.join(name, microphone=False)
    assert a.publisher is not None
    h.room.route(a.publisher, packet(1))
    assert h.stats.forwarded_packets == 3
    delay = h.stats.forwarding_delay
    assert delay.count == 1 and delay.sum_us > 0

    h.room.set_muted("a", True)
    h.room.route(a.publisher, packet(2))  # dropped: nothing forwarded, nothing observed
    assert delay.count == 1


# --- stage rooms -------------------------------------------------------------------------------


async def stage_join(h: Harness, pid: str, on_stage: bool) -> FakeParticipant:
    await h.room.join(pid, f"usr_{pid}", "offer", on_stage=on_stage)
    return h.made[pid]


async def test_a_listener_off_stage_is_never_routed_and_its_audio_is_dropped() -> None:
    h = Harness(slot_count=2)
    host = await stage_join(h, "host", on_stage=True)
    loud = await stage_join(h, "loud", on_stage=False)  # a listener whose client sends anyway
    other = await stage_join(h, "other", on_stage=False)
    assert host.publisher is not None and loud.publisher is not None
    for sequence in range(50):
        h.room.route(loud.publisher, packet(sequence))
    assert h.stats.dropped_listener_packets == 50 and h.stats.forwarded_packets == 0
    # Slots to spare, yet the listener fills none: only the host is heard.
    assert slot_users(other.slots) == ["host", None]
    assert all(update.slots != ("usr_loud",) for _, update in h.updates)
    assert "loud" not in h.room._detector.by_recency()  # nobody ranks the audience

    h.room.set_on_stage("loud", True)  # invited and accepted
    assert slot_users(other.slots) == ["host", "loud"]
    h.room.route(loud.publisher, packet(51))
    assert other.slots[1].forwarded == [51]

    h.room.set_on_stage("loud", False)  # moved back to the audience
    assert slot_users(other.slots) == ["host", None]
    h.room.route(loud.publisher, packet(52))
    assert other.slots[1].forwarded == [51] and h.stats.dropped_listener_packets == 51


async def test_an_audience_member_joining_or_leaving_tells_only_itself() -> None:
    h = Harness(slot_count=1)
    await stage_join(h, "host", on_stage=True)
    first = await stage_join(h, "first", on_stage=False)
    h.updates.clear()
    late = await stage_join(h, "late", on_stage=False)
    assert [pid for pid, _ in h.updates] == ["late"]  # nobody else's slots changed
    assert slot_users(late.slots) == ["host"]
    host = h.made["host"]
    assert host.publisher is not None
    h.room.remove("late")
    h.room.route(host.publisher, packet(7))
    assert first.slots[0].forwarded == [7] and late.slots[0].forwarded == []
    assert [pid for pid, _ in h.updates] == ["late"]


async def test_listeners_with_the_same_voices_get_one_update_together() -> None:
    calls: list[tuple[list[str], SpeakerUpdate]] = []
    h = Harness(slot_count=1)
    h.room._on_speakers = lambda pids, update: calls.append((list(pids), update))
    await stage_join(h, "host", on_stage=True)
    for n in range(5):
        await stage_join(h, f"l{n}", on_stage=False)
    speaker = await stage_join(h, "speaker", on_stage=False)
    calls.clear()
    h.room.set_on_stage("host", False)  # the only voice leaves the stage
    assert speaker.publisher is not None
    (listeners, _update), *rest = [c for c in calls if c[1].slots == (None,)]
    assert sorted(listeners) == sorted(["speaker", *(f"l{n}" for n in range(5))]) and not rest


async def test_the_periodic_reassignment_touches_no_listener_while_nothing_changed() -> None:
    """An idle room of 200 listeners: a tick ranks the stage and stops there. Once someone
    starts talking the next tick reassigns everyone, and then stops again."""
    h = Harness(slot_count=1)
    a, b = await h.join("a"), await h.join("b")
    listeners = [await h.join(f"l{n}", microphone=False) for n in range(200)]
    slots = [slot for listener in (a, b, *listeners) for slot in listener.slots]

    def touched() -> int:
        return sum(slot.carries for slot in slots)

    now = time.monotonic()
    h.room.refresh(now)
    before = touched()
    for tick in range(1, 6):
        h.room.refresh(now + tick * 0.2)
    assert touched() == before, "quiet ticks assign nothing"

    assert b.publisher is not None
    for n in range(30):  # b talks: it is ranked first
        h.room.route(b.publisher, packet(n, level=10))
    h.room.refresh(time.monotonic())
    assert touched() > before
    assert listeners[0].slots[0].publisher_id == "b"
    after = touched()
    h.room.refresh(time.monotonic())
    assert touched() == after
