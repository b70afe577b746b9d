"""Process-wide adaptations of aiortc/aioice, the only module that touches their internals.

Pinned to aiortc==1.16.0 and aioice==0.13.0 (see pyproject.toml); `check_internals()` fails
loudly if an upgrade moves anything relied on here, and a test calls it.

What is touched, and why:

- `aioice.ice.get_host_addresses(use_ipv4, use_ipv6)`: `Connection.gather_candidates` looks
  this module-level function up by name every time it gathers, and the stock one drops
  127.0.0.1 and ::1. `use_host_addresses` swaps that attribute, so every gathering that starts
  afterwards binds host candidates on exactly the configured addresses (loopback included),
  for both the offerer and the answerer, without subclassing aiortc's ICE gatherer.
- `aiortc.rtcicetransport.RTCIceGatherer.getLocalCandidates`: aiortc writes the candidates and
  the `c=` line of every SDP it produces from this method. `use_announced_address` wraps it to
  advertise a 1:1 NAT's public address instead of the bound one. aioice keeps the bound
  address internally, so pairing and its sockets are unaffected.

Per connection, for forwarding without transcoding:

- `RTCRtpTransceiver._codecs` / `_offerDirection`: what was negotiated and what the remote
  offered. `restrict_to_opus` narrows the answer to Opus with in-band FEC and DTX (aiortc's
  answer otherwise drops the browser's Opus fmtp).
- `RTCRtpReceiver.receive` and `_handle_rtp_packet`, replaced on one instance by
  `forward_received_rtp`: no decoder thread, no jitter buffer; each parsed RTP packet goes
  straight to a synchronous handler. The receiver's private `__started`, `__transport` and
  `__rtcp_task` are set as the stock `receive` would, so `stop()` still works. The stock
  `_handle_rtp_packet` was also the only place feeding the receive statistics
  (`__remote_streams`, one `StreamStatistics` per SSRC), so the hook feeds them itself: with
  them, aiortc's own receiver RTCP loop sends the publisher receiver reports with real loss,
  jitter and last-SR/delay-since-last-SR (its `_handle_rtcp_packet`, not replaced, still
  notes each sender report of the publisher).
- `RTCRtpSender.__started`, `__mid`, `__rtp_header_extensions_map`, `_ssrc`,
  `RTCDtlsTransport._tx_srtp`, `RTCIceTransport._connection` and aioice's
  `Connection._nominated`: `RtpOutput` serializes, SRTP-protects and `sendto`s a packet in one
  synchronous call, with no coroutine per subscriber.
- `RTCRtpSender._send_rtcp`, `__lsr`, `__lsr_time`, `__ntp_timestamp`, `__rtp_timestamp`,
  `__packet_count`, `__octet_count`: aiortc's sender RTCP loop keeps running (timing, SDES,
  BYE), but it builds each sender report from counters only its own parked send loop would
  advance. `RtpOutput.report_from` fills the report from the stream instead, as it leaves: NTP
  time now, RTP time of now, the stream's counts; and it records the same NTP time as the
  last SR, so aiortc still computes the round-trip time from the listener's receiver reports.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import importlib.metadata
import inspect
import ipaddress
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import aioice.ice
import aiortc.rtcpeerconnection
from aiortc import (
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    clock,
)
from aiortc.rtcicetransport import RTCIceCandidate, RTCIceGatherer
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import AnyRtcpPacket, HeaderExtensionsMap, RtcpSrPacket, RtpPacket

from sfu.rtp_sink import SenderReportSource

PINNED_VERSIONS: dict[str, str] = {"aiortc": "1.16.0", "aioice": "0.13.0"}


class HostAddressesFn(Protocol):
    def __call__(self, use_ipv4: bool, use_ipv6: bool) -> list[str]: ...


LocalCandidatesFn = Callable[[RTCIceGatherer], list[RTCIceCandidate]]

# Captured at import, before any hook, so restoring never depends on call order.
_STOCK_GET_HOST_ADDRESSES: HostAddressesFn = aioice.ice.get_host_addresses
_STOCK_GET_LOCAL_CANDIDATES: LocalCandidatesFn = RTCIceGatherer.getLocalCandidates

_host_addresses: tuple[str, ...] = ()
_announced_address: str | None = None


def use_host_addresses(addresses: Sequence[str]) -> None:
    """Gather ICE host candidates only on `addresses` (loopback allowed); empty restores aioice.

    Applies to every gathering that starts after the call, in the whole process.
    `use_ipv4`/`use_ipv6` of an aioice Connection still filter the list. Raises ValueError on
    an address that is not a literal IP (aioice would only log a failed bind and go on).
    """
    global _host_addresses
    wanted = tuple(str(ipaddress.ip_address(address)) for address in addresses)
    if wanted == _host_addresses:
        return
    if not wanted:
        aioice.ice.get_host_addresses = _STOCK_GET_HOST_ADDRESSES
    else:
        aioice.ice.get_host_addresses = _fixed_host_addresses(wanted)
    _host_addresses = wanted


def active_host_addresses() -> tuple[str, ...]:
    """The addresses set by `use_host_addresses`, or () while aioice's own gathering applies."""
    return _host_addresses


