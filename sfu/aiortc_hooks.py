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
- `RTCPeerConnection.setRemoteDescription` (wrapped) and `RTCDtlsTransport._role`/`_set_role`
  through the private `__remoteDescription()`: `use_dtls_interop` makes every transport whose
  offer said `a=setup:actpass` the DTLS server, so the answer says `a=setup:passive`.
- `RTCCertificate._create_ssl_context` (wrapped): `use_dtls_interop` adds the ECDHE-RSA twins
  of aiortc's ECDSA-only cipher list, for a DTLS server holding an RSA certificate.
- `aioice.ice.Connection.query_consent` (replaced), `StunProtocol.datagram_received` and
  `RTCDtlsTransport._handle_rtp_data`/`_handle_rtcp_data` (wrapped), `Connection._nominated`,
  `_protocols`, `_query_consent_task`, `RTCDtlsTransport._transport`: `use_consent` runs
  RFC 7675 consent with retransmitted checks and an expiry that only responses to our own
  checks, or SRTP/SRTCP that unprotects, from the selected pair's remote address reset; after
  ICE selects a pair, datagrams other than STUN from any other address are dropped.
- `aioice.ice.Connection.get_component_candidates` (replaced while a shared port is in use),
  `Connection._local_username`, `_protocols`, `StunProtocol.transactions`: `use_media_ports`
  (RTC_UDP_PORT) gives each answering connection, instead of a socket of its own per host
  address, a `SharedPortProtocol` on that address's `sfu.media_port.MediaPort`: a
  `StunProtocol` whose transport sends from the one shared socket, registered under the
  connection's ufrag (replaced by a fresh one in the rare case another connection holds it,
  before aiortc writes it into the answer), whose open transactions the port indexes, and
  which tells the port when aioice authenticated a request (its Binding success response)
  so the request's source address is learned. The consent hooks below apply to it as to
  any `StunProtocol`.
- `install(config)` applies all of the above for one `SfuConfig` and returns their undo;
  `RoomManager.start`/`stop` call it.

Per connection, for forwarding without transcoding:

