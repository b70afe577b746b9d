"""The outgoing stream of a slot: what it puts on the wire, whatever order packets arrive in.

A fake sink records each packet as sent (the seam the real `RtpOutput` sits behind); the
stream and the slot are the real ones.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from aiortc.rtp import RtpPacket

from sfu.rtp_sink import SenderReportSource
from sfu.rtp_stream import FRAME_SAMPLES, MAX_DROPOUT, OutgoingRtpStream
from sfu.slot import Slot

PT = 111
A, B, C = 0xAAAA0001, 0xBBBB0002, 0xCCCC0003  # publishers' SSRCs


@dataclass(frozen=True)
class Sent:
    seq: int
    ts: int
    marker: int
    payload: bytes


@dataclass
class FakeSink:
    ssrc: int = 0x5107
    connected: bool = True
    sent: list[Sent] = field(default_factory=list)
    reporting: list[SenderReportSource] = field(default_factory=list)

    def put(self, sequence_number: int, timestamp: int, marker: int, packet: RtpPacket) -> int:
        if not self.connected:
            return 0
        self.sent.append(Sent(sequence_number, timestamp, marker, packet.payload))
        return 12 + len(packet.payload)

    def report_from(self, source: SenderReportSource) -> None:
        self.reporting.append(source)


def rtp(ssrc: int, seq: int, ts: int | None = None, payload: bytes | None = None) -> RtpPacket:
    """A publisher's packet; by default its timestamp follows its sequence number (20 ms),
    which may be given unwrapped."""
    packet = RtpPacket(
        payload_type=PT,
        sequence_number=seq & 0xFFFF,
        timestamp=(seq * FRAME_SAMPLES if ts is None else ts) & 0xFFFFFFFF,
        ssrc=ssrc,
        payload=payload if payload is not None else f"{ssrc:x}/{seq & 0xFFFF}".encode(),
    )
    packet.extensions.audio_level = (True, 30)
    return packet


def unwrap(values: list[int], bits: int) -> list[int]:
    """Sequence numbers or timestamps as they would be without wrap-around (RFC 3550)."""
    modulus, half = 1 << bits, 1 << (bits - 1)
    out = [values[0]]
    for previous, value in itertools.pairwise(values):
        step = (value - previous) % modulus
        out.append(out[-1] + (step - modulus if step >= half else step))
    return out


def seqs(sink: FakeSink) -> list[int]:
    return unwrap([p.seq for p in sink.sent], 16)


def test_one_publisher_goes_out_continuous_with_its_own_ssrc_and_counts() -> None:
    sink = FakeSink()
    stream = OutgoingRtpStream(sink)
    stream.switch_to("a")
    for n in range(100, 110):
        assert stream.forward("a", rtp(A, n), now=n * 0.02) > 0
    assert [b - a for a, b in itertools.pairwise(seqs(sink))] == [1] * 9
    timestamps = unwrap([p.ts for p in sink.sent], 32)
    assert [b - a for a, b in itertools.pairwise(timestamps)] == [FRAME_SAMPLES] * 9
    assert [p.payload for p in sink.sent] == [f"{A:x}/{n}".encode() for n in range(100, 110)]
    assert stream.packets_sent == 10
    assert stream.octets_sent == sum(len(p.payload) for p in sink.sent)


def test_gaps_within_a_publisher_stay_visible_to_the_receiver() -> None:
    sink = FakeSink()
    stream = OutgoingRtpStream(sink)
    stream.switch_to("a")
    for n in (10, 11, 13, 17, 18):
        stream.forward("a", rtp(A, n), now=0.0)
    assert [b - a for a, b in itertools.pairwise(seqs(sink))] == [1, 2, 4, 1]
    timestamps = unwrap([p.ts for p in sink.sent], 32)
    assert [b - a for a, b in itertools.pairwise(timestamps)] == [
        FRAME_SAMPLES * k for k in (1, 2, 4, 1)
    ]


def test_a_switch_continues_the_stream_with_the_time_that_passed() -> None:
    sink = FakeSink()
    stream = OutgoingRtpStream(sink)
    stream.switch_to("a")
    stream.forward("a", rtp(A, 500), now=10.0)
    stream.forward("a", rtp(A, 501), now=10.02)
    stream.switch_to("b")
    stream.forward("b", rtp(B, 40_000, ts=123), now=10.52)  # half a second later
    stream.forward("b", rtp(B, 40_001, ts=123 + FRAME_SAMPLES), now=10.54)
    stream.switch_to("c")
    stream.forward("c", rtp(C, 7, ts=5), now=10.545)  # sooner than one frame: one frame
    out = sink.sent
    assert seqs(sink)[2:] == [seqs(sink)[1] + n for n in (1, 2, 3)]
    assert (out[2].ts - out[1].ts) % 2**32 == 24_000
    assert (out[3].ts - out[2].ts) % 2**32 == FRAME_SAMPLES
    assert (out[4].ts - out[3].ts) % 2**32 == FRAME_SAMPLES
    assert [p.marker for p in out] == [1, 0, 1, 0, 1], "a new source opens a talkspurt"


def speakers_in_turn(swap: bool) -> tuple[FakeSink, list[tuple[str, int]], list[int]]:
    """Three publishers take turns on one stream, 7 switches; each keeps publishing all the
    while (its sequence numbers run on). With `swap`, every other pair of arrivals is
    swapped, switches included: the old speaker's last packet can land after the switch and
    the new speaker's first packet before its predecessor."""
    publishers = {"a": A, "b": B, "c": C}
    next_seq = {"a": 65_500, "b": 30_000, "c": 1}  # a wraps at 65535 on its way
    events: list[tuple[str, str, int]] = []
    for turn, name in enumerate("abcabcab"):
        events.append(("switch", name, 0))
        for _ in range(9 + turn):
            events.append(("packet", name, next_seq[name]))
            next_seq[name] += 1
        for other in publishers:
            if other != name:
                next_seq[other] += 9 + turn  # heard elsewhere meanwhile
    if swap:
        for i in range(0, len(events) - 1, 4):
            events[i], events[i + 1] = events[i + 1], events[i]
    sink = FakeSink()
    stream = OutgoingRtpStream(sink)
    forwarded: list[tuple[str, int]] = []
    dropped_at: list[int] = []  # how far each dropped packet arrived from the nearest switch
    switches = [i for i, (kind, _, _) in enumerate(events) if kind == "switch"]
    carried = None
    now = 0.0
    for i, (kind, name, seq) in enumerate(events):
        now += 0.02
        if kind == "switch":
            stream.switch_to(name)
            carried = name
        elif stream.forward(name, rtp(publishers[name], seq), now):
            forwarded.append((name, seq))
            assert name == carried, "only the carried publisher reaches the wire"
        else:
            dropped_at.append(min(abs(i - s) for s in switches))
    return sink, forwarded, dropped_at