def _fixed_host_addresses(addresses: tuple[str, ...]) -> HostAddressesFn:
    versions = [(address, ipaddress.ip_address(address).version) for address in addresses]

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [
            address
            for address, version in versions
            if (version == 4 and use_ipv4) or (version == 6 and use_ipv6)
        ]

    return get_host_addresses


def use_announced_address(address: str | None) -> None:
    """Advertise `address` in place of gathered host candidates of its IP family (1:1 NAT).

    For a host such as EC2 whose public IP maps to one private IP: bind with
    `use_host_addresses([private_ip])` (or "0.0.0.0") and announce the public IP. Every SDP
    produced afterwards carries the announced address; None restores aiortc's own behaviour.
    """
    global _announced_address
    announced = None if address is None else str(ipaddress.ip_address(address))
    if announced == _announced_address:
        return
    replacement = (
        _STOCK_GET_LOCAL_CANDIDATES
        if announced is None
        else _announcing_local_candidates(announced)
    )
    # Replacing a method on its class is what mypy forbids and what this hook is for.
    RTCIceGatherer.getLocalCandidates = replacement  # type: ignore[method-assign,assignment]
    _announced_address = announced


def active_announced_address() -> str | None:
    """The address set by `use_announced_address`, or None."""
    return _announced_address


def _announcing_local_candidates(announced: str) -> LocalCandidatesFn:
    version = ipaddress.ip_address(announced).version

    def getLocalCandidates(self: RTCIceGatherer) -> list[RTCIceCandidate]:
        return [
            dataclasses.replace(candidate, ip=announced)
            if candidate.type == "host" and ipaddress.ip_address(candidate.ip).version == version
            else candidate
            for candidate in _STOCK_GET_LOCAL_CANDIDATES(self)
        ]

    return getLocalCandidates


def installed_versions() -> dict[str, str]:
    return {name: importlib.metadata.version(name) for name in PINNED_VERSIONS}


