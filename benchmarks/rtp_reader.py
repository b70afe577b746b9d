"""Receive statistics from RTP headers alone: what a listener bot learns without decrypting.

SRTP encrypts the payload only; the 12-byte RTP header, its CSRCs and header extensions stay in
clear (RFC 3711 §3.1), so sequence numbers, timestamps, SSRC, the marker bit and the RFC 6464
audio level can be read from every received datagram before (and instead of) SRTP unprotect.

Per SSRC (RFC 3550 Appendix A):
- A.1: extended highest sequence number, counting 16-bit wrap-arounds; a jump of more than
  MAX_DROPOUT ahead (or MAX_MISORDER behind) is taken as a restart of the sender's numbering
  once a second packet confirms it (the first is not counted, as A.1 does).
- A.3: expected = extended max - base + 1; lost = expected - unique packets received.
- duplicates: a window of the last WINDOW sequence numbers below the maximum, one bit each.
  A packet below the maximum that is not a duplicate is counted as reordered.
- A.8: interarrival jitter J += (|D| - J) / 16 in RTP time units (48 kHz for Opus, RFC 7587),
  reported in milliseconds; `jitter_ms` is the largest over the SSRCs.
Totals count every RTP datagram (`received`, `bytes`, `marker_packets`, `voiced_packets`).

`on_datagram` is the hot path of a listener bot (one call per received packet, tens of
thousands a second per process): one `unpack_from`, one dict lookup, integer arithmetic, no
allocation but the few ints Python makes, no logging, no exceptions for ordinary packets.
"""

from __future__ import annotations

import struct

RTP_CLOCK_RATE = 48_000  # Opus's RTP clock whatever the audio bandwidth (RFC 7587 §4.1)
MAX_DROPOUT = 3000  # RFC 3550 A.1
MAX_MISORDER = 100  # RFC 3550 A.1
WINDOW = 64  # duplicate detection: sequence numbers remembered below the highest
_WINDOW_MASK = (1 << WINDOW) - 1
_ONE_BYTE_PROFILE = 0xBEDE  # RFC 8285 §4.2
_TWO_BYTE_PROFILE = 0x100  # RFC 8285 §4.3 (top 12 bits; the low 4 are app bits)

_HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC
_unpack_header = _HEADER.unpack_from
_unpack_extension = struct.Struct("!HH").unpack_from  # profile, length in 32-bit words