- `RTCRtpTransceiver._codecs`: what was negotiated. `restrict_to_opus` narrows the answer to
  Opus with the parameters `sfu.offer` chose for that m-section (aiortc's answer otherwise
  drops the offer's Opus fmtp).
- `RTCRtpReceiver.receive` and `_handle_rtp_packet`, replaced on one instance by
  `forward_received_rtp`: no decoder thread, no jitter buffer; each parsed RTP packet goes
  straight to a synchronous handler. The receiver's private `__started`, `__transport` and
  `__rtcp_task` are set as the stock `receive` would, so `stop()` still works. The stock
  `_handle_rtp_packet` was also the only place feeding the receive statistics
  (`__remote_streams`, one `StreamStatistics` per SSRC), so the hook feeds them itself: with
  them, aiortc's own receiver RTCP loop sends the publisher receiver reports with real loss,
  jitter and last-SR/delay-since-last-SR (its `_handle_rtcp_packet`, not replaced, still
  notes each sender report of the publisher). One stream per receiver: a new SSRC replaces
  the old one in `__remote_streams`, `__lsr`, `__lsr_time` and in the SSRC routing table of
  the transport (`RTCDtlsTransport._rtp_router.ssrc_table`, which aiortc's `route_rtp` fills
  with every new SSRC on a registered payload type).
- `RTCRtpSender.__started`, `__mid`, `__rtp_header_extensions_map`, `_ssrc`,
  `RTCDtlsTransport._tx_srtp`, `RTCIceTransport._connection` and aioice's
  `Connection._nominated`: `RtpOutput` serializes, SRTP-protects and `sendto`s a packet in one
  synchronous call, with no coroutine per subscriber.
- `RTCRtpSender._send_rtcp`, `__lsr`, `__lsr_time`, `__ntp_timestamp`, `__rtp_timestamp`,
  `__packet_count`, `__octet_count`: aiortc builds each sender report from counters only its
  own parked send loop would advance. `RtpOutput.sender_report` (and `report_from`, for the
  load tester's speakers whose aiortc RTCP loop still runs) fills the report from the stream
  instead, as it leaves: NTP time now, RTP time of now, the stream's counts; and it records
  the same NTP time as the last SR, so aiortc still computes the round-trip time from the
  listener's receiver reports.
- `RTCRtpSender._run_rtcp` (replaced on the instance before aiortc starts it, by
  `park_rtcp_loop`) and the receiver's `__rtcp_task`, `__rtcp_started`, `__rtcp_exited`: the
  per-sender and per-receiver RTCP loops only wait to be stopped (the sender's then sends its
  BYE, as the stock one does); `sfu.connection_rtcp` sends each connection's compound report
  on `sfu.rtcp_schedule`'s one timer. `receiver_report` builds aiortc's receiver report from
  the receiver's `__remote_streams`, `__lsr`, `__lsr_time` and `__rtcp_ssrc`;
  `connection_cname` reads `RTCPeerConnection.__cname`; `RtcpPath` protects with
  `RTCDtlsTransport._tx_srtp.protect_rtcp` and sends on the selected pair.
- `RTCDtlsTransport._tx_srtp._srtp` (pylibsrtp's `srtp_t`) and the bundled libsrtp's
  `srtp_protect`: `RtpOutput.put` hands both to `sfu.rtp_batch`, which protects in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import importlib.metadata
import inspect
import ipaddress
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aioice.ice
import aioice.stun
import aioice.utils
import aiortc.rtcpeerconnection
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aiortc import (
    RTCCertificate,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
    clock,
    sdp,
)
from aiortc.rtcdtlstransport import RtpRouter, SRTPProtectionProfile
from aiortc.rtcicetransport import RTCIceCandidate, RTCIceGatherer
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import (
    AnyRtcpPacket,
    HeaderExtensionsMap,
    RtcpByePacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    RtpPacket,
)
from OpenSSL import SSL

from sfu.config import SfuConfig
from sfu.media_port import MediaPort, MediaPortUnavailable, SharedTransport
from sfu.rtp_batch import NO_LEVEL, RtpBatch, RtpDestination, new_destination
from sfu.rtp_sink import SenderReportSource

log = logging.getLogger(__name__)

PINNED_VERSIONS: dict[str, str] = {"aiortc": "1.16.0", "aioice": "0.13.0", "pylibsrtp": "1.0.0"}


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


# --- process-wide: DTLS interoperability --------------------------------------------------

# aiortc's own list is ECDSA-only, which a DTLS server holding an RSA certificate (GStreamer
# webrtcbin, older libwebrtc builds) cannot pick from: "no shared cipher". The RSA twins of
# the same suites, in the same preference order, fix that; they change nothing when the
# server's certificate is ECDSA (the server only picks suites its certificate can sign).
DTLS_CIPHERS = (
    b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    b"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    b"ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:"
    b"ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA"
)

SslContextFn = Callable[[RTCCertificate, list[SRTPProtectionProfile]], SSL.Context]
SetRemoteDescriptionFn = Callable[[RTCPeerConnection, RTCSessionDescription], Awaitable[None]]

_STOCK_CREATE_SSL_CONTEXT: SslContextFn = RTCCertificate._create_ssl_context
_STOCK_SET_REMOTE_DESCRIPTION: SetRemoteDescriptionFn = RTCPeerConnection.setRemoteDescription

_dtls_interop = False


def use_dtls_interop(enabled: bool) -> None:
    """Answer `a=setup:actpass` offers as DTLS server, and offer RSA suites as DTLS client.

    Applies to every RTCPeerConnection of the process that receives an offer (or starts DTLS)
    after the call; False restores aiortc's behaviour.

    - Role (RFC 5763 §5, RFC 8842 §5.3): an offer's `actpass` leaves the choice to the
      answerer. aiortc answers `a=setup:active` (it becomes the DTLS client); as mediasoup,
      Janus and LiveKit do, the SFU answers `a=setup:passive` and lets the client start the
      handshake, so a client's certificate type never limits the suites. An offer's
      `setup:active` (aiortc already answers passive) and `setup:passive` (we must be the
      client: the answer stays active) are honoured unchanged.
    - Suites: when the SFU is the DTLS client anyway (an offer with `setup:passive`), its
      ClientHello lists `DTLS_CIPHERS`, so a server with an RSA certificate can connect.

    aiortc behaviour relied on: `setRemoteDescription` sets a transport's role to "server"
    only for an offer's `setup:active` and leaves "auto" otherwise; `createAnswer` writes
    `a=setup` from the transport's role ("auto" → active) and `setLocalDescription` sets the
    role from that answer; `RTCDtlsTransport.start` builds its SSL context with
    `RTCCertificate._create_ssl_context`, whose cipher list may be set again before use.
    """
    global _dtls_interop
    if enabled == _dtls_interop:
        return
    certificate: Any = RTCCertificate  # replacing methods is what this hook is for
    peer_connection: Any = RTCPeerConnection
    if enabled:
        certificate._create_ssl_context = _create_ssl_context
        peer_connection.setRemoteDescription = _set_remote_description
    else:
        certificate._create_ssl_context = _STOCK_CREATE_SSL_CONTEXT
        peer_connection.setRemoteDescription = _STOCK_SET_REMOTE_DESCRIPTION
    _dtls_interop = enabled


def active_dtls_interop() -> bool:
    """Whether `use_dtls_interop(True)` is in force."""
    return _dtls_interop


def _create_ssl_context(
    self: RTCCertificate, srtp_profiles: list[SRTPProtectionProfile]
) -> SSL.Context:
    context = _STOCK_CREATE_SSL_CONTEXT(self, srtp_profiles)
    context.set_cipher_list(DTLS_CIPHERS)
    return context


async def _set_remote_description(
    self: RTCPeerConnection, sessionDescription: RTCSessionDescription
) -> None:
    await _STOCK_SET_REMOTE_DESCRIPTION(self, sessionDescription)
    if sessionDescription.type == "offer":
        answer_actpass_as_dtls_server(self)


def answer_actpass_as_dtls_server(pc: RTCPeerConnection) -> None:
    """After an offer is set: each transport whose m-section offered `actpass` becomes the
    DTLS server, so `createAnswer` writes `a=setup:passive` for it. Called by the hook; a
    caller without the process-wide hook may call it between setRemoteDescription and
    createAnswer."""
    hooked: Any = pc  # private, name-mangled: aiortc's parsed remote description
    description: sdp.SessionDescription | None = hooked._RTCPeerConnection__remoteDescription()
    if description is None:
        return
    by_mid = {t.mid: t.receiver.transport for t in pc.getTransceivers() if t.mid is not None}
    for media in description.media:
        if media.dtls is None or media.dtls.role != "auto":  # "auto" is what actpass parses to
            continue
        if media.kind == "application":
            transport = pc.sctp.transport if pc.sctp is not None else None
        else:
            transport = by_mid.get(media.rtp.muxId)
        # Bundled m-sections share one transport: set once, and never over a role the offer
        # already fixed through another m-section.
        if transport is not None and transport._role == "auto":
            transport._set_role("server")


# --- process-wide: ICE consent freshness (RFC 7675) ---------------------------------------


@dataclass(frozen=True)
class ConsentPolicy:
    """When a peer's consent to receive media (RFC 7675) is checked, and when it expires.

    interval_seconds: a consent check (a STUN Binding request on each nominated pair, a new
        transaction each time, RFC 7675 §5.1) starts every interval × U(0.8, 1.2) seconds.
        Each check is retransmitted with STUN's 0.5 s doubling RTO (RFC 8489 §6.2.1) for as
        long as fits within 0.8 × interval, and a late answer still counts until the
        transaction ends (one more RTO).
    expiry_seconds: consent expires, and the ICE connection closes, once this long has passed
        without any sign of the peer at the selected pair's remote address: an authenticated
        Binding response to one of our own checks (a fresh transaction, answered from the
        address it was sent to), or an SRTP/SRTCP packet that unprotects (libsrtp rejects
        replays) received from that address. The peer's own Binding requests never count:
        short-term credentials have no replay protection, so a copy of an old request proves
        nothing (RFC 7675 §5.1 refreshes consent by responses only). (RFC 7675 uses 30 s and
        allows shorter; counting media is a liveness extension.) Liveness is sampled once per
        check and counts from the sample that saw it, so consent never expires less than
        expiry after the peer's last packet, and a vanished peer is dropped within
        expiry + 2 × 1.2 × interval of it.
    """

    interval_seconds: float = 1.0
    expiry_seconds: float = 8.0

    def __post_init__(self) -> None:
        if not 0 < self.interval_seconds < self.expiry_seconds:
            raise ValueError("consent needs 0 < interval_seconds < expiry_seconds")

    @property
    def retransmissions(self) -> int:
        """Retransmissions of one check that leave before the earliest next check."""
        count, sent_at, delay = 0, 0.0, aioice.stun.RETRY_RTO
        while sent_at + delay < 0.8 * self.interval_seconds:
            sent_at += delay
            delay *= 2
            count += 1
        return count


ConsentFn = Callable[[aioice.ice.Connection], Awaitable[None]]
PacketDataFn = Callable[..., Awaitable[None]]
DatagramFn = Callable[[aioice.ice.StunProtocol, bytes, tuple[Any, ...]], None]

_STOCK_QUERY_CONSENT: ConsentFn = aioice.ice.Connection.query_consent
_STOCK_HANDLE_RTP_DATA: PacketDataFn = aiortc.RTCDtlsTransport._handle_rtp_data
_STOCK_HANDLE_RTCP_DATA: PacketDataFn = aiortc.RTCDtlsTransport._handle_rtcp_data
_STOCK_DATAGRAM_RECEIVED: DatagramFn = aioice.ice.StunProtocol.datagram_received

_consent: ConsentPolicy | None = None

# Our attributes on aioice objects:
# - `_gethory_peer_alive` on a Connection: set by every sign of the peer that counts (an SRTP
#   or SRTCP packet that unprotects, a response to a consent check), cleared by the consent
#   loop when it samples it. One attribute store per packet, no allocation, no clock read.
# - `_gethory_remote` on a StunProtocol (one local socket): None until ICE selects a pair;
#   then the selected pair's remote (host, port) on the pair's own socket and `_NOWHERE` on
#   every other socket of the connection. Non-STUN datagrams from any other source are
#   dropped before DTLS/SRTP sees them, so a packet that unprotects came from that address.
_NOWHERE: tuple[str, int] = ("", -1)


def use_consent(policy: ConsentPolicy | None) -> None:
    """Run ICE consent freshness by `policy` on every ICE connection that completes after the
    call; None restores aioice's own (5 s × U(0.8, 1.2) checks, one send each with a 0.5 s
    wait, six misses in a row close the connection, only Binding responses count).

    With a policy, once ICE has selected a pair, datagrams other than STUN (DTLS, SRTP,
    SRTCP: RFC 7983's first byte above 3) are taken only from the selected pair's remote
    address, on its local socket; ICE moves the pair only by new checks, which are STUN and
    still reach aioice from anywhere. The consent loop follows a pair that ICE moved.

    aioice behaviour relied on: `Connection.connect` starts `self.query_consent()` once a
    pair is nominated, and `close()` cancels `_query_consent_task`; `StunProtocol.request`
    retries with `stun.RETRY_RTO`, doubling, and resolves only on a response authenticated
    with the remote password, returning the address it came from;
    `StunProtocol.datagram_received` hands a datagram that does not parse as STUN to
    `receiver.data_received(data, local_candidate.component)`. aiortc:
    `RTCDtlsTransport._recv_next` calls `_handle_rtp_data`/`_handle_rtcp_data` only after
    SRTP/SRTCP unprotect succeeded.
    """
    global _consent
    if policy == _consent:
        return
    connection: Any = aioice.ice.Connection  # replacing methods is what this hook is for
    protocol: Any = aioice.ice.StunProtocol
    dtls: Any = aiortc.RTCDtlsTransport
    if policy is None:
        connection.query_consent = _STOCK_QUERY_CONSENT
        protocol.datagram_received = _STOCK_DATAGRAM_RECEIVED
        dtls._handle_rtp_data = _STOCK_HANDLE_RTP_DATA
        dtls._handle_rtcp_data = _STOCK_HANDLE_RTCP_DATA
    else:
        protocol._gethory_remote = None  # every socket's default: no pair selected yet
        connection.query_consent = _query_consent
        protocol.datagram_received = _datagram_received
        dtls._handle_rtp_data = _handle_rtp_data
        dtls._handle_rtcp_data = _handle_rtcp_data
    _consent = policy


def active_consent() -> ConsentPolicy | None:
    """The policy set by `use_consent`, or None while aioice's own applies."""
    return _consent


def _datagram_received(self: aioice.ice.StunProtocol, data: bytes, addr: tuple[Any, ...]) -> None:
    """`StunProtocol.datagram_received`: STUN (and everything before a pair is selected) as
    aioice does; anything else only from the selected pair's remote address. Per media packet:
    one attribute load and two comparisons, no allocation (IPv6 addresses are 4-tuples, so
    host and port are compared apart)."""
    remote = self._gethory_remote  # type: ignore[attr-defined]
    if remote is None or not data or data[0] < 4:
        _STOCK_DATAGRAM_RECEIVED(self, data, addr)
    elif addr[1] == remote[1] and addr[0] == remote[0]:
        # What aioice does with a datagram that is not STUN, without first failing to parse it.
        self.receiver.data_received(data, self.local_candidate.component)
    else:
        # ICE may have selected another pair since consent last looked (the peer's NAT
        # rebound, and its nominating check from the new address succeeded: RFC 8445
        # §7.3.1.5); the media follows at once, not at the next consent check. Only datagrams
        # from elsewhere than the selected pair pay for this look.
        _select_pairs(self.receiver)
        remote = self._gethory_remote  # type: ignore[attr-defined]
        if addr[1] == remote[1] and addr[0] == remote[0]:
            self.receiver.data_received(data, self.local_candidate.component)


def _select_pairs(connection: aioice.ice.Connection) -> None:
    """Take non-STUN datagrams only from the nominated pairs' remote addresses, each on its
    own local socket."""
    selected = {pair.protocol: pair.remote_addr for pair in connection._nominated.values()}
    for protocol in connection._protocols:
        hooked: Any = protocol
        hooked._gethory_remote = selected.get(protocol, _NOWHERE)


# Plain functions returning aiortc's own coroutine: the caller awaits it as before, so the
# only added work per packet is a call and the store (no coroutine object of our own).
def _handle_rtp_data(
    self: aiortc.RTCDtlsTransport, data: bytes, arrival_time_ms: int
) -> Awaitable[None]:
    self._transport._connection._gethory_peer_alive = True  # type: ignore[attr-defined]
    return _STOCK_HANDLE_RTP_DATA(self, data, arrival_time_ms=arrival_time_ms)


def _handle_rtcp_data(self: aiortc.RTCDtlsTransport, data: bytes) -> Awaitable[None]:
    self._transport._connection._gethory_peer_alive = True  # type: ignore[attr-defined]
    return _STOCK_HANDLE_RTCP_DATA(self, data)


async def _query_consent(self: aioice.ice.Connection) -> None:
    """`Connection.query_consent` by the policy in force when the connection completed."""
    policy = _consent or ConsentPolicy()
    assert self.remote_password is not None  # connect() has it before it starts this
    key = self.remote_password.encode("utf8")
    retransmissions = policy.retransmissions
    hooked: Any = self
    loop = asyncio.get_running_loop()
    checks: set[asyncio.Task[None]] = set()
    hooked._gethory_peer_alive = False
    _select_pairs(self)
    # Consent is granted when ICE concludes (RFC 7675 §5.1).
    alive_since = loop.time()
    try:
        while True:
            await asyncio.sleep(policy.interval_seconds * (0.8 + 0.4 * random.random()))
            _select_pairs(self)  # a pair ICE moved since (new checks nominated another)
            now = loop.time()
            if hooked._gethory_peer_alive:
                hooked._gethory_peer_alive = False
                # The packet came at most one interval ago; counting from now never ends
                # consent before a full expiry without one.
                alive_since = now
            if now - alive_since >= policy.expiry_seconds:
                log.info(
                    "ICE consent expired: nothing authenticated from %s for %.1f s",
                    [pair.remote_addr for pair in self._nominated.values()],
                    now - alive_since,
                )
                # As aioice does: close() cancels this task unless it is forgotten first.
                hooked._query_consent_task = None
                await self.close()
                return
            for pair in list(self._nominated.values()):
                check = asyncio.create_task(_consent_check(self, pair, key, retransmissions))
                checks.add(check)
                check.add_done_callback(checks.discard)
    finally:
        for check in checks:
            check.cancel()


async def _consent_check(
    connection: aioice.ice.Connection,
    pair: aioice.ice.CandidatePair,
    key: bytes,
    retransmissions: int,
) -> None:
    request = connection.build_request(pair, nominate=False)
    remote = pair.remote_addr
    try:
        _, source = await pair.protocol.request(
            request, remote, integrity_key=key, retransmissions=retransmissions
        )
    except aioice.stun.TransactionError:
        return  # timed out, or an error response: no refresh, the expiry decides
    except ConnectionError:
        return  # the socket closed under the check: close() is under way
    if (source[0], source[1]) == remote:  # answered from where it was sent (RFC 7675 §5.1)
        hooked: Any = connection
        hooked._gethory_peer_alive = True


# --- process-wide: one UDP port for all media (RTC_UDP_PORT) -------------------------------

ComponentCandidatesFn = Callable[..., Awaitable[list[Candidate]]]
_STOCK_GET_COMPONENT_CANDIDATES: ComponentCandidatesFn = (
    aioice.ice.Connection.get_component_candidates
)
UFRAG_LENGTH = 8  # a replacement ufrag's length, only when aioice's 4 random chars collide

_media_ports: dict[str, MediaPort] = {}  # host address (normalized) → its shared port


def open_media_ports(port: int, addresses: Sequence[str]) -> tuple[MediaPort, ...]:
    """Bind UDP `port` on each of `addresses`, or on every address aioice's own gathering
    would use (`get_host_addresses`, which skips loopback) when empty; needs the running
    event loop, which will serve them. Raises MediaPortUnavailable (nothing stays bound) for
    a port in use, an address not on this host, or no address at all."""
    loop = asyncio.get_running_loop()
    hosts = [str(ipaddress.ip_address(a)) for a in addresses] or _STOCK_GET_HOST_ADDRESSES(
        use_ipv4=True, use_ipv6=True
    )
    if not hosts:
        raise MediaPortUnavailable(
            f"RTC_UDP_PORT {port}: no host address to bind it on (set RTC_HOST_ADDRESSES)"
        )
    opened: list[MediaPort] = []
    try:
        for host in dict.fromkeys(hosts):
            opened.append(MediaPort.open(host, port, loop))
    except MediaPortUnavailable:
        for media_port in opened:
            media_port.close()
        raise
    return tuple(opened)


def use_media_ports(ports: Sequence[MediaPort]) -> tuple[MediaPort, ...]:
    """Give every answering ICE connection that gathers after the call its host candidate on
    each of `ports` (one per host address) instead of a socket of its own; returns the ports
    in force before. Empty restores aioice's own gathering. Does not close anything.

    Which connections: those gathering as ICE controlled (an answerer, such as every SFU
    connection) and only for component 1 (aiortc always multiplexes RTCP). An offerer in the
    same process (a test client, a bot) keeps its own sockets: two ends of one call on one
    socket could not be told apart by address. Host addresses without a shared port, and
    TURN relays, still get their own sockets; server-reflexive candidates (a STUN server in
    ICE_SERVERS) are not gathered for shared ports (announce the public address instead).

    aioice behaviour relied on: `gather_candidates` calls `get_component_candidates(component,
    addresses)` per component with the host addresses, whose host protocols end up in
    `_protocols` and whose candidates it returns; `local_username` is read from
    `_local_username`, which aiortc reads for the SDP only after gathering; `StunProtocol`
    uses `transport.sendto`/`close` only, is closed by `Connection.close` (waiting for
    `connection_lost`), keeps open client transactions in `transactions` (set, deleted), and
    `Connection.request_received` sends a Binding success response (through `send_stun`) only
    for a request whose USERNAME and MESSAGE-INTEGRITY it verified.
    """
    global _media_ports
    before = tuple(_media_ports.values())
    _media_ports = {str(ipaddress.ip_address(p.host)): p for p in ports}
    connection: Any = aioice.ice.Connection  # replacing methods is what this hook is for
    connection.get_component_candidates = (
        _get_component_candidates if ports else _STOCK_GET_COMPONENT_CANDIDATES
    )
    return before


def active_media_ports() -> tuple[MediaPort, ...]:
    """The ports set by `use_media_ports`, or () while each connection has its own."""
    return tuple(_media_ports.values())


def media_ports_bound() -> bool:
    """Whether shared media ports are in use and all still open."""
    return bool(_media_ports) and not any(p.closed for p in _media_ports.values())


async def _get_component_candidates(
    self: aioice.ice.Connection,
    component: int,
    addresses: list[str],
    timeout: int = 5,  # noqa: ASYNC109 - aioice's own signature, passed on unchanged
) -> list[Candidate]:
    """`Connection.get_component_candidates`: host candidates on the shared ports for an
    answering connection's component 1, aioice's own gathering for everything else."""
    ports = _media_ports
    if component != 1 or self.ice_controlling or not ports:
        return await _STOCK_GET_COMPONENT_CANDIDATES(self, component, addresses, timeout)
    shared = [ports[a] for a in map(_normalized, addresses) if a in ports]
    own = [a for a in addresses if _normalized(a) not in ports]
    candidates = []
    if shared:
        hooked: Any = self  # aioice's private `_local_username`, before anyone has read it
        while any(port.has_ufrag(self.local_username) for port in shared):
            hooked._local_username = aioice.utils.random_string(UFRAG_LENGTH)
        for port in shared:
            protocol = SharedPortProtocol(self, port)
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", port.host),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=port.host,
                port=port.port,
                type="host",
            )
            self._protocols.append(protocol)
            candidates.append(protocol.local_candidate)
    return candidates + await _STOCK_GET_COMPONENT_CANDIDATES(self, component, own, timeout)


def _normalized(address: str) -> str:
    return str(ipaddress.ip_address(address))


class SharedPortProtocol(aioice.ice.StunProtocol):
    """One connection's local candidate on a shared `MediaPort` (an `Endpoint` of it).

    To aioice it is a `StunProtocol` like any other (its hooked `datagram_received`
    included, so consent's address check applies as on an own socket). To the port it
    offers `stun_request_received`, which says whether aioice authenticated a request, and
    it keeps the port's transaction index (`_PortTransactions`) in step with its own.
    """

    def __init__(self, connection: aioice.ice.Connection, port: MediaPort) -> None:
        super().__init__(connection)
        self.transactions = _PortTransactions(port, self)
        self._answered = False
        port.attach(self, connection.local_username)
        self.connection_made(port.transport(self))

    def stun_request_received(self, data: bytes, addr: tuple[Any, ...]) -> bool:
        self._answered = False
        self.datagram_received(data, addr)
        return self._answered

    def uses_address(self, addr: tuple[Any, ...]) -> bool:
        return any(
            pair.protocol is self and pair.remote_addr[:2] == addr[:2]
            for pair in self.receiver._nominated.values()
        )

    def send_stun(self, message: aioice.stun.Message, addr: tuple[str, int]) -> None:
        # aioice answers a request with a Binding success only once it has verified the
        # request's USERNAME and MESSAGE-INTEGRITY (Connection.request_received).
        if (
            message.message_class == aioice.stun.Class.RESPONSE
            and message.message_method == aioice.stun.Method.BINDING
        ):
            self._answered = True
        super().send_stun(message, addr)


class _PortTransactions(dict[bytes, aioice.stun.Transaction]):
    """A `StunProtocol.transactions` that also tells the shared port which transaction ids
    are this protocol's, so responses reach it before its peer's address is learned."""

    def __init__(self, port: MediaPort, endpoint: SharedPortProtocol) -> None:
        super().__init__()
        self._port = port
        self._endpoint = endpoint

    def __setitem__(self, key: bytes, value: aioice.stun.Transaction) -> None:
        super().__setitem__(key, value)
        self._port.track_transaction(key, self._endpoint)

    def __delitem__(self, key: bytes) -> None:
        super().__delitem__(key)
        self._port.untrack_transaction(key)


# --- process-wide: everything an SfuConfig asks for ---------------------------------------


def install(config: SfuConfig) -> Callable[[], None]:
    """Apply every process-wide hook `config` asks for (ICE host and announced addresses,
    consent policy, DTLS interoperability, the shared media port when `rtc.udp_port` is
    set); returns a function restoring what was in force before and closing the ports, for
    the caller to run when it stops (nested installs restore in reverse order).

    With `rtc.udp_port`, it must run on the event loop that will serve the connections.
    Raises ValueError on an address that is not a literal IP, MediaPortUnavailable if the
    port cannot be bound (nothing is changed then)."""
    before = (
        active_host_addresses(),
        active_announced_address(),
        active_consent(),
        active_dtls_interop(),
    )
    rtc = config.rtc
    for address in (*rtc.host_addresses, *filter(None, [rtc.announced_address])):
        ipaddress.ip_address(address)
    ports = () if rtc.udp_port is None else open_media_ports(rtc.udp_port, rtc.host_addresses)
    use_host_addresses(rtc.host_addresses)
    use_announced_address(rtc.announced_address)
    use_consent(ConsentPolicy(config.consent_interval_seconds, config.consent_expiry_seconds))
    use_dtls_interop(True)
    ports_before = use_media_ports(ports)

    def restore() -> None:
        hosts, announced, consent, dtls = before
        use_host_addresses(hosts)
        use_announced_address(announced)
        use_consent(consent)
        use_dtls_interop(dtls)
        use_media_ports(ports_before)
        for port in ports:
            port.close()

    return restore


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
    (RTCRtpTransceiver, "__init__", ("self._codecs",)),
    (RTCRtpReceiver, "__init__", ("self.__started", "self.__transport", "self.__rtcp_task")),
    (RTCRtpReceiver, "receive", ("_register_rtp_receiver", "_run_rtcp")),
    (RTCRtpReceiver, "__init__", ("self.__remote_streams: dict[int, StreamStatistics]",)),
    (RTCRtpReceiver, "_handle_rtp_packet", ("self.__remote_streams[packet.ssrc].add(packet)",)),
    (RTCRtpReceiver, "_run_rtcp", ("self.__remote_streams.items()", "self.__lsr[ssrc]")),
    (RTCRtpReceiver, "_handle_rtcp_packet", ("self.__lsr[packet.ssrc] =",)),
    (RTCRtpReceiver, "__init__", ("self.__lsr: dict[int, int]", "self.__lsr_time: dict")),
    (aiortc.RTCDtlsTransport, "__init__", ("self._rtp_router = RtpRouter()",)),
    (aiortc.RTCDtlsTransport, "_handle_rtp_data", ("self._rtp_router.route_rtp(packet)",)),
    (RtpRouter, "__init__", ("self.ssrc_table: dict[int, RtpReceiver]",)),
    (
        RtpRouter,
        "route_rtp",
        ("self.ssrc_table[packet.ssrc] = pt_receiver",),
    ),
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
    # The parked RTCP loops and the connection's compound report (park_rtcp_loop,
    # receiver_report, connection_cname, RtcpPath).
    (RTCRtpSender, "send", ("asyncio.ensure_future(self._run_rtcp())",)),
    (RTCRtpSender, "__init__", ("self.__rtcp_exited", "self.__rtcp_started")),
    (RTCRtpSender, "stop", ("self.__rtcp_task.cancel()", "self.__rtcp_exited.wait()")),
    (RTCRtpReceiver, "__init__", ("self.__rtcp_exited", "self.__rtcp_started")),
    (RTCRtpReceiver, "__init__", ("self.__rtcp_ssrc",)),
    (RTCRtpReceiver, "stop", ("self.__rtcp_task.cancel()", "self.__rtcp_exited.wait()")),
    (RTCPeerConnection, "__init__", ("self.__cname",)),
    (aiortc.RTCDtlsTransport, "_send_rtp", ("self._tx_srtp.protect_rtcp",)),
    (aiortc.RTCDtlsTransport, "_send_rtp", ("self._tx_srtp.protect",)),
    (aiortc.RTCDtlsTransport, "_send_rtp", ("if is_rtcp(data):",)),
    (aiortc.RTCIceTransport, "__init__", ("self._connection",)),
    (aioice.ice.Connection, "sendto", ("self._nominated", "protocol.send_data")),
    (aioice.ice.StunProtocol, "send_data", ("self.transport.sendto",)),
    (RTCPeerConnection, "setLocalDescription", ("ensure_future(self.__connect())",)),
    # DTLS interoperability (use_dtls_interop).
    (
        RTCPeerConnection,
        "setRemoteDescription",
        ('if description.type == "offer" and media.dtls.role == "client":',),
    ),
    (
        RTCPeerConnection,
        "createAnswer",
        ('if dtlsTransport._role == "auto":', "media.dtls.role = dtlsTransport._role"),
    ),
    (
        RTCPeerConnection,
        "setLocalDescription",
        ("transceiver.receiver.transport._set_role(media.dtls.role)",),
    ),
    (
        RTCPeerConnection,
        "_RTCPeerConnection__remoteDescription",
        ("self.__pendingRemoteDescription or self.__currentRemoteDescription",),
    ),
    (aiortc.RTCDtlsTransport, "__init__", ('self._role = "auto"', "self._transport = transport")),
    (aiortc.RTCDtlsTransport, "_set_role", ("self._role = role",)),
    (aiortc.RTCDtlsTransport, "start", ("._create_ssl_context(", 'if self._role == "server":')),
    (RTCCertificate, "_create_ssl_context", ("ctx.set_cipher_list(", "return ctx")),
    # ICE consent (use_consent).
    (aioice.ice.Connection, "connect", ("asyncio.create_task(self.query_consent())",)),
    (aioice.ice.Connection, "close", ("self._query_consent_task.cancel()",)),
    (aioice.ice.Connection, "__init__", ("self._query_consent_task", "self._nominated")),
    (aioice.ice.Connection, "__init__", ("self._protocols",)),
    (aioice.ice.Connection, "data_received", ("self._queue.put_nowait((data, component))",)),
    (
        aioice.ice.StunProtocol,
        "datagram_received",
        (
            "message = stun.parse_message(data)",
            "self.receiver.data_received(data, self.local_candidate.component)",
            "self.receiver.request_received(message, addr, self)",
        ),
    ),
    (aioice.ice.CandidatePair, "remote_addr", ("self.remote_candidate._network_host",)),
    (aioice.ice.Connection, "build_request", ("stun.Method.BINDING",)),
    (aioice.ice.StunProtocol, "request", ("retransmissions=retransmissions",)),
    (aioice.stun.Transaction, "__init__", ("self.__timeout_delay = RETRY_RTO",)),
    (aioice.stun.Transaction, "response_received", ("self.__future.set_result((message, addr))",)),
    (aioice.stun.Transaction, "_Transaction__retry", ("self.__timeout_delay *= 2",)),
    # One UDP port for media (use_media_ports).
    (
        aioice.ice.Connection,
        "gather_candidates",
        ("self.get_component_candidates(component=component, addresses=addresses)",),
    ),
    (
        aioice.ice.Connection,
        "get_component_candidates",
        ("self._protocols += host_protocols", "return candidates"),
    ),
    (aioice.ice.Connection, "__init__", ("self._local_username = local_username",)),
    (aioice.ice.Connection, "local_username", ("return self._local_username",)),
    (aioice.ice.Connection, "close", ("await protocol.close()",)),
    (aioice.ice.StunProtocol, "__init__", ("self.transactions: dict[bytes, stun.Transaction]",)),
    (
        aioice.ice.StunProtocol,
        "request",
        (
            "self.transactions[request.transaction_id] = transaction",
            "del self.transactions[request.transaction_id]",
        ),
    ),
    (aioice.ice.StunProtocol, "close", ("self.transport.close()", "await self.__closed")),
    (aioice.ice.StunProtocol, "connection_lost", ("self.__closed.set_result(True)",)),
    (aioice.ice.StunProtocol, "send_stun", ("self.transport.sendto(bytes(message), addr)",)),
    (
        aiortc.RTCDtlsTransport,
        "_recv_next",
        (
            # Each handler right after a successful unprotect, on the next line.
            "data = self._rx_srtp.unprotect_rtcp(data)\n"
            "                    await self._handle_rtcp_data(data)",
            "data = self._rx_srtp.unprotect(data)\n"
            "                    await self._handle_rtp_data(data, arrival_time_ms=",
        ),
    ),
)

# What the process-wide hooks replace: checked in aiortc/aioice's own version even while a
# hook is installed.
_STOCK_METHODS: dict[tuple[type, str], Callable[..., Any]] = {
    (RTCCertificate, "_create_ssl_context"): _STOCK_CREATE_SSL_CONTEXT,
    (RTCPeerConnection, "setRemoteDescription"): _STOCK_SET_REMOTE_DESCRIPTION,
    (aioice.ice.Connection, "query_consent"): _STOCK_QUERY_CONSENT,
    (aioice.ice.StunProtocol, "datagram_received"): _STOCK_DATAGRAM_RECEIVED,
    (aiortc.RTCDtlsTransport, "_handle_rtp_data"): _STOCK_HANDLE_RTP_DATA,
    (aiortc.RTCDtlsTransport, "_handle_rtcp_data"): _STOCK_HANDLE_RTCP_DATA,
    (aioice.ice.Connection, "get_component_candidates"): _STOCK_GET_COMPONENT_CANDIDATES,
}

# Statements that must come in this order in aiortc/aioice's source (first before second).
_ORDERED: tuple[tuple[Callable[..., Any], str, str], ...] = (
    # A Binding success response only after USERNAME and MESSAGE-INTEGRITY were verified:
    # the shared media port learns a peer's address from it.
    (
        aioice.ice.Connection.request_received,
        "message.check_message_integrity(self.local_password",
        "protocol.send_stun(response, addr)",
    ),
    # The SDP's ufrag is read after gathering, which may replace a colliding one.
    (RTCPeerConnection.setLocalDescription, "await self.__gather()", "add_transport_description("),
)


def _missing_private_names() -> list[str]:
    problems = []
    for cls, method, names in _PRIVATE_NAMES:
        function: Any = _STOCK_METHODS.get((cls, method)) or getattr(cls, method, None)
        if isinstance(function, property):
            function = function.fget
        if function is None:
            problems.append(f"{cls.__name__}.{method} is gone")
            continue
        source = inspect.getsource(function)
        problems += [f"{cls.__name__}.{method} no longer has {n}" for n in names if n not in source]
    if not isinstance(getattr(aioice.stun, "RETRY_RTO", None), float):
        problems.append("aioice.stun.RETRY_RTO is gone")
    if not callable(getattr(aioice.utils, "random_string", None)):
        problems.append("aioice.utils.random_string is gone")
    problems += _missing_srtp_internals()
    for function, first, second in _ORDERED:
        source = inspect.getsource(function)
        if not 0 <= source.find(first) < source.find(second):
            problems.append(f"{function.__qualname__} no longer has {first} before {second}")
    return problems


def _missing_srtp_internals() -> list[str]:
    """What sfu.rtp_batch takes from pylibsrtp: a Session's `_srtp` (its `srtp_t *`) and the
    bundled libsrtp 2's `srtp_protect(srtp_t, void *, int *)`."""
    from pylibsrtp import Session
    from pylibsrtp._binding import ffi, lib

    problems = []
    if not hasattr(Session(), "_srtp"):
        problems.append("pylibsrtp.Session lost _srtp")
    try:
        protect = ffi.typeof(ffi.addressof(lib, "srtp_protect"))
    except (AttributeError, TypeError):
        problems.append("pylibsrtp's libsrtp has no srtp_protect")
    else:
        if ffi.getctype(protect) != "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)":
            problems.append(f"pylibsrtp's srtp_protect is now {ffi.getctype(protect)}")
    return problems


# --- per connection: forwarding without transcoding -------------------------------------

_NO_EXTENSIONS = HeaderExtensionsMap()
RtpHandler = Callable[[RtpPacket], None]


def restrict_to_opus(
    transceiver: RTCRtpTransceiver, parameters: Mapping[str, int | str]
) -> int | None:
    """Negotiate Opus only, answering exactly `parameters` in its `a=fmtp` (aiortc writes a
    codec's `parameters` there; its own carry none of the offer's, RFC 7587 §6.1); returns the
    payload type the offer gave it on this m-section, None if Opus was not offered."""
    for codec in transceiver._codecs:
        if codec.mimeType.lower() == "audio/opus" and codec.payloadType is not None:
            opus = copy.deepcopy(codec)
            opus.parameters = dict(parameters)
            transceiver._codecs = [opus]
            return int(codec.payloadType)
    return None


def forward_received_rtp(receiver: RTCRtpReceiver, handler: RtpHandler) -> Callable[[], None]:
    """Hand every RTP packet of `receiver` to `handler` instead of decoding it.

    Each packet of a negotiated payload type still feeds aiortc's receive statistics (one
    `StreamStatistics.add`, as the stock path does), which `receiver_report` turns into
    receiver reports to the publisher and `getStats()` into inbound-rtp. aiortc's receiver
    RTCP loop is parked (sfu.rtcp_schedule sends the connection's reports).

    The receiver keeps one stream: its current SSRC. A packet with a new SSRC replaces it
    (the sender restarted, RFC 3550 §8.2): the old SSRC's statistics, last sender report and
    entry in aiortc's SSRC routing table are dropped. So a publisher cycling SSRCs grows no
    server state, and the receiver reports aiortc sends carry one report block (the 5-bit
    count allows 31).

    Returns `detach`, to call before closing the connection: aiortc's connect task may still
    reach `receive()` after `stop()` has run, and would then register the receiver and start
    an RTCP loop that nothing ever stops.
    """
    hooked: Any = receiver  # private, name-mangled attributes: see the module docstring
    statistics: dict[int, StreamStatistics] = hooked._RTCRtpReceiver__remote_streams
    last_reports: dict[int, int] = hooked._RTCRtpReceiver__lsr
    last_report_times: dict[int, float] = hooked._RTCRtpReceiver__lsr_time
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
        # Receiver reports to the publisher go out with the connection's compound RTCP
        # (`receiver_report`, sfu.connection_rtcp); aiortc's loop is parked, so stop() works.
        hooked._RTCRtpReceiver__rtcp_task = asyncio.ensure_future(
            _parked_rtcp(hooked._RTCRtpReceiver__rtcp_started, hooked._RTCRtpReceiver__rtcp_exited)
        )
        hooked._RTCRtpReceiver__started = True

    def replace_stream(ssrc: int, clock_rate: int) -> StreamStatistics:
        """Forget every SSRC but `ssrc`; once per SSRC change, never per packet."""
        routes: dict[int, Any] = hooked._RTCRtpReceiver__transport._rtp_router.ssrc_table
        for old in [s for s, r in routes.items() if r is receiver and s != ssrc]:
            del routes[old]
        statistics.clear()
        for reports in (last_reports, last_report_times):
            for old in [s for s in reports if s != ssrc]:
                del reports[old]
        stream = statistics[ssrc] = StreamStatistics(clock_rate)
        return stream

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        clock_rate = clock_rates.get(packet.payload_type)
        if clock_rate is not None:
            stream = statistics.get(packet.ssrc)
            if stream is None:
                stream = replace_stream(packet.ssrc, clock_rate)
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


async def _parked_rtcp(started: asyncio.Event, exited: asyncio.Event) -> None:
    """Stands in for an aiortc RTCP loop: marks it started, waits until `stop()` cancels it."""
    started.set()
    with contextlib.suppress(asyncio.CancelledError):  # the stock loops end this way too
        await asyncio.Future()
    exited.set()


def park_rtcp_loop(sender: RTCRtpSender) -> None:
    """Before aiortc starts `sender`: its RTCP loop (a sender report and SDES every 0.5-1.5 s)
    only waits to be stopped, then sends the RTCP BYE the stock loop sends; the connection's
    compound report (sfu.connection_rtcp) carries its sender reports instead."""
    hooked: Any = sender  # private, name-mangled attributes: see the module docstring

    async def run_rtcp() -> None:
        await _parked_rtcp(hooked._RTCRtpSender__rtcp_started, asyncio.Event())
        await sender._send_rtcp([RtcpByePacket(sources=[sender._ssrc])])
        hooked._RTCRtpSender__rtcp_exited.set()

    hooked._run_rtcp = run_rtcp


def receiver_report(receiver: RTCRtpReceiver) -> RtcpRrPacket | None:
    """What aiortc's receiver RTCP loop would send now: a receiver report (RFC 3550 §6.4.2)
    with one block per received stream (loss, jitter, highest sequence number, last SR and
    the delay since), or None before anything was received."""
    hooked: Any = receiver  # private, name-mangled attributes: see the module docstring
    rtcp_ssrc: int | None = hooked._RTCRtpReceiver__rtcp_ssrc
    streams: dict[int, StreamStatistics] = hooked._RTCRtpReceiver__remote_streams
    if rtcp_ssrc is None or not streams:
        return None
    last_reports: dict[int, int] = hooked._RTCRtpReceiver__lsr
    last_report_times: dict[int, float] = hooked._RTCRtpReceiver__lsr_time
    reports = []
    for ssrc, stream in streams.items():
        if stream.max_seq is None:
            continue  # nothing received on it yet
        lsr = last_reports.get(ssrc, 0)
        dlsr = 0
        if ssrc in last_reports:
            delay = time.time() - last_report_times[ssrc]
            if 0 < delay < 65536:
                dlsr = int(delay * 65536)
        reports.append(
            RtcpReceiverInfo(
                ssrc=ssrc,
                fraction_lost=stream.fraction_lost,
                packets_lost=stream.packets_lost,
                highest_sequence=stream.max_seq,
                jitter=stream.jitter,
                lsr=lsr,
                dlsr=dlsr,
            )
        )
    return RtcpRrPacket(ssrc=rtcp_ssrc, reports=reports) if reports else None


def connection_cname(pc: RTCPeerConnection) -> str:
    """The CNAME aiortc gives every sender of `pc` (RFC 3550 §6.5.1: one per endpoint)."""
    cname: str = pc._RTCPeerConnection__cname  # type: ignore[attr-defined]
    return cname


class RtcpPath:
    """Sends compound RTCP on a connection's DTLS transport synchronously: SRTCP-protected
    (RFC 3711 §3.4) and sent on the ICE pair aiortc selected, as its `_send_rtp` would."""

    def __init__(self, dtls: aiortc.RTCDtlsTransport) -> None:
        self._dtls = dtls

    def send(self, data: bytes) -> bool:
        """False if the connection is not up (yet, or any more): nothing is sent."""
        dtls: Any = self._dtls  # private attributes: see the module docstring
        if dtls.state != "connected":
            return False
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None or pair.protocol.transport is None or pair.protocol.transport.is_closing():
            return False
        pair.protocol.transport.sendto(dtls._tx_srtp.protect_rtcp(data), pair.remote_addr)
        return True


class RtpOutput:
    """The `RtpSink` of one parked `RTCRtpSender`: puts RTP on the wire itself and has aiortc's
    RTCP loop send the stream's sender reports.

    Two ways to send, both synchronous, on the ICE pair aiortc selected, with the sender's
    SSRC, mid and negotiated header extensions and the DTLS transport's SRTP session:
    - `put` (the SFU's forwarding path): into an `sfu.rtp_batch` batch, whose `flush` sends
      every copy of one received packet at once; the header is a template serialized once
      by aiortc when the connection comes up, rewritten in place per packet;
    - `send` (the load tester's speakers, and the reference in tests): aiortc's own
      `RtpPacket.serialize`, `Session.protect` and the transport's `sendto`, per packet.

    aiortc's own send loop for the sender stays parked on a track that never yields; the
    sender still owns the SSRC it announced in the SDP, and its RTCP loop still runs.
    """

    def __init__(
        self, sender: RTCRtpSender, payload_type: int = 0, batch: RtpBatch | None = None
    ) -> None:
        """`payload_type`: what `put` stamps on every packet (the one this listener
        negotiated for the sender's m-section); `batch`: where `put` adds."""
        self._sender = sender
        self._ssrc: int = sender._ssrc
        self._payload_type = payload_type
        self._batch = batch
        self._protect: Callable[[bytes], bytes] | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._address: tuple[str, int] | None = None
        self._extensions: HeaderExtensionsMap | None = None
        self._destination: RtpDestination | None = None
        self._add: Callable[[RtpDestination, int, int, int, bytes, int], int] | None = None
        self._report_source: SenderReportSource | None = None
        self._unusable = False
        self.mid: str | None = None

    @property
    def ssrc(self) -> int:
        return self._ssrc

    @property
    def sender(self) -> RTCRtpSender:
        return self._sender

    def put(self, sequence_number: int, timestamp: int, marker: int, packet: RtpPacket) -> int:
        """Add `packet`'s payload and audio level under this header to the batch; bytes it
        will take on the wire, 0 while the connection is not up yet (or no longer), or if it
        cannot be sent at all (logged once)."""
        if self._add is None and not self._connect_batch_once():
            return 0
        assert self._transport is not None and self._add is not None
        if self._transport.is_closing():
            return 0
        level = packet.extensions.audio_level
        return self._add(
            self._destination,
            sequence_number,
            timestamp,
            marker,
            packet.payload,
            NO_LEVEL if level is None else (0x80 if level[0] else 0) | (level[1] & 0x7F),
        )

    def send(self, packet: RtpPacket) -> int:
        """Serialize, protect and send `packet` now, stamped with this sender's SSRC-owned
        mid; bytes sent, 0 while the connection is not up yet (or no longer)."""
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
        """Each sender report for this SSRC (`sender_report`, and those aiortc's RTCP loop
        sends where it is not parked) says what `source` reports at the instant it leaves:
        NTP time now, RTP time of now, counts so far."""
        sender: Any = self._sender  # private, name-mangled attributes: see the module docstring
        ssrc = self._ssrc
        stock_send_rtcp = sender._send_rtcp
        self._report_source = source

        async def send_rtcp(packets: list[AnyRtcpPacket]) -> None:
            for packet in packets:
                if isinstance(packet, RtcpSrPacket) and packet.ssrc == ssrc:
                    packet.sender_info = self._sender_info(source)
            await stock_send_rtcp(packets)

        sender._send_rtcp = send_rtcp

    def sender_report(self) -> RtcpSrPacket | None:
        """This stream's sender report (RFC 3550 §6.4.1) for now, from the source given to
        `report_from`; None before the connection is up or without a source."""
        source = self._report_source
        if source is None or (self._transport is None and not self._connect()):
            return None
        return RtcpSrPacket(ssrc=self._ssrc, sender_info=self._sender_info(source))

    def _sender_info(self, source: SenderReportSource) -> RtcpSenderInfo:
        ntp = clock.current_ntp_time()
        report = source.sender_report(time.monotonic())
        sender: Any = self._sender  # private, name-mangled attributes: see the module docstring
        # What aiortc matches receiver reports against (round-trip time), and what its
        # getStats() reports as outbound-rtp.
        sender._RTCRtpSender__lsr = (ntp >> 16) & 0xFFFFFFFF
        sender._RTCRtpSender__lsr_time = time.time()
        sender._RTCRtpSender__ntp_timestamp = ntp
        sender._RTCRtpSender__rtp_timestamp = report.rtp_timestamp
        sender._RTCRtpSender__packet_count = report.packet_count
        sender._RTCRtpSender__octet_count = report.octet_count
        return RtcpSenderInfo(
            ntp_timestamp=ntp,
            rtp_timestamp=report.rtp_timestamp,
            packet_count=report.packet_count & 0xFFFFFFFF,
            octet_count=report.octet_count & 0xFFFFFFFF,
        )

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

    def _connect_batch_once(self) -> bool:
        """`_connect_batch`, and if the destination cannot be built (e.g. a selected pair's
        address the sender cannot use) this stream never sends: logged once, never raised
        into the packet path (one listener's fault must not cost the others their copy)."""
        if self._unusable:
            return False
        try:
            return self._connect_batch()
        except (ValueError, OSError) as error:
            self._unusable = True
            log.warning("a forwarding stream cannot send to %s: %s", self._address, error)
            return False

    def _connect_batch(self) -> bool:
        """Once connected: the batch destination, with header templates aiortc serialized."""
        if self._batch is None:
            raise RuntimeError("RtpOutput.put needs a batch")
        if self._transport is None and not self._connect():
            return False
        transport = self._transport
        assert transport is not None and self._address is not None
        if isinstance(transport, SharedTransport):
            fd = transport.fileno()
        else:
            fd = transport.get_extra_info("socket").fileno()
        with_level, level_offset, without_level = header_templates(
            self._payload_type, self._ssrc, self.mid, self._extensions or _NO_EXTENSIONS
        )
        self._destination = new_destination(
            self._batch,
            fd,
            self._address,
            self._sender.transport._tx_srtp,
            with_level,
            level_offset,
            without_level,
        )
        self._add = self._batch.add
        return True


def header_templates(
    payload_type: int, ssrc: int, mid: str | None, extensions: HeaderExtensionsMap
) -> tuple[bytes, int, bytes]:
    """An outgoing stream's RTP headers as aiortc serializes them (RFC 3550 header, then the
    RFC 8285 block in the form aiortc picks for the negotiated ids): with the RFC 6464 level,
    where its byte is, and without it. Marker, sequence number, timestamp and level are 0,
    to be rewritten per packet. With no level negotiated, both are the same and the offset
    is -1 (sfu.rtp_batch then ignores the level)."""
    packet = RtpPacket(payload_type=payload_type, ssrc=ssrc)
    packet.extensions.mid = mid
    without_level = packet.serialize(extensions)
    packet.extensions.audio_level = (False, 0)
    low = packet.serialize(extensions)
    packet.extensions.audio_level = (True, 0x7F)
    high = packet.serialize(extensions)
    if low == without_level:
        return without_level, -1, without_level
    offset = next(i for i, (a, b) in enumerate(zip(low, high, strict=True)) if a != b)
    return low, offset, without_level