def check_internals() -> None:
    """Raise RuntimeError if aiortc/aioice no longer have what this module relies on."""
    problems: list[str] = []

    stock_hosts = _STOCK_GET_HOST_ADDRESSES
    if list(inspect.signature(stock_hosts).parameters) != ["use_ipv4", "use_ipv6"]:
        problems.append("aioice.ice.get_host_addresses(use_ipv4, use_ipv6) changed signature")
    gather = getattr(aioice.ice.Connection, "gather_candidates", None)
    # Swapping the module attribute only works while gathering looks the name up globally.
    if gather is None or "get_host_addresses" not in gather.__code__.co_names:
        problems.append(
            "aioice.ice.Connection.gather_candidates no longer calls get_host_addresses"
        )

    candidate_fields = {f.name for f in dataclasses.fields(RTCIceCandidate)}
    if not {"ip", "type"} <= candidate_fields:
        problems.append("aiortc RTCIceCandidate lost its ip/type fields")
    if list(inspect.signature(_STOCK_GET_LOCAL_CANDIDATES).parameters) != ["self"]:
        problems.append("aiortc RTCIceGatherer.getLocalCandidates(self) changed signature")
    describe = getattr(aiortc.rtcpeerconnection, "add_transport_description", None)
    # The announced address reaches the SDP only while it is written from getLocalCandidates.
    if describe is None or "getLocalCandidates" not in describe.__code__.co_names:
        problems.append(
            "aiortc.rtcpeerconnection.add_transport_description no longer uses getLocalCandidates"
        )

    problems += _missing_private_names()

    if problems:
        raise RuntimeError(
            "aiortc/aioice internals changed: "
            + "; ".join(problems)
            + f" (installed {installed_versions()}, verified against {PINNED_VERSIONS})"
        )


# Private names the forwarding hooks read or set, checked in each class's source.
_PRIVATE_NAMES: tuple[tuple[type, str, tuple[str, ...]], ...] = (
    (RTCRtpTransceiver, "__init__", ("self._codecs", "self._offerDirection")),
    (RTCRtpReceiver, "__init__", ("self.__started", "self.__transport", "self.__rtcp_task")),
    (RTCRtpReceiver, "receive", ("_register_rtp_receiver", "_run_rtcp")),
    (RTCRtpReceiver, "__init__", ("self.__remote_streams: dict[int, StreamStatistics]",)),
    (RTCRtpReceiver, "_handle_rtp_packet", ("self.__remote_streams[packet.ssrc].add(packet)",)),
    (RTCRtpReceiver, "_run_rtcp", ("self.__remote_streams.items()", "self.__lsr[ssrc]")),
    (RTCRtpReceiver, "_handle_rtcp_packet", ("self.__lsr[packet.ssrc] =",)),
    (StreamStatistics, "add", ("self.packets_received += 1",)),
    (
        aiortc.RTCDtlsTransport,
        "_handle_rtcp_data",
        ("await recipient._handle_rtcp_packet(packet)",),
    ),
    (RTCRtpSender, "__init__", ("self.__started", "self.__mid", "__rtp_header_extensions_map")),
    (RTCRtpSender, "__init__", ("self._ssrc",)),
    (
        RTCRtpSender,
        "_run_rtcp",
        (
            "self.__lsr = ((self.__ntp_timestamp) >> 16) & 0xFFFFFFFF",
            "self.__lsr_time = time.time()",
            "await self._send_rtcp(packets)",
        ),
    ),
    (
        RTCRtpSender,
        "getStats",
        ("packetsSent=self.__packet_count", "bytesSent=self.__octet_count"),
    ),
    (RTCRtpSender, "_handle_rtcp_packet", ("self.__lsr == report.lsr", "self.__lsr_time")),
    (RTCRtpSender, "_run_rtp", ("await self.transport._send_rtp(packet_bytes)",)),
    (aiortc.RTCDtlsTransport, "_send_rtp", ("self._tx_srtp.protect",)),
    (aiortc.RTCDtlsTransport, "_send_rtp", ("if is_rtcp(data):",)),
    (aiortc.RTCIceTransport, "__init__", ("self._connection",)),
    (aioice.ice.Connection, "sendto", ("self._nominated", "protocol.send_data")),
    (aioice.ice.StunProtocol, "send_data", ("self.transport.sendto",)),
    (aioice.ice.Connection, "query_consent", ("CONSENT_INTERVAL", "CONSENT_FAILURES")),
    (RTCPeerConnection, "setLocalDescription", ("ensure_future(self.__connect())",)),
)


