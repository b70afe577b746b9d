"""One outgoing RTP stream, the single owner of what it puts on the wire.

After mediasoup's `RtpStreamSend` + `SeqManager` and LiveKit's `DownTrack` + `RTPMunger`. The
stream carries one source (a publisher, named by whoever feeds it) at a time and maps the
source's sequence numbers and timestamps onto its own with two offsets, fixed when the source
(or its SSRC) starts:

- The stream keeps the highest sequence number it sent (RFC 3550 wrap-around comparison),
  that packet's timestamp and when it went out. A new source starts right after them: the
  next sequence number, and the timestamp advanced by the real time elapsed (at least one
  20 ms frame), so the receiver's jitter buffer sees one stream with a pause in it.
- Within a source, gaps are kept (a lost packet stays lost for the receiver, which conceals
  it and reports it), and a packet that arrives late but within `reorder_window` packets of
  the newest is forwarded once, in its place, as it would have reached the receiver directly.
- Nothing is sent twice and nothing from before the current source began: a window of bits
  remembers which of the last `reorder_window` sequence numbers went out, and when a source
  starts every position behind its first packet counts as taken. So the new source's
  stragglers from before the switch are dropped, and so is every packet of another source
  than the one switched to (each packet comes with its source's name). Every sequence
  number on the wire is new, and each source's range starts past everything sent before it.
- A source jumping forward by `MAX_DROPOUT` or more restarts the mapping (RFC 3550 A.1), and
  so does a new SSRC from the current source (its sender restarted, RFC 3550 §8.2: a new
  random sequence base and timestamp): the output stays one continuous stream, its
  timestamp advanced by the real time elapsed and a talkspurt marker set. (A late packet of
  the SSRC it replaced is one more restart: a marker and at least one frame of timestamp,
  never a repeated or backward sequence number.)

A packet the sink could not send (0 bytes) changes nothing. The stream counts what it sent
(packets, payload octets) and answers sender reports with an RTP time extrapolated from its
newest packet to the report's instant.

Hot path: `forward` is synchronous, never logs or awaits, and allocates nothing of its own:
the sink rewrites its own header template (sfu.rtp_batch).
"""

from __future__ import annotations

import secrets
from collections.abc import Hashable

from aiortc.rtp import RtpPacket

from sfu.rtp_sink import RtpSink, SenderReport

OPUS_CLOCK_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms at 48 kHz: the least a switch advances the clock by
MAX_DROPOUT = 3000  # RFC 3550 A.1: a bigger jump forward is a restart, not a loss
REORDER_WINDOW = 64  # packets (1.28 s of Opus): later than this, a late packet is dropped
_SEQ_HALF = 0x8000