@pytest.mark.parametrize("swap", [False, True])
def test_reordering_around_switches_never_repeats_or_goes_behind_a_switch(swap: bool) -> None:
    sink, forwarded, dropped_at = speakers_in_turn(swap)
    out = seqs(sink)
    assert len(set(out)) == len(out), "a sequence number went out twice"
    # Each publisher's turn occupies its own range, after everything sent before it.
    turns = [list(group) for _, group in itertools.groupby(zip(forwarded, out, strict=True),
                                                           key=lambda x: x[0][0])]  # fmt: skip
    assert len(turns) == 8
    for earlier, later in itertools.pairwise(turns):
        assert min(s for _, s in later) > max(s for _, s in earlier)
    # Ordered by sequence number, the stream is one timeline: timestamps never go back.
    by_seq = sorted(zip(out, unwrap([p.ts for p in sink.sent], 32), strict=True))
    assert all(t1 <= t2 for (_, t1), (_, t2) in itertools.pairwise(by_seq))
    # Within a turn, output mirrors input: same order, same gaps.
    for turn in turns:
        ins = unwrap([seq for (_, seq), _ in turn], 16)
        outs = [s for _, s in turn]
        assert [b - a for a, b in itertools.pairwise(ins)] == [
            b - a for a, b in itertools.pairwise(outs)
        ]
    if swap:
        # Only stragglers were dropped: packets that arrived next to a switch, and the
        # shuffle did put some there.
        assert dropped_at and max(dropped_at) <= 2
    else:
        assert not dropped_at
        assert [b - a for a, b in itertools.pairwise(out)] == [1] * (len(out) - 1)


def test_a_stream_that_takes_no_late_packets_is_strictly_increasing() -> None:
    sink = FakeSink()
    stream = OutgoingRtpStream(sink, reorder_window=1)
    stream.switch_to("a")
    for n in (1, 3, 2, 5, 4, 6):
        stream.forward("a", rtp(A, n), 0.0)
    assert [p.payload for p in sink.sent] == [f"{A:x}/{n}".encode() for n in (1, 3, 5, 6)]
    assert all(b > a for a, b in itertools.pairwise(seqs(sink)))