def _missing_private_names() -> list[str]:
    problems = []
    for cls, method, names in _PRIVATE_NAMES:
        source = inspect.getsource(getattr(cls, method))
        problems += [f"{cls.__name__}.{method} no longer has {n}" for n in names if n not in source]
    return problems


def use_consent_timing(interval_seconds: float, failures: int) -> None:
    """How often ICE consent is checked and how many misses end a connection (RFC 7675).

    aioice's 5 s × 6 lets a vanished peer hold its place for 30 s; the SFU wants it gone
    within 10 s. `Connection.query_consent` reads both module constants on every round.
    """
    ice: Any = aioice.ice  # typed as int; aioice only ever sleeps on it
    ice.CONSENT_INTERVAL = interval_seconds
    ice.CONSENT_FAILURES = failures


def active_consent_timing() -> tuple[float, int]:
    """The (interval, failures) in force, so a caller can restore what it found."""
    return aioice.ice.CONSENT_INTERVAL, aioice.ice.CONSENT_FAILURES


# --- per connection: forwarding without transcoding -------------------------------------

OPUS_FMTP = {"useinbandfec": 1, "usedtx": 1}
_NO_EXTENSIONS = HeaderExtensionsMap()
RtpHandler = Callable[[RtpPacket], None]


def offered_direction(transceiver: RTCRtpTransceiver) -> str | None:
    """The direction the remote offer gave this transceiver's m-line, from our side."""
    direction: str | None = transceiver._offerDirection
    return direction


def restrict_to_opus(transceiver: RTCRtpTransceiver) -> int | None:
    """Negotiate Opus only (FEC and DTX on); returns its payload type, None if not offered."""
    for codec in transceiver._codecs:
        if codec.mimeType.lower() == "audio/opus" and codec.payloadType is not None:
            opus = copy.deepcopy(codec)
            opus.parameters = {**opus.parameters, **OPUS_FMTP}
            transceiver._codecs = [opus]
            return int(codec.payloadType)
    return None


def forward_received_rtp(receiver: RTCRtpReceiver, handler: RtpHandler) -> Callable[[], None]:
    """Hand every RTP packet of `receiver` to `handler` instead of decoding it.

    Each packet of a negotiated payload type still feeds aiortc's receive statistics (one
    `StreamStatistics.add`, as the stock path does), which aiortc's receiver RTCP loop turns
    into receiver reports to the publisher and `getStats()` into inbound-rtp.

    Returns `detach`, to call before closing the connection: aiortc's connect task may still
    reach `receive()` after `stop()` has run, and would then register the receiver and start
    an RTCP loop that nothing ever stops.
    """
    hooked: Any = receiver  # private, name-mangled attributes: see the module docstring
    statistics: dict[int, StreamStatistics] = hooked._RTCRtpReceiver__remote_streams
    clock_rates: dict[int, int] = {}  # payload type → clock rate, once negotiated
    detached = False

    def detach() -> None:
        nonlocal detached
        detached = True

    async def receive(parameters: RTCRtpReceiveParameters) -> None:
        if hooked._RTCRtpReceiver__started or detached:
            return
        for codec in parameters.codecs:
            if codec.payloadType is not None:
                clock_rates[codec.payloadType] = codec.clockRate
        hooked._RTCRtpReceiver__transport._register_rtp_receiver(receiver, parameters)
        # Receiver reports to the publisher, from aiortc's own RTCP loop and our statistics.
        hooked._RTCRtpReceiver__rtcp_task = asyncio.ensure_future(receiver._run_rtcp())
        hooked._RTCRtpReceiver__started = True

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        clock_rate = clock_rates.get(packet.payload_type)
        if clock_rate is not None:
            stream = statistics.get(packet.ssrc)
            if stream is None:
                stream = statistics[packet.ssrc] = StreamStatistics(clock_rate)
            stream.add(packet)
        handler(packet)

    hooked.receive = receive
    hooked._handle_rtp_packet = handle_rtp_packet
    return detach


