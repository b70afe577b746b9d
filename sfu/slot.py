"""One receive slot of a listener: a single continuous RTP stream, whoever it carries.

The slot owns its sequence numbers and timestamps. Within one speaker it keeps the speaker's
own gaps (so the browser still sees loss and can conceal it); when the slot switches speaker
it carries on from its last packet: the next sequence number, and a timestamp advanced by the
real time elapsed, so the browser's jitter buffer sees one stream with a pause in it.
"""

from __future__ import annotations

import secrets

from aiortc.rtp import RtpPacket

from sfu.aiortc_hooks import RtpOutput

OPUS_CLOCK_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms, the smallest step a switch may advance the clock by


class Slot:
    def __init__(self, index: int, output: RtpOutput, payload_type: int) -> None:
        self.index = index
        self.publisher_id: str | None = None
        self._output = output
        # Reused for every packet this slot sends: only its fields change.
        self._packet = RtpPacket(payload_type=payload_type)
        self._seq_offset = 0
        self._ts_offset = 0
        self._rebase = True
        self._last_seq = secrets.randbits(16)
        self._last_ts = secrets.randbits(32)
        self._last_sent_at: float | None = None

    def carry(self, publisher_id: str | None) -> bool:
        """Switch to another speaker (or to none); True if it changed."""
        if publisher_id == self.publisher_id:
            return False
        self.publisher_id = publisher_id
        self._rebase = True
        return True

    def forward(self, packet: RtpPacket, now: float) -> int:
        """Send `packet` as this slot's next packet; bytes sent (0 if not connected yet)."""
        if self._rebase:
            self._rebase_on(packet, now)
        out = self._packet
        out.sequence_number = (packet.sequence_number + self._seq_offset) & 0xFFFF
        out.timestamp = (packet.timestamp + self._ts_offset) & 0xFFFFFFFF
        out.ssrc = self._output.ssrc
        out.marker = packet.marker
        out.payload = packet.payload
        out.extensions.mid = self._output.mid
        out.extensions.audio_level = packet.extensions.audio_level
        sent = self._output.send(out)
        if sent:
            self._last_seq = out.sequence_number
            self._last_ts = out.timestamp
            self._last_sent_at = now
        return sent

    def _rebase_on(self, packet: RtpPacket, now: float) -> None:
        elapsed = FRAME_SAMPLES
        if self._last_sent_at is not None:
            elapsed = max(FRAME_SAMPLES, int((now - self._last_sent_at) * OPUS_CLOCK_RATE))
        self._seq_offset = (self._last_seq + 1 - packet.sequence_number) & 0xFFFF
        self._ts_offset = (self._last_ts + elapsed - packet.timestamp) & 0xFFFFFFFF
        self._rebase = False
