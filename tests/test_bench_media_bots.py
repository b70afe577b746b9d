"""The load tester's media bots against the real SFU (sfu.RoomManager in this process): a
speaker bot's looped Opus reaches listener bots that read RTP headers only, with zero loss,
the right tone, a positive end-to-end delay, and ICE consent kept by STUN alone."""

from __future__ import annotations

import asyncio
import gc
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aioice
import aioice.stun
import pytest
from aiortc import RTCConfiguration

from benchmarks.bot_cost import measure_bot_cost, measure_receive_floor
from benchmarks.bot_upkeep import CONSENT_FAILURES, Upkeep
from benchmarks.bots import LOOPBACK
from benchmarks.media_bots import (
    BOT_GC_THRESHOLD,
    ListenerBot,
    SpeakerBot,
    _Bot,
    check_bot_internals,
    collect_less_often,
    new_send_log,
    rtp_receiver,
    rtp_tap,
)
from benchmarks.opus_clip import ClipIndex, OpusClip, clip_for_speaker, speaker_hz
from benchmarks.rtp_reader import RtpReceiveStats
from benchmarks.send_log import SendLog
from benchmarks.stun_answer import consent_response
from benchmarks.udp_poller import DatagramPoller, PolledTransport
from sfu.config import RtcConfig, SfuConfig
from sfu.room_manager import RoomManager
from tests.room_fakes import NoListener
from tests.sfu_state import is_connected

ROOM = "rm_benchbots"
ROOM_SLOTS = 1
CONSENT_EXPIRY = 2.0


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


def ice_connection(bot: _Bot) -> Any:
    """The aioice Connection of a bot's (bundled) transport."""
    return bot.pc.getTransceivers()[0].receiver.transport.transport._connection


async def test_bots_keep_their_own_consent_on_the_shared_timer(room: Room) -> None:
    """The bot's consent checks (benchmarks.bot_upkeep, one timer for all bots) are answered
    by the server: no failure round, and the bot stays connected past several rounds."""
    upkeep = Upkeep.running()
    upkeep.round_seconds = 0.2
    listener = ListenerBot("listener", room.rtc, slots=1)
    await room.enter(listener)
    consent = upkeep.consents[ice_connection(listener)]
    rounds = upkeep.rounds
    await until(lambda: upkeep.rounds >= rounds + 4)
    assert consent.failures == 0 and consent.checks
    assert listener.pc.connectionState == "connected"


async def test_a_peer_that_stops_answering_loses_consent(loopback_only: RtcConfig) -> None:
    """Against a peer that stops answering (its socket drops everything from then on), the
    listener's connection closes after CONSENT_FAILURES rounds, as aioice's own would."""
    rtc = loopback_only.rtc_configuration()
    upkeep = Upkeep.running()
    upkeep.round_seconds = 0.1
    speaker = SpeakerBot("speaker", rtc, speaker_index=0)
    listener = ListenerBot("listener", rtc, slots=1)
    try:
        await listener.answer(await speaker.offer())
        await speaker.accept(listener.pc.localDescription.sdp)
        await asyncio.gather(speaker.connected(), listener.connected())
        await until(lambda: listener.stats.received > 10)
        for protocol in ice_connection(speaker)._protocols:
            transport = protocol.transport
            assert isinstance(transport, PolledTransport)
            transport.receiver = lambda data, addr, now: None  # deaf from now on
        await until(lambda: listener.pc.connectionState in ("failed", "closed"), timeout=5.0)
        assert upkeep.rounds >= CONSENT_FAILURES
    finally:
        await listener.close()
        await speaker.close()


class Sink(asyncio.DatagramProtocol):
    """A datagram protocol whose instances take attributes (asyncio's has __slots__)."""


def crafted_traffic() -> list[bytes]:
    """SRTP-shaped datagrams with a loss, a duplicate, a reordering, a wrap-around, a
    second SSRC, an RTCP packet and a STUN-like datagram (neither counted)."""

    def rtp(seq: int, ssrc: int = 0x1111) -> bytes:
        timestamp = ((seq - 65530) & 0xFFFF) * 960  # continuous across the wrap-around
        header = struct.pack("!BBHII", 0x90, 111, seq & 0xFFFF, timestamp, ssrc)
        return header + struct.pack("!HH", 0xBEDE, 1) + bytes([0x10, 0x95, 0, 0]) + bytes(60)

    order = [*range(65530, 65536), 0, 1, 3, 2, 2, *range(4, 10), *range(11, 20)]
    rtcp = struct.pack("!BBHI", 0x80, 200, 6, 0x1111) + bytes(24)
    stun = bytes([0, 1, 0, 0]) + struct.pack("!I", 0x2112A442) + bytes(12)
    return [rtp(n) for n in order] + [rtcp, stun] + [rtp(n, 0x2222) for n in range(5)]