def test_a_late_packet_within_the_window_goes_out_once_in_its_place() -> None:
    sink = FakeSink()
    stream = OutgoingRtpStream(sink)
    stream.switch_to("a")
    for n in (1, 2, 4, 5, 3, 3, 5, 1):
        stream.forward("a", rtp(A, n), 0.0)
    assert [p.payload for p in sink.sent] == [f"{A:x}/{n}".encode() for n in (1, 2, 4, 5, 3)]
    first = sink.sent[0].seq
    assert [(p.seq - first) % 65536 for p in sink.sent] == [0, 1, 3, 4, 2]
    stream.forward("a", rtp(A, 5 + 64), 0.0)
    stream.forward("a", rtp(A, 5), 0.0)  # 64 behind: too late to be told from a duplicate
    assert len(sink.sent) == 6


def test_stragglers_of_both_speakers_are_dropped_at_a_switch() -> None:
    sink = FakeSink()
    stream = OutgoingRtpStream(sink)
    stream.switch_to("a")
    stream.forward("a", rtp(A, 100), 0.0)
    stream.forward("a", rtp(A, 102), 0.02)
    stream.switch_to("b")
    assert stream.forward("a", rtp(A, 101), 0.03) == 0, "the old speaker after the switch"
    assert stream.forward("b", rtp(B, 7_001), 0.04) > 0
    assert stream.forward("b", rtp(B, 7_000), 0.05) == 0, "the new speaker from before the switch"
    assert stream.forward("a", rtp(A, 103), 0.06) == 0
    assert stream.forward("b", rtp(B, 7_002), 0.06) > 0
    assert [b - a for a, b in itertools.pairwise(seqs(sink))] == [2, 1, 1]


def test_coming_back_to_the_same_speaker_keeps_it() -> None:
    sink = FakeSink()
    slot = Slot(0, sink)
    slot.carry("a")
    slot.forward("a", rtp(A, 10), 0.0)
    assert slot.carry(None) and not slot.carry(None)
    slot.carry("b")  # b never sent anything on this slot…
    slot.carry("a")  # …so a is still the one it last carried
    assert slot.forward("a", rtp(A, 20), 1.0) > 0
    assert [b - a for a, b in itertools.pairwise(seqs(sink))] == [1]
    assert (sink.sent[1].ts - sink.sent[0].ts) % 2**32 == 48_000


def test_duplicates_from_the_publisher_are_sent_once() -> None:
    sink = FakeSink()
    stream = OutgoingRtpStream(sink)
    stream.switch_to("a")
    for n in (1, 1, 2, 2, 1):
        stream.forward("a", rtp(A, n), 0.0)
    assert len(sink.sent) == 2


def test_sequence_numbers_wrap_at_65535_on_both_sides() -> None:
    sink = FakeSink()
    stream = OutgoingRtpStream(sink)
    stream.max_seq = 65_530
    stream.switch_to("a")
    for n in range(65_533, 65_533 + 8):  # the publisher wraps too, two packets later
        stream.forward("a", rtp(A, n), 0.0)
    stream.switch_to("b")
    stream.forward("b", rtp(B, 65_535), 0.02)
    stream.forward("b", rtp(B, 1), 0.04)  # 0 lost
    stream.forward("b", rtp(B, 0), 0.04)  # late, in its place
    assert [p.seq for p in sink.sent] == [65_531, *range(65_532, 65_536), 0, 1, 2, 3, 5, 4]
    assert len({p.seq for p in sink.sent}) == len(sink.sent)


def test_timestamps_wrap_at_2_to_the_32() -> None:
    sink = FakeSink()
    stream = OutgoingRtpStream(sink)
    stream.max_ts = 2**32 - 1_000
    stream.switch_to("a")
    stream.forward("a", rtp(A, 1, ts=2**32 - 500), 0.0)  # starts one frame after max_ts
    stream.forward("a", rtp(A, 2, ts=2**32 - 500 + FRAME_SAMPLES), 0.02)  # the publisher wraps
    assert [p.ts for p in sink.sent] == [2**32 - 40, 920]
    report = stream.sender_report(0.02 + 1.0)
    assert report.rtp_timestamp == 920 + 48_000
    stream.max_ts = 2**32 - 10
    assert stream.sender_report(0.02 + 0.5).rtp_timestamp == 24_000 - 10


def test_nothing_changes_while_the_sink_cannot_send() -> None:
    sink = FakeSink(connected=False)
    stream = OutgoingRtpStream(sink)
    start_seq, start_ts = stream.max_seq, stream.max_ts
    stream.switch_to("a")
    for n in range(5):
        assert stream.forward("a", rtp(A, n), n * 0.02) == 0
    assert (stream.packets_sent, stream.octets_sent) == (0, 0)
    assert (stream.max_seq, stream.max_ts) == (start_seq, start_ts)
    assert stream.sender_report(1.0) == (start_ts, 0, 0)
    sink.connected = True
    stream.forward("a", rtp(A, 5), 0.1)
    stream.forward("a", rtp(A, 6), 0.12)
    assert [p.seq for p in sink.sent] == [(start_seq + 1) & 0xFFFF, (start_seq + 2) & 0xFFFF]
    assert sink.sent[0].ts == (start_ts + FRAME_SAMPLES) & 0xFFFFFFFF
    assert sink.sent[0].marker == 1
    assert stream.packets_sent == 2
    sink.connected = False  # gone again: a failed send is no packet, even a late one
    assert stream.forward("a", rtp(A, 8), 0.16) == 0
    sink.connected = True
    assert stream.forward("a", rtp(A, 7), 0.18) > 0
    assert stream.forward("a", rtp(A, 8), 0.18) > 0
    assert [b - a for a, b in itertools.pairwise(seqs(sink))] == [1, 1, 1]
    assert stream.packets_sent == 4


