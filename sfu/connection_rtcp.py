"""One connection's periodic RTCP as one compound packet (RFC 3550 §6.1), sent by the
process's `RtcpSchedule`.

A listener's connection carries a sender report for each of its slots (what the listener's
jitter buffer and `remote-outbound-rtp` need: RTP time against wall-clock time, counts), a
receiver report for its microphone's stream if it sends one (loss, jitter, round-trip time for
the publisher), and the SDES CNAME of each slot's SSRC. aiortc would send these as separate
datagrams from one loop per sender and per receiver, each every 0.5-1.5 s; here they go out
together, once per schedule interval (sfu.rtcp_schedule), SRTCP-protected once.

The reports' contents are aiortc's (sfu.aiortc_hooks: `RtpOutput.sender_report`,
`receiver_report`); aiortc's own loops are parked while the connection lives, and send their
RTCP BYE when it is stopped, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiortc import RTCRtpReceiver
from aiortc.rtp import AnyRtcpPacket, RtcpRrPacket, RtcpSdesPacket, RtcpSourceInfo, RtcpSrPacket

from sfu.aiortc_hooks import RtcpPath, RtpOutput, receiver_report

SDES_CNAME = 1  # RFC 3550 §6.5.1


class ConnectionRtcp:
    def __init__(
        self,
        outputs: Sequence[RtpOutput],
        receiver: RTCRtpReceiver | None,
        path: RtcpPath,
        cname: str,
    ) -> None:
        """`outputs`: the slots' senders; `receiver`: the microphone's, if negotiated;
        `path`: the connection's DTLS transport; `cname`: the connection's SDES CNAME (the
        one aiortc announces for its senders)."""
        self._outputs = list(outputs)
        self._receiver = receiver
        self._path = path
        self._cname = [(SDES_CNAME, cname.encode())]

    def report(self) -> None:
        """Send the compound packet now; nothing while the connection is not up. It starts
        with the sender reports (or the receiver report) and ends with one SDES chunk per
        SSRC it reports from, each with the CNAME (RFC 3550 §6.1)."""
        reports: list[RtcpSrPacket | RtcpRrPacket] = []
        for output in self._outputs:
            sender_report = output.sender_report()
            if sender_report is not None:
                reports.append(sender_report)
        if self._receiver is not None:
            report = receiver_report(self._receiver)
            if report is not None:
                reports.append(report)
        if not reports:
            return
        sdes = RtcpSdesPacket(
            chunks=[RtcpSourceInfo(ssrc=report.ssrc, items=self._cname) for report in reports]
        )
        packets: list[AnyRtcpPacket] = [*reports, sdes]
        self._path.send(b"".join(bytes(packet) for packet in packets))