class RtpStream:
    """One SSRC's sequence and jitter state (RFC 3550 A.1, A.3, A.8)."""

    __slots__ = (
        "_expected_prior",
        "_received_prior",
        "bad_seq",
        "base",
        "cycles",
        "duplicates",
        "jitter",
        "max_seq",
        "received",
        "reordered",
        "retired_expected",
        "retired_received",
        "ssrc",
        "transit",
        "window",
    )

    def __init__(self, ssrc: int, seq: int) -> None:
        self.ssrc = ssrc
        self.base = seq  # extended number of the first packet
        # As if the packet before the first had arrived, so that the first adds in order.
        self.cycles = -0x10000 if seq == 0 else 0  # wrap-arounds × 65536
        self.max_seq = (seq - 1) & 0xFFFF
        self.bad_seq = -1  # A.1's RTP_SEQ_MOD + 1: no jump pending
        self.received = 0  # unique packets of the current numbering
        self.duplicates = 0
        self.reordered = 0
        self.window = 0  # bit k: extended max - k was received
        self.transit: float | None = None  # A.8, in RTP units
        self.jitter = 0.0  # A.8, in RTP units
        # Numberings the sender restarted (A.1's resync): kept so losses still add up.
        self.retired_expected = 0
        self.retired_received = 0
        self._expected_prior = 0
        self._received_prior = 0

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        """Packets expected so far (A.3), over every numbering of this SSRC."""
        return self.retired_expected + self.cycles + self.max_seq - self.base + 1

    @property
    def unique_received(self) -> int:
        return self.retired_received + self.received

    @property
    def lost(self) -> int:
        """Expected minus received, duplicates not counted (never below zero)."""
        return max(0, self.expected - self.unique_received)

    def fraction_lost(self) -> int:
        """Loss since the previous call, 8-bit fixed point (A.3, for a receiver report)."""
        expected, received = self.expected, self.unique_received
        expected_interval = expected - self._expected_prior
        lost_interval = expected_interval - (received - self._received_prior)
        self._expected_prior, self._received_prior = expected, received
        if expected_interval <= 0 or lost_interval <= 0:
            return 0
        return (lost_interval << 8) // expected_interval

    def add(self, seq: int, timestamp: int, arrival: float) -> int:
        """Account one packet; returns 0 for a new in-order packet, 1 for a duplicate, 2 for a
        reordered packet, 3 for a packet A.1 does not count (the first after a big jump)."""
        max_seq = self.max_seq
        delta = (seq - max_seq) & 0xFFFF
        if 0 < delta < MAX_DROPOUT:  # ahead: in order, possibly after a gap
            if seq < max_seq:
                self.cycles += 0x10000
            self.max_seq = seq
            window = self.window
            self.window = ((window << delta) | 1) & _WINDOW_MASK if delta < WINDOW else 1
            self.received += 1
            # _jitter, inlined on the path nearly every packet takes.
            transit = arrival * RTP_CLOCK_RATE - timestamp
            last = self.transit
            self.transit = transit
            if last is not None:
                d = transit - last if transit > last else last - transit
                if d < 0x80000000:
                    self.jitter += (d - self.jitter) * 0.0625
            return 0
        if delta == 0 or delta > 0x10000 - MAX_MISORDER:  # the maximum again, or behind it
            behind = (max_seq - seq) & 0xFFFF
            if behind < WINDOW:
                bit = 1 << behind
                if self.window & bit:
                    self.duplicates += 1
                    return 1
                self.window |= bit
            # Older than the window: cannot tell a duplicate apart, taken as reordered.
            self.received += 1
            self.reordered += 1
            self._jitter(timestamp, arrival)
            return 2
        # A big jump (A.1): a restarted sender if the next packet follows this one.
        if seq == self.bad_seq:
            self.retired_expected += self.cycles + max_seq - self.base + 1
            self.retired_received += self.received
            self.base = self.max_seq = seq
            self.cycles = 0
            self.received = 1
            self.window = 1
            self.bad_seq = -1
            self.transit = None
            self._jitter(timestamp, arrival)
            return 0
        self.bad_seq = (seq + 1) & 0xFFFF
        return 3

    def _jitter(self, timestamp: int, arrival: float) -> None:
        transit = arrival * RTP_CLOCK_RATE - timestamp
        last = self.transit
        self.transit = transit
        if last is not None:
            d = transit - last
            if d < 0:
                d = -d
            # The RTP clock wraps at 2^32: a transit jump that large is the wrap, not jitter.
            if d < 0x80000000:
                self.jitter += (d - self.jitter) * 0.0625


