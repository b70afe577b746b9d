"""The listener bots' header-only statistics on crafted packets (RFC 3550 A.1, A.3, A.8; RFC
6464 levels in RFC 8285 one-byte and two-byte header extensions)."""

from __future__ import annotations

import struct

import pytest

from benchmarks.rtp_reader import MAX_DROPOUT, RtpReceiveStats

SSRC = 0x1234_5678
LEVEL_ID = 3
FRAME = 960  # 20 ms at 48 kHz


def rtp(
    seq: int,
    timestamp: int | None = None,
    ssrc: int = SSRC,
    *,
    marker: bool = False,
    level: tuple[bool, int] | None = None,
    two_byte: bool = False,
    csrcs: int = 0,
) -> bytes:
    """An SRTP-shaped datagram: real header, opaque 'encrypted' payload and a 10-byte tag."""
    timestamp = seq * FRAME if timestamp is None else timestamp
    first = 0x80 | csrcs | (0x10 if level is not None else 0)
    header = struct.pack(
        "!BBHII", first, (0x80 if marker else 0) | 111, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc
    )
    header += b"\x00\x00\x00\x01" * csrcs
    if level is not None:
        value = (0x80 if level[0] else 0) | level[1]
        if two_byte:  # mid "a" first, then the level, then padding
            elements = bytes([1, 1, ord("a"), LEVEL_ID, 1, value, 0, 0])
            header += struct.pack("!HH", 0x1000, 2) + elements
        else:  # mid first (id 1, 1 byte), padding, then the level
            elements = bytes([0x10, ord("a"), 0x00, LEVEL_ID << 4, value, 0, 0, 0])
            header += struct.pack("!HH", 0xBEDE, 2) + elements
    return header + bytes(range(40)) + b"\xaa" * 10


def feed(stats: RtpReceiveStats, packets: list[bytes], start: float = 1000.0) -> None:
    for n, packet in enumerate(packets):
        stats.on_datagram(packet, start + 0.02 * n)


def test_in_order_packets_lose_nothing() -> None:
    stats = RtpReceiveStats()
    feed(stats, [rtp(100 + n) for n in range(50)])
    snapshot = stats.snapshot()
    assert snapshot["received"] == 50 and snapshot["expected"] == 50
    assert snapshot["lost"] == 0 and snapshot["duplicates"] == 0 and snapshot["reordered"] == 0
    assert snapshot["ssrcs"] == 1 and snapshot["first_at"] == 1000.0
    assert snapshot["last_at"] == pytest.approx(1000.0 + 0.02 * 49)
    assert stats.bytes == 50 * len(rtp(0))


def test_a_gap_counts_as_lost() -> None:
    stats = RtpReceiveStats()
    feed(stats, [rtp(n) for n in range(20) if n not in (5, 6, 13)])
    assert (stats.received, stats.expected, stats.lost) == (17, 20, 3)


def test_duplicates_are_counted_apart_and_not_as_received_for_loss() -> None:
    stats = RtpReceiveStats()
    feed(stats, [rtp(n) for n in range(10)] + [rtp(9), rtp(4), rtp(4)])
    assert stats.duplicates == 3
    assert stats.received == 13 and stats.expected == 10 and stats.lost == 0
    assert stats.reordered == 0


def test_a_late_packet_is_reordered_and_fills_its_gap() -> None:
    stats = RtpReceiveStats()
    feed(stats, [rtp(0), rtp(1), rtp(3), rtp(4), rtp(2), rtp(5), rtp(2)])
    assert stats.reordered == 1 and stats.lost == 0 and stats.duplicates == 1
    assert stats.expected == 6


def test_sequence_wraps_from_65535_to_0() -> None:
    stats = RtpReceiveStats()
    feed(stats, [rtp(n & 0xFFFF) for n in range(65530, 65546) if n != 65537])  # 1 lost
    stream = stats.streams[SSRC]
    assert stream.extended_max == 65545 and stream.cycles == 0x10000
    assert stats.expected == 16 and stats.lost == 1 and stats.reordered == 0


def test_a_stream_may_start_at_sequence_zero() -> None:
    stats = RtpReceiveStats()
    feed(stats, [rtp(n) for n in range(5)])
    assert (stats.expected, stats.lost) == (5, 0)


def test_reordering_across_the_wrap() -> None:
    stats = RtpReceiveStats()
    feed(stats, [rtp(65534), rtp(0), rtp(65535), rtp(1)])
    assert stats.reordered == 1 and stats.lost == 0 and stats.expected == 4


def test_a_new_ssrc_is_a_new_stream_with_no_loss_across_the_switch() -> None:
    stats = RtpReceiveStats()
    first = [rtp(1000 + n) for n in range(10)]
    # A slot switched to another source: new SSRC, unrelated numbers and timestamps, marker.
    second = [rtp(40000 + n, 7_000_000 + n * FRAME, ssrc=99, marker=n == 0) for n in range(10)]
    feed(stats, first + second)
    assert stats.ssrcs == 2 and stats.expected == 20 and stats.lost == 0
    assert stats.marker_packets == 1


def test_a_restarted_numbering_is_followed_after_two_packets() -> None:
    """RFC 3550 A.1: one packet far ahead is not counted; a second in sequence resyncs."""
    stats = RtpReceiveStats()
    jump = 1000 + MAX_DROPOUT + 500
    feed(stats, [rtp(1000 + n) for n in range(5)] + [rtp(jump + n) for n in range(5)])
    assert stats.uncounted == 1
    assert stats.expected == 5 + 4 and stats.lost == 0
    assert stats.streams[SSRC].extended_max == jump + 4