class OutgoingRtpStream:
    def __init__(
        self,
        sink: RtpSink,
        clock_rate: int = OPUS_CLOCK_RATE,
        reorder_window: int = REORDER_WINDOW,
    ) -> None:
        if not 1 <= reorder_window <= MAX_DROPOUT:
            raise ValueError("reorder_window must be within 1..MAX_DROPOUT")
        self._put = sink.put  # bound once: one lookup less per packet
        self._clock_rate = clock_rate
        self._frame = FRAME_SAMPLES * clock_rate // OPUS_CLOCK_RATE
        self._window = reorder_window
        self._window_mask = (1 << reorder_window) - 1
        # On the wire: the highest sequence number sent, its timestamp, when it went out.
        # A random start in the lower half of the sequence space, as aiortc and Chromium do.
        self.max_seq = secrets.randbits(15)
        self.max_ts = secrets.randbits(32)
        self._max_sent_at: float | None = None
        self.packets_sent = 0
        self.octets_sent = 0
        # The source: whose packets these are, its SSRC, and the mapping onto the wire.
        self._source: Hashable | None = None
        self._ssrc: int | None = None
        self._next_source: Hashable | None = None
        self._restart = False  # until the first switch, no source: every packet is dropped
        self._seq_offset = 0
        self._ts_offset = 0
        self._in_max = 0  # the source's highest sequence number forwarded
        self._sent_bits = 0  # bit i: the source's sequence number `_in_max - i` is taken

    def switch_to(self, source: Hashable | None) -> None:
        """The packets that follow come from `source` (e.g. a publisher id); None: from no
        one until the next switch."""
        if source is None:
            return
        self._next_source = source
        self._restart = True

    def forward(self, source: Hashable, packet: RtpPacket, now: float) -> int:
        """Send `packet` of `source` as this stream's (now: time.monotonic()); bytes sent, 0
        if dropped (another source than the one switched to) or not sendable."""
        if self._restart:
            if source != self._next_source:
                return 0  # the previous source after the switch, or anyone else
            return self._start(packet, now)
        if source != self._source:
            return 0
        if packet.ssrc != self._ssrc:
            # The source restarted its sender (RFC 3550 §8.2): a new input, mapped on right
            # after what was sent.
            return self._start(packet, now)
        seq = packet.sequence_number
        ahead = (seq - self._in_max) & 0xFFFF
        if ahead == 0:
            return 0
        if ahead < _SEQ_HALF:
            if ahead >= MAX_DROPOUT:
                return self._start(packet, now)
            out_seq = (seq + self._seq_offset) & 0xFFFF
            out_ts = (packet.timestamp + self._ts_offset) & 0xFFFFFFFF
            # `_send` inlined: this branch is nearly every packet of every listener.
            sent = self._put(out_seq, out_ts, packet.marker, packet)
            if sent:
                self.packets_sent += 1
                self.octets_sent += len(packet.payload)
                self._in_max = seq
                self._sent_bits = ((self._sent_bits << ahead) | 1) & self._window_mask
                self.max_seq = out_seq
                self.max_ts = out_ts
                self._max_sent_at = now
            return sent
        behind = 0x10000 - ahead
        if behind >= self._window or (self._sent_bits >> behind) & 1:
            return 0  # too late, already sent, or from before this source began
        sent = self._send(
            packet,
            (seq + self._seq_offset) & 0xFFFF,
            (packet.timestamp + self._ts_offset) & 0xFFFFFFFF,
            packet.marker,
        )
        if sent:
            self._sent_bits |= 1 << behind
        return sent

    def sender_report(self, now: float) -> SenderReport:
        """Counts so far and the RTP time of `now` (time.monotonic()), extrapolated from the
        newest packet at the clock rate: the stream's clock runs on through pauses, as a
        switch assumes."""
        rtp_timestamp = self.max_ts
        if self._max_sent_at is not None:
            elapsed = int((now - self._max_sent_at) * self._clock_rate)
            rtp_timestamp = (rtp_timestamp + elapsed) & 0xFFFFFFFF
        return SenderReport(rtp_timestamp, self.packets_sent, self.octets_sent)

    def _start(self, packet: RtpPacket, now: float) -> int:
        """Map `packet`'s source onto the wire right after the newest packet sent."""
        elapsed = self._frame
        if self._max_sent_at is not None:
            elapsed = max(elapsed, int((now - self._max_sent_at) * self._clock_rate))
        out_seq = (self.max_seq + 1) & 0xFFFF
        out_ts = (self.max_ts + elapsed) & 0xFFFFFFFF
        # The marker bit opens a talkspurt (RFC 3551 §4.1): the receiver may adapt its buffer.
        sent = self._send(packet, out_seq, out_ts, 1)
        if sent:
            if self._restart:
                self._source = self._next_source
                self._restart = False
            self._ssrc = packet.ssrc
            self._seq_offset = (out_seq - packet.sequence_number) & 0xFFFF
            self._ts_offset = (out_ts - packet.timestamp) & 0xFFFFFFFF
            self._in_max = packet.sequence_number
            # Every position behind the first packet counts as taken: stragglers are dropped.
            self._sent_bits = self._window_mask
            self.max_seq = out_seq
            self.max_ts = out_ts
            self._max_sent_at = now
        return sent

    def _send(self, packet: RtpPacket, seq: int, timestamp: int, marker: int) -> int:
        sent = self._put(seq, timestamp, marker, packet)
        if sent:
            self.packets_sent += 1
            self.octets_sent += len(packet.payload)
        return sent