async def test_batched_receive_gives_the_per_datagram_statistics() -> None:
    """The same datagrams through the poller (kernel arrival times, reads held and batched)
    and through the event loop's own datagram transport give the same statistics; arrival
    times are the kernel's, between sending and reading."""
    loop = asyncio.get_running_loop()
    batched, per_datagram = RtpReceiveStats(audio_level_id=1), RtpReceiveStats(audio_level_id=1)
    unused: list[bytes] = []

    def sample(data: bytes, now: float) -> None:
        unused.append(data)

    polled_protocol = Sink()
    polled = DatagramPoller.running().open(LOOPBACK, polled_protocol)
    polled.receiver = rtp_receiver(polled_protocol, batched.on_datagram, 0, sample, False)
    transport, protocol = await loop.create_datagram_endpoint(Sink, local_addr=(LOOPBACK, 0))
    tap = rtp_tap(protocol, per_datagram.on_datagram, 0, sample, False)
    protocol.datagram_received = tap  # type: ignore[method-assign,assignment]
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    traffic = crafted_traffic()
    try:
        sent_at = time.monotonic()
        for data in traffic:
            for port in (
                polled.get_extra_info("sockname")[1],
                transport.get_extra_info("sockname")[1],
            ):
                sender.sendto(data, (LOOPBACK, port))
        await until(lambda: batched.received == per_datagram.received == len(traffic) - 2)
        assert batched.first_at is not None and sent_at <= batched.first_at <= time.monotonic()
        got, want = batched.snapshot(), per_datagram.snapshot()
        for key in ("first_at", "last_at", "jitter_ms"):
            del got[key], want[key]
        assert got == want
        assert want["lost"] == 1 and want["duplicates"] == 1 and want["reordered"] == 1
        assert want["ssrcs"] == 2 and want["voiced_packets"] == want["received"]
        # Sent at once, 20 ms of RTP time apart: the same jitter within a millisecond.
        assert abs(batched.jitter_ms - per_datagram.jitter_ms) < 1.0
    finally:
        sender.close()
        polled.close()
        transport.close()


async def test_consent_checks_are_answered_with_aioices_own_bytes(
    loopback_only: RtcConfig,
) -> None:
    """benchmarks.stun_answer answers a consent check on the nominated pair with exactly the
    bytes aioice would send, and leaves to aioice every request that would change its state
    or that it would refuse."""
    controlling = aioice.Connection(ice_controlling=True)
    controlled = aioice.Connection(ice_controlling=False)
    try:
        await asyncio.gather(controlling.gather_candidates(), controlled.gather_candidates())
        for local, remote in ((controlling, controlled), (controlled, controlling)):
            for candidate in remote.local_candidates:
                await local.add_remote_candidate(candidate)
            await local.add_remote_candidate(None)
            local.remote_username = remote.local_username
            local.remote_password = remote.local_password
        await asyncio.gather(controlling.connect(), controlled.connect())
        pair, answering = controlling._nominated[1], controlled._nominated[1]
        key = controlled.local_password.encode()
        source = answering.remote_addr

        def check(*, nominate: bool = False, password: bytes = key) -> bytes:
            request = controlling.build_request(pair, nominate=nominate)
            request.add_message_integrity(password)
            return bytes(request)

        request = check()
        got = consent_response(controlled, answering.protocol, request, source)
        want = aioice.stun.Message(
            message_method=aioice.stun.Method.BINDING,
            message_class=aioice.stun.Class.RESPONSE,
            transaction_id=request[8:20],
        )
        want.attributes["XOR-MAPPED-ADDRESS"] = source
        want.add_message_integrity(key)
        assert got == bytes(want)
        # Left to aioice: a nomination, a wrong password, another source, the wrong role.
        assert (
            consent_response(controlled, answering.protocol, check(nominate=True), source) is None
        )
        wrong = check(password=b"not the password")
        assert consent_response(controlled, answering.protocol, wrong, source) is None
        elsewhere = (source[0], source[1] + 1)
        assert consent_response(controlled, answering.protocol, request, elsewhere) is None
        assert consent_response(controlling, pair.protocol, request, pair.remote_addr) is None
    finally:
        await controlling.close()
        await controlled.close()


def test_a_bot_process_collects_generation_0_less_often_and_never_more() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, *before[1:])
        collect_less_often()
        assert gc.get_threshold()[0] == BOT_GC_THRESHOLD
        gc.set_threshold(BOT_GC_THRESHOLD * 2, *before[1:])
        collect_less_often()  # never lowers a threshold set higher
        assert gc.get_threshold()[0] == BOT_GC_THRESHOLD * 2
    finally:
        gc.set_threshold(*before)


async def test_a_listener_bot_leaves_the_process_collection_alone(
    loopback_only: RtcConfig,
) -> None:
    # A test process (or any that hosts the server too) keeps its own rhythm.
    before = gc.get_threshold()
    bot = ListenerBot("listener", loopback_only.rtc_configuration(), slots=1)
    try:
        assert gc.get_threshold() == before
    finally:
        await bot.close()
