"""The load tester's media bots against the real SFU (sfu.RoomManager in this process): a
speaker bot's looped Opus reaches listener bots that read RTP headers only, with zero loss,
the right tone, a positive end-to-end delay, and ICE consent kept by STUN alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from aiortc import RTCConfiguration

from benchmarks.bot_cost import measure_bot_cost, measure_receive_floor
from benchmarks.media_bots import (
    ListenerBot,
    SpeakerBot,
    _Bot,
    check_bot_internals,
    new_send_log,
)
from benchmarks.opus_clip import ClipIndex, OpusClip, clip_for_speaker, speaker_hz
from benchmarks.send_log import SendLog
from sfu.config import RtcConfig, SfuConfig
from sfu.room import SpeakerUpdate
from sfu.room_manager import RoomManager
from tests.sfu_state import is_connected

ROOM = "rm_benchbots"
ROOM_SLOTS = 1
CONSENT_EXPIRY = 2.0


class NoListener:
    def on_speakers(self, room_id: str, participant_id: str, update: SpeakerUpdate) -> None:
        pass

    def on_media_failed(self, room_id: str, participant_id: str) -> None:
        pass


@dataclass
class Room:
    manager: RoomManager
    rtc: RTCConfiguration
    send_log: SendLog
    bots: list[_Bot]

    async def enter(self, bot: _Bot) -> None:
        self.bots.append(bot)
        offer = await bot.offer()
        answer = await self.manager.join(ROOM, ROOM_SLOTS, bot.name, f"usr_{bot.name}", offer)
        await bot.accept(answer)
        await bot.connected()


@pytest.fixture
async def room(loopback_only: RtcConfig) -> AsyncIterator[Room]:
    config = SfuConfig(
        rtc=loopback_only, consent_interval_seconds=0.5, consent_expiry_seconds=CONSENT_EXPIRY
    )
    send_log = new_send_log(1)
    bots: list[_Bot] = []
    async with RoomManager(config, NoListener()) as manager:
        try:
            yield Room(manager, loopback_only.rtc_configuration(), send_log, bots)
        finally:
            for bot in bots:
                await bot.close()
            send_log.unlink()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def test_clips_are_unique_with_real_levels_and_dtx() -> None:
    clip = clip_for_speaker(0)
    assert len(set(clip.frames)) == len(clip.frames)
    assert clip.frames[0] and clip.voiced[0] and clip.markers[0]
    voiced_levels = [lv for lv, v in zip(clip.levels, clip.voiced, strict=True) if v]
    assert all(10 <= lv <= 30 for lv in voiced_levels), voiced_levels  # a -15 dBov tone
    dtx = [n for n, v in enumerate(clip.voiced) if not v]
    assert dtx and all(clip.levels[n] == 127 and len(clip.frames[n]) < 20 for n in dtx)
    # In a silence, one frame every 400 ms (20 ticks) and nothing between.
    silent = [t for t in range(clip.tick_count) if clip.schedule[t] < 0]
    assert silent and len(clip.frames) == clip.tick_count - len(silent)
    index = ClipIndex.for_speakers(3)
    assert index.lookup(clip_for_speaker(2).frames[17]) == (2, 17)
    assert clip_for_speaker(1).hz != clip.hz == speaker_hz(0)
    steady = OpusClip.tone(440.0, 2.0, dtx=False)
    assert all(steady.voiced[: steady.tick_count]) and steady.idle


async def test_speaker_reaches_listeners_without_loss(room: Room) -> None:
    speaker = SpeakerBot("speaker", room.rtc, speaker_index=0, send_log=room.send_log)
    await room.enter(speaker)
    listener = ListenerBot("listener", room.rtc, slots=1, sample_every=5, send_log=room.send_log)
    decoder = ListenerBot("decoder", room.rtc, slots=1, decode=True, send_log=room.send_log)
    await room.enter(listener)
    await room.enter(decoder)

    await until(lambda: listener.stats.received >= 150 and decoder.tone_hz is not None)
    stats = listener.stats
    assert stats.audio_level_id is not None and stats.level_packets == stats.received
    assert stats.lost == 0 and stats.duplicates == 0 and stats.reordered == 0, stats.snapshot()
    assert stats.ssrcs == 1 and stats.expected == stats.received
    assert 0 < stats.voiced_packets <= stats.received
    assert stats.jitter_ms < 20.0
    assert speaker.sent_packets >= stats.received
    # Sampled, decrypted packets: delays from the shared send log, positive and small.
    assert len(listener.delays_ms) >= 20
    assert all(0.0 < d < 1000.0 for d in listener.delays_ms), listener.delays_ms
    # The decoder hears speaker 0's tone.
    assert decoder.tone_hz == pytest.approx(speaker_hz(0), abs=3.0)
    assert decoder.stats.lost == 0 and decoder.stats.received > 0


async def test_turns_send_only_dtx_and_mark_the_next_spurt(room: Room) -> None:
    speaker = SpeakerBot("speaker", room.rtc, speaker_index=0, send_log=room.send_log)
    await room.enter(speaker)
    listener = ListenerBot("listener", room.rtc, slots=1, send_log=room.send_log)
    await room.enter(listener)
    await until(lambda: listener.stats.received >= 20)
    speaker.stop_talking()
    sent = speaker.sent_packets
    await asyncio.sleep(1.0)  # a second of silence is what is measured here
    assert speaker.sent_packets - sent <= 4  # 400 ms DTX: 2-3 a second, not 50
    markers = listener.stats.marker_packets
    speaker.start_talking()
    await until(lambda: listener.stats.marker_packets > markers)


async def test_consent_is_kept_by_stun_alone(room: Room) -> None:
    """sample_every=0: no packet reaches aiortc, so the bot sends no RTCP; only its answers
    to the server's consent checks (STUN, passed on by the tap) keep it in the room."""
    speaker = SpeakerBot("speaker", room.rtc, speaker_index=0, send_log=room.send_log)
    await room.enter(speaker)
    listener = ListenerBot("quiet", room.rtc, slots=1, sample_every=0)
    await room.enter(listener)
    await until(lambda: listener.stats.received > 0)
    await asyncio.sleep(CONSENT_EXPIRY * 2)  # past the expiry: the connection must outlive it
    assert listener.pc.connectionState == "connected"
    assert is_connected(room.manager, ROOM, "quiet")
    received = listener.stats.received
    await until(lambda: listener.stats.received > received + 20)
    assert listener.stats.lost == 0


def test_bot_cost_measures_cpu_per_packet() -> None:
    """The figure every run prints: real bots in two processes, over a short window."""
    cost = measure_bot_cost(listeners=2, seconds=1.5, warmup=0.5, breakdown=True)
    assert cost.packets > 100 and cost.lost == 0
    assert cost.us_per_packet is not None and cost.us_per_packet > 0
    assert cost.quiet is not None and cost.quiet.packets < cost.packets
    assert "µs of CPU per received packet" in cost.line()
    floor = measure_receive_floor(sockets=4, seconds=0.5)
    assert floor.bare_us is not None and floor.tapped_us is not None


def test_the_aiortc_internals_the_bots_use_are_there() -> None:
    check_bot_internals()
