"""One receive slot of a listener: which publisher it carries, on one outgoing stream.

The slot only knows whom it carries; its `OutgoingRtpStream` owns everything on the wire
(sequence numbers, timestamps, counts, sender reports), so a switch of speaker is one
continuous stream for the browser (see sfu.rtp_stream).
"""

from __future__ import annotations

from collections.abc import Callable

from aiortc.rtp import RtpPacket

from sfu.rtp_sink import RtpSink
from sfu.rtp_stream import OutgoingRtpStream


class Slot:
    forward: Callable[[str, RtpPacket, float], int]
    """Send a packet of a publisher (its id; now: time.monotonic()); bytes sent, 0 if it is
    not the carried publisher's, or not connected yet. The stream's own method: no extra call
    per packet."""

    def __init__(self, index: int, sink: RtpSink) -> None:
        """`sink`: the slot's m-section (which stamps its own negotiated payload type: a
        client may use a different one per m-section, and one other than the publisher's)."""
        self.index = index
        self.publisher_id: str | None = None
        self.stream = OutgoingRtpStream(sink)
        self.forward = self.stream.forward
        sink.report_from(self.stream)

    def carry(self, publisher_id: str | None) -> bool:
        """Switch to another publisher (or to none); True if it changed."""
        if publisher_id == self.publisher_id:
            return False
        self.publisher_id = publisher_id
        self.stream.switch_to(publisher_id)
        return True