def test_a_jump_beyond_the_dropout_limit_restarts_the_mapping() -> None:
    sink = FakeSink()
    stream = OutgoingRtpStream(sink)
    stream.switch_to("a")
    stream.forward("a", rtp(A, 10), 0.0)
    stream.forward("a", rtp(A, 10 + MAX_DROPOUT - 1), 0.02)  # a long loss: kept
    stream.forward("a", rtp(A, 10 + 2 * MAX_DROPOUT), 0.04)  # a restart: continues
    assert [b - a for a, b in itertools.pairwise(seqs(sink))] == [MAX_DROPOUT - 1, 1]


def test_sender_report_pairs_counts_with_the_rtp_time_of_its_instant() -> None:
    sink = FakeSink()
    stream = OutgoingRtpStream(sink)
    stream.switch_to("a")
    for n in range(3):
        stream.forward("a", rtp(A, n, payload=b"x" * 40), 5.0 + n * 0.02)
    report = stream.sender_report(5.04 + 0.25)
    assert report.packet_count == 3 and report.octet_count == 120
    assert report.rtp_timestamp == (sink.sent[-1].ts + 12_000) & 0xFFFFFFFF


def test_a_slot_hands_its_stream_to_the_sink_for_sender_reports() -> None:
    sink = FakeSink()
    slot = Slot(2, sink)
    assert sink.reporting == [slot.stream]
    assert slot.index == 2 and slot.publisher_id is None
    assert slot.carry("a") and not slot.carry("a") and slot.publisher_id == "a"
    assert slot.forward("a", rtp(A, 1), 0.0) > 0
    assert slot.stream.packets_sent == 1


def test_a_new_ssrc_from_the_carried_publisher_restarts_its_input() -> None:
    """The publisher restarts its sender (RFC 3550 §8.2: new SSRC, new sequence base and
    timestamp) while it keeps the slot: no silence, one continuous stream."""
    sink = FakeSink()
    stream = OutgoingRtpStream(sink)
    stream.switch_to("a")
    for n in range(50):
        assert stream.forward("a", rtp(A, n), n * 0.02) > 0
    restarted = 0xA2A20001
    for n in range(500):
        sent = stream.forward(
            "a", rtp(restarted, 20_000 + n, ts=5_000_000 + n * 960), 1.5 + n * 0.02
        )
        assert sent > 0
    assert len(sink.sent) == 550
    assert [b - a for a, b in itertools.pairwise(seqs(sink))] == [1] * 549
    first = sink.sent[50]
    assert first.marker == 1, "the new input opens a talkspurt"
    assert (first.ts - sink.sent[49].ts) % 2**32 == int((1.5 - 49 * 0.02) * 48_000)
    timestamps = unwrap([p.ts for p in sink.sent[50:]], 32)
    assert [b - a for a, b in itertools.pairwise(timestamps)] == [FRAME_SAMPLES] * 499
    # Late packets of the new SSRC from before its first one count as taken, as at a switch.
    assert stream.forward("a", rtp(restarted, 19_999), 11.6) == 0


def test_only_the_carried_publishers_packets_go_out_whatever_their_ssrc() -> None:
    sink = FakeSink()
    stream = OutgoingRtpStream(sink)
    stream.switch_to("a")
    stream.forward("a", rtp(A, 1), 0.0)
    stream.switch_to("b")
    assert stream.forward("b", rtp(B, 1), 0.02) > 0
    assert stream.forward("a", rtp(A, 2), 0.04) == 0, "the previous publisher"
    assert stream.forward("c", rtp(C, 9), 0.05) == 0, "someone never switched to"
    assert stream.forward("b", rtp(C, 9), 0.06) > 0, "b's sender restarted with a new SSRC"
    assert stream.forward("b", rtp(C, 10), 0.08) > 0
    assert [b - a for a, b in itertools.pairwise(seqs(sink))] == [1, 1, 1]
    assert [p.marker for p in sink.sent] == [1, 1, 1, 0]