def connect_task(pc: RTCPeerConnection) -> asyncio.Task[None] | None:
    """aiortc's task that starts the transports after the descriptions are set.

    Closing while it runs makes it fail ("RTCIceTransport is closed"), and the failed task's
    traceback keeps the whole connection alive until it is collected; waiting for it first
    avoids both.
    """
    for task in asyncio.all_tasks():
        coro: Any = task.get_coro()
        frame = getattr(coro, "cr_frame", None)
        is_connect = coro.__qualname__ == "RTCPeerConnection.__connect"
        if is_connect and frame is not None and frame.f_locals.get("self") is pc:
            return task
    return None


class RtpOutput:
    """The `RtpSink` of one parked `RTCRtpSender`: sends RTP synchronously (serialize,
    SRTP-protect, `sendto`) and has aiortc's RTCP loop send the stream's sender reports.

    aiortc's own send loop for the sender stays parked on a track that never yields; the
    sender still owns the SSRC it announced in the SDP, and its RTCP loop still runs.
    """

    def __init__(self, sender: RTCRtpSender) -> None:
        self._sender = sender
        self._ssrc: int = sender._ssrc
        self._protect: Callable[[bytes], bytes] | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._address: tuple[str, int] | None = None
        self._extensions: HeaderExtensionsMap | None = None
        self.mid: str | None = None

    @property
    def ssrc(self) -> int:
        return self._ssrc

    def send(self, packet: RtpPacket) -> int:
        """Bytes sent; 0 while the connection is not up yet (or no longer)."""
        if self._transport is None and not self._connect():
            return 0
        assert self._protect is not None and self._transport is not None
        if self._transport.is_closing():
            return 0
        packet.extensions.mid = self.mid
        data = self._protect(packet.serialize(self._extensions or _NO_EXTENSIONS))
        self._transport.sendto(data, self._address)
        return len(data)

    def report_from(self, source: SenderReportSource) -> None:
        """Each sender report aiortc's RTCP loop sends for this SSRC says what `source`
        reports at the instant it leaves: NTP time now, RTP time of now, counts so far."""
        sender: Any = self._sender  # private, name-mangled attributes: see the module docstring
        ssrc = self._ssrc
        stock_send_rtcp = sender._send_rtcp

        async def send_rtcp(packets: list[AnyRtcpPacket]) -> None:
            for packet in packets:
                if isinstance(packet, RtcpSrPacket) and packet.ssrc == ssrc:
                    ntp = clock.current_ntp_time()
                    report = source.sender_report(time.monotonic())
                    info = packet.sender_info
                    info.ntp_timestamp = ntp
                    info.rtp_timestamp = report.rtp_timestamp
                    info.packet_count = report.packet_count & 0xFFFFFFFF
                    info.octet_count = report.octet_count & 0xFFFFFFFF
                    # What aiortc matches receiver reports against (round-trip time), and
                    # what its getStats() reports as outbound-rtp.
                    sender._RTCRtpSender__lsr = (ntp >> 16) & 0xFFFFFFFF
                    sender._RTCRtpSender__lsr_time = time.time()
                    sender._RTCRtpSender__ntp_timestamp = ntp
                    sender._RTCRtpSender__rtp_timestamp = report.rtp_timestamp
                    sender._RTCRtpSender__packet_count = report.packet_count
                    sender._RTCRtpSender__octet_count = report.octet_count
            await stock_send_rtcp(packets)

        sender._send_rtcp = send_rtcp

    def _connect(self) -> bool:
        sender: Any = self._sender  # private, name-mangled attributes: see the module docstring
        dtls = sender.transport
        if not sender._RTCRtpSender__started or dtls.state != "connected":
            return False
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None or pair.protocol.transport is None:
            return False
        self._extensions = sender._RTCRtpSender__rtp_header_extensions_map
        self.mid = sender._RTCRtpSender__mid
        self._protect = dtls._tx_srtp.protect
        self._transport = pair.protocol.transport
        self._address = pair.remote_addr
        return True