def test_jitter_of_a_known_pattern() -> None:
    """Every other packet arrives 10 ms late: |D| = 10 ms for every packet after the first,
    so J converges to 10 ms (J += (|D| - J) / 16)."""
    stats = RtpReceiveStats()
    for n in range(400):
        stats.on_datagram(rtp(n), 50.0 + 0.02 * n + (0.01 if n % 2 else 0.0))
    assert stats.jitter_ms == pytest.approx(10.0, abs=0.01)
    steady = RtpReceiveStats()
    feed(steady, [rtp(n) for n in range(100)])
    assert steady.jitter_ms == pytest.approx(0.0, abs=1e-6)


def test_jitter_after_one_late_packet() -> None:
    stats = RtpReceiveStats()
    for n in range(3):
        stats.on_datagram(rtp(n), 10.0 + 0.02 * n + (0.016 if n == 2 else 0.0))
    # One |D| of 16 ms (768 units) over 16: 48 units, 1 ms.
    assert stats.jitter_ms == pytest.approx(1.0, abs=1e-6)


def test_jitter_is_the_worst_ssrc() -> None:
    stats = RtpReceiveStats()
    for n in range(200):
        stats.on_datagram(rtp(n, ssrc=1), 5.0 + 0.02 * n)
        stats.on_datagram(rtp(n, ssrc=2), 5.0 + 0.02 * n + (0.004 if n % 2 else 0.0))
    assert stats.jitter_ms == pytest.approx(4.0, abs=0.01)


@pytest.mark.parametrize("two_byte", [False, True])
def test_audio_levels_and_voice_flags(two_byte: bool) -> None:
    stats = RtpReceiveStats(audio_level_id=LEVEL_ID)
    levels = [(True, 30), (True, 45), (False, 127), (True, 20), (False, 90)]
    feed(stats, [rtp(n, level=lv, two_byte=two_byte) for n, lv in enumerate(levels)])
    assert stats.level_packets == 5 and stats.voiced_packets == 3


def test_audio_level_after_csrcs_and_with_another_id_ignored() -> None:
    stats = RtpReceiveStats(audio_level_id=LEVEL_ID)
    stats.on_datagram(rtp(1, level=(True, 10), csrcs=2), 1.0)
    assert stats.voiced_packets == 1
    other = RtpReceiveStats(audio_level_id=LEVEL_ID + 1)
    other.on_datagram(rtp(1, level=(True, 10)), 1.0)
    assert other.level_packets == 0 and other.received == 1
    unset = RtpReceiveStats()
    unset.on_datagram(rtp(1, level=(True, 10)), 1.0)
    assert unset.level_packets == 0


def test_a_truncated_extension_is_not_read_past_the_datagram() -> None:
    stats = RtpReceiveStats(audio_level_id=LEVEL_ID)
    packet = rtp(1, level=(True, 10))
    stats.on_datagram(packet[:16], 1.0)  # the extension header claims more than there is
    stats.on_datagram(packet[:14], 2.0)
    assert stats.received == 2 and stats.level_packets == 0


def test_rtcp_and_junk_are_ignored() -> None:
    stats = RtpReceiveStats(audio_level_id=LEVEL_ID)
    receiver_report = struct.pack("!BBHI", 0x81, 201, 7, 0xABCDEF) + b"\x00" * 24
    sender_report = struct.pack("!BBHI", 0x80, 200, 6, 0xABCDEF) + b"\x00" * 20
    stun = bytes.fromhex("0001000021122a442a4f") + b"\x00" * 10
    dtls = bytes([22, 0xFE, 0xFD]) + b"\x00" * 30
    junk = [b"", b"\x80", b"\x80" * 11, stun, dtls, receiver_report, sender_report]
    junk.append(b"\x40" + rtp(5)[1:])  # RTP version 1
    for n, datagram in enumerate(junk):
        stats.on_datagram(datagram, float(n))
    assert stats.received == 0 and stats.ssrcs == 0 and stats.first_at is None
    stats.on_datagram(rtp(7, marker=True), 99.0)
    assert stats.received == 1 and stats.marker_packets == 1 and stats.first_at == 99.0


def test_fraction_lost_is_per_interval() -> None:
    stats = RtpReceiveStats()
    feed(stats, [rtp(n) for n in range(100) if n % 4 != 1])  # a quarter lost
    stream = stats.streams[SSRC]
    assert stream.fraction_lost() == 64  # 25 % of 256
    feed(stats, [rtp(n) for n in range(100, 200)], start=2000.0)
    assert stream.fraction_lost() == 0


def test_interleaved_ssrcs_count_as_if_received_apart() -> None:
    """The hot path keeps the previous packet's stream at hand; packets of two SSRCs
    interleaved (with a loss, a duplicate and a reordering in each) still count per SSRC
    exactly as each stream alone."""
    orders = {SSRC: [0, 1, 3, 2, 2, 5, 6], SSRC + 1: [10, 12, 11, 11, 13, 15]}
    together = RtpReceiveStats(LEVEL_ID)
    apart = {ssrc: RtpReceiveStats(LEVEL_ID) for ssrc in orders}
    for n in range(max(len(order) for order in orders.values())):
        for ssrc, order in orders.items():
            if n < len(order):
                packet = rtp(order[n], ssrc=ssrc, level=(n % 2 == 0, 40))
                together.on_datagram(packet, n * 0.02)
                apart[ssrc].on_datagram(packet, n * 0.02)
    for ssrc, alone in apart.items():
        stream, single = together.streams[ssrc], alone.streams[ssrc]
        assert (stream.expected, stream.lost, stream.duplicates, stream.reordered) == (
            single.expected,
            single.lost,
            single.duplicates,
            single.reordered,
        )
        assert stream.jitter == single.jitter
    assert together.lost == 2 and together.duplicates == 2 and together.reordered == 2
    assert together.voiced_packets == sum(s.voiced_packets for s in apart.values())