class RtpReceiveStats:
    """Statistics of one listener (all its slots): feed it every received RTP datagram.

    audio_level_id: the RFC 6464 extension's id negotiated in the SDP (`a=extmap:N
    urn:ietf:params:rtp-hdrext:ssrc-audio-level`), None to skip levels; may be set later
    (once the SDP is known), as the attribute of the same name.
    """

    def __init__(self, audio_level_id: int | None = None) -> None:
        self.audio_level_id = audio_level_id
        self.received = 0  # RTP datagrams, duplicates included
        self.bytes = 0  # their size on the wire (SRTP: header + payload + auth tag)
        self.marker_packets = 0  # M bit: talkspurt starts, slot switches (RFC 3551 §4.1)
        self.voiced_packets = 0  # RFC 6464 V=1
        self.level_packets = 0  # packets carrying the audio level extension
        self.uncounted = 0  # not counted by A.1 (the first packet after a big jump)
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.streams: dict[int, RtpStream] = {}
        self._last_stream: RtpStream | None = None

    def on_datagram(self, data: bytes, now: float) -> None:
        """Account one datagram received at `now` (time.monotonic() seconds). Not RTP (too
        short, version ≠ 2, an RTCP packet type 192-223 in the second byte, RFC 5761 §4):
        ignored. The payload is never read, so an SRTP datagram works as well as plain RTP."""
        if len(data) < 12:
            return
        first, second = data[0], data[1]
        if first & 0xC0 != 0x80 or 192 <= second <= 223:
            return
        self.on_rtp(data, now)

    def on_rtp(self, data: bytes, now: float) -> None:
        """`on_datagram` for a datagram the caller has checked is RTP (at least 12 bytes,
        version 2, not RTCP): the listener bots' hot path, with RtpStream.add's in-order
        case and the audio level's read inlined (one call per packet, not four)."""
        first, second, seq, timestamp, ssrc = _unpack_header(data)
        self.received += 1
        self.bytes += len(data)
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        if second & 0x80:
            self.marker_packets += 1
        stream = self._last_stream  # one SSRC per slot: nearly always the previous one
        if stream is None or stream.ssrc != ssrc:
            stream = self.streams.get(ssrc)
            if stream is None:
                stream = self.streams[ssrc] = RtpStream(ssrc, seq)
            self._last_stream = stream
        max_seq = stream.max_seq
        delta = (seq - max_seq) & 0xFFFF
        if 0 < delta < MAX_DROPOUT:  # RtpStream.add's in-order case, as there
            if seq < max_seq:
                stream.cycles += 0x10000
            stream.max_seq = seq
            window = stream.window
            stream.window = ((window << delta) | 1) & _WINDOW_MASK if delta < WINDOW else 1
            stream.received += 1
            transit = now * RTP_CLOCK_RATE - timestamp
            last = stream.transit
            stream.transit = transit
            if last is not None:
                d = transit - last if transit > last else last - transit
                if d < 0x80000000:
                    stream.jitter += (d - stream.jitter) * 0.0625
        elif stream.add(seq, timestamp, now) == 3:
            self.uncounted += 1
        if first & 0x10:
            wanted = self.audio_level_id
            if wanted is None:
                return
            offset = 12 + 4 * (first & 0x0F)
            size = len(data)
            if offset + 4 > size or data[offset] != 0xBE or data[offset + 1] != 0xDE:
                self._audio_level(data, offset)  # two-byte elements, or truncated
                return
            # _audio_level's one-byte case (RFC 8285 §4.2), inlined.
            i = offset + 4
            end = i + 4 * (data[offset + 2] << 8 | data[offset + 3])
            if end > size:
                end = size
            while i < end:
                byte = data[i]
                element = byte >> 4
                if element == 0:  # padding
                    i += 1
                    continue
                if element == 15:  # reserved: stop
                    return
                if element == wanted:
                    if i + 1 < end:
                        self.level_packets += 1
                        if data[i + 1] & 0x80:
                            self.voiced_packets += 1
                    return
                i += 2 + (byte & 0x0F)

    def _audio_level(self, data: bytes, offset: int) -> None:
        """The RFC 6464 byte of the RFC 8285 header extension block at `offset`, if present."""
        if len(data) < offset + 4:
            return
        profile, words = _unpack_extension(data, offset)
        start = offset + 4
        end = min(start + 4 * words, len(data))
        wanted = self.audio_level_id
        if profile == _ONE_BYTE_PROFILE:
            i = start
            while i < end:
                byte = data[i]
                element = byte >> 4
                if element == 0:  # padding
                    i += 1
                    continue
                if element == 15:  # reserved: stop (RFC 8285 §4.2)
                    return
                if element == wanted and i + 1 < end:
                    self.level_packets += 1  # _level, inlined
                    if data[i + 1] & 0x80:
                        self.voiced_packets += 1
                    return
                i += 2 + (byte & 0x0F)
        elif profile >> 4 == _TWO_BYTE_PROFILE:
            i = start
            while i + 1 < end:
                element = data[i]
                if element == 0:
                    i += 1
                    continue
                length = data[i + 1]
                if element == wanted and length >= 1 and i + 2 < end:
                    self._level(data[i + 2])
                    return
                i += 2 + length

    def _level(self, value: int) -> None:
        self.level_packets += 1
        if value & 0x80:
            self.voiced_packets += 1

    # --- totals ---------------------------------------------------------------------------

    @property
    def ssrcs(self) -> int:
        return len(self.streams)

    @property
    def expected(self) -> int:
        return sum(s.expected for s in self.streams.values())

    @property
    def lost(self) -> int:
        return sum(s.lost for s in self.streams.values())

    @property
    def duplicates(self) -> int:
        return sum(s.duplicates for s in self.streams.values())

    @property
    def reordered(self) -> int:
        return sum(s.reordered for s in self.streams.values())

    @property
    def jitter_ms(self) -> float:
        """RFC 3550 A.8 interarrival jitter of the most jittery SSRC, in milliseconds."""
        jitters = [s.jitter for s in self.streams.values()]
        return max(jitters, default=0.0) * 1000.0 / RTP_CLOCK_RATE

    def snapshot(self) -> dict[str, float]:
        """The counters above as one JSON-ready dict (first_at/last_at: NaN before any)."""
        return {
            "received": self.received,
            "bytes": self.bytes,
            "expected": self.expected,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "reordered": self.reordered,
            "marker_packets": self.marker_packets,
            "ssrcs": self.ssrcs,
            "jitter_ms": self.jitter_ms,
            "voiced_packets": self.voiced_packets,
            "level_packets": self.level_packets,
            "first_at": float("nan") if self.first_at is None else self.first_at,
            "last_at": float("nan") if self.last_at is None else self.last_at,
        }
