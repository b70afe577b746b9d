"""The seam between an outgoing stream's logic (sfu.rtp_stream) and the transport under it.

`OutgoingRtpStream` decides what goes on the wire (sequence numbers, timestamps, counts);
an `RtpSink` puts it there and sends the stream's RTCP sender reports. The sink is
`sfu.aiortc_hooks.RtpOutput`: the header template, SRTP session and socket of aiortc's sender
for that m-section, batched by `sfu.rtp_batch` and sent once per received packet.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from aiortc.rtp import RtpPacket


class SenderReport(NamedTuple):
    """What an RTCP sender report (RFC 3550 §6.4.1) says of a stream at one instant: the RTP
    time of that instant (pairs with the report's NTP time) and the counts so far."""

    rtp_timestamp: int
    packet_count: int
    octet_count: int  # payload octets, headers and padding excluded (RFC 3550)


class SenderReportSource(Protocol):
    def sender_report(self, now: float) -> SenderReport:
        """The report for the instant `now` (time.monotonic())."""
        ...


class RtpSink(Protocol):
    """Where one outgoing stream goes. The sink owns the stream's identity on the transport
    (its SSRC, and the mid header extension it stamps on each packet)."""

    @property
    def ssrc(self) -> int: ...

    def put(self, sequence_number: int, timestamp: int, marker: int, packet: RtpPacket) -> int:
        """Queue `packet`'s payload and audio level under this stream's header with these
        sequence number, timestamp and marker (synchronous; sent by the batch's flush at the
        end of the same step); bytes it takes on the wire, 0 if it cannot be sent (not
        connected yet, or no longer): the stream then acts as if it never existed."""
        ...

    def report_from(self, source: SenderReportSource) -> None:
        """Make this stream's RTCP sender reports say what `source` reports."""
        ...
