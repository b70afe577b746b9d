"""One UDP port for the media of every peer connection (`RTC_UDP_PORT`): the socket and its
demultiplexer.

A `MediaPort` is one UDP socket bound on one host address at the configured port. Every
answering ICE connection of the process gets an endpoint on it (`aiortc_hooks` builds them:
an aioice `StunProtocol` whose transport is a `SharedTransport` of this port), and each
datagram that arrives is handed to the endpoint it belongs to:

- The first byte says what a datagram is (RFC 7983 §7, RFC 5764 §5.1.2): 0-3 STUN, 20-63
  DTLS, 128-191 RTP/RTCP (SRTP/SRTCP).
- A STUN Binding request is routed by the local part of its USERNAME attribute (RFC 8445
  §7.2.2: "<receiver's ufrag>:<sender's ufrag>"), each endpoint being registered with its
  connection's local ufrag when it gathers candidates. If the endpoint authenticates the
  request (aioice checked USERNAME and MESSAGE-INTEGRITY with the local password and sent a
  Binding success response), the request's source address is learned for that endpoint.
- A STUN response (success or error) is routed by its transaction id, to the endpoint that
  has that transaction open (96 random bits, RFC 8489 §6: unguessable, unique), so a check
  answered before its peer's own first request is not lost.
- Everything else (DTLS, SRTP, SRTCP) is routed by its source address alone: one dict lookup
  per datagram, no parsing, no allocation beyond the datagram itself.
- Anything else is dropped and counted, never logged per datagram: a datagram from an
  address nobody learned, a request with an unknown ufrag or without USERNAME, a STUN
  indication, a datagram that is not STUN but starts like it, an unknown transaction.

Learned addresses are first come, first served: an address already learned by a live
endpoint is never given to another one, so a request with a known ufrag and a wrong password
(refused by aioice: nothing learned) cannot take anyone's traffic, nor can a peer that knows
its own password claim an address another peer already uses. An endpoint holds at most
`MAX_ADDRESSES_PER_ENDPOINT` addresses: at the limit, a new one replaces its oldest address
that the connection's selected pair does not use. When an endpoint's transport closes (the ICE
connection closed), its ufrag, addresses and transactions are released at once.

Sources: mediasoup's `WebRtcServer` (one socket per listen address for many
`WebRtcTransport`s: STUN by the USERNAME's local ufrag, then by the 5-tuple ICE validated),
pion/ice's `UDPMuxDefault` (LiveKit's single-port mode: connections keyed by ufrag, then by
remote address; an address keeps its first connection). Same guarantees as one socket per
connection: what reaches an endpoint could also have reached its own socket.

Receiving uses `loop.add_reader` on a non-blocking socket (binding is synchronous, so a port
in use fails at start-up), and drains up to `BATCH` datagrams per readiness event.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from struct import unpack_from
from typing import Any, Protocol, cast

log = logging.getLogger(__name__)

BATCH = 64  # datagrams read per readiness event, then the loop runs other callbacks
RECEIVE_SIZE = 65536  # the largest UDP payload: a truncated DTLS record would fail
SOCKET_BUFFER_BYTES = 4 * 1024 * 1024  # asked for; the kernel caps it at net.core.rmem_max
MAX_ADDRESSES_PER_ENDPOINT = 16
MAX_STUN_ATTRIBUTES_SCANNED = 32  # USERNAME comes early in every ICE check seen in practice

STUN_COOKIE = 0x2112A442
STUN_HEADER = 20
STUN_USERNAME = 0x0006
STUN_CLASS_MASK = 0x0110
STUN_REQUEST = 0x0000
STUN_SUCCESS = 0x0100
STUN_ERROR = 0x0110

Address = tuple[Any, ...]  # as recvfrom gives it: (host, port), or 4 fields for IPv6


class MediaPortUnavailable(RuntimeError):
    """The configured media port cannot be bound (in use, not permitted, no address)."""


class Endpoint(Protocol):
    """One ICE connection's side of a `MediaPort` (an asyncio datagram protocol)."""

    def connection_lost(self, exc: Exception | None) -> None:
        """Its transport closed."""

    def datagram_received(self, data: bytes, addr: Address) -> None:
        """A datagram for this endpoint (a STUN response, DTLS, SRTP, SRTCP)."""

    def stun_request_received(self, data: bytes, addr: Address) -> bool:
        """A STUN request naming this endpoint's ufrag: True if it was authenticated and
        answered with a Binding success response (then `addr` is learned)."""

    def uses_address(self, addr: Address) -> bool:
        """Whether the connection's selected pair leads to `addr` (it must stay learned)."""


@dataclass(frozen=True)
class MediaPortStats:
    """What the port holds now (ufrags, learned addresses, open transactions of its
    endpoints) and, since it opened, the datagrams it dropped (received, taken by no
    endpoint) and its errors (a datagram that could not be sent, or whose handler raised)."""

    ufrags: int
    addresses: int
    transactions: int
    dropped: int
    errors: int


class MediaPort:
    """One UDP socket at `host`:`port` shared by many endpoints (module docstring)."""

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self._sock = sock
        self._loop = loop
        self.host: str = sock.getsockname()[0]
        self.port: int = sock.getsockname()[1]
        self.closed = False
        self.dropped = 0
        self.errors = 0
        self._by_ufrag: dict[bytes, Endpoint] = {}
        self._by_address: dict[Address, Endpoint] = {}
        self._by_transaction: dict[bytes, Endpoint] = {}
        self._ufrag_of: dict[Endpoint, bytes] = {}
        self._addresses_of: dict[Endpoint, list[Address]] = {}
        loop.add_reader(sock.fileno(), self._read_ready)

    @classmethod
    def open(cls, host: str, port: int, loop: asyncio.AbstractEventLoop) -> MediaPort:
        """Bind `host`:`port` (UDP; an IPv6 socket takes IPv6 only). Raises
        MediaPortUnavailable with a message naming the setting, the port and the address."""
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            # No SO_REUSEADDR: a second process on the same port must fail, not share it.
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
            sock.bind((host, port))
            sock.setblocking(False)
        except OSError as error:
            sock.close()
            if error.errno == errno.EADDRINUSE:
                raise MediaPortUnavailable(f"RTC_UDP_PORT {port} is in use on {host}") from None
            raise MediaPortUnavailable(
                f"RTC_UDP_PORT {port} cannot be bound on {host}: {error.strerror or error}"
            ) from None
        return cls(sock, loop)

    def close(self) -> None:
        """Stop receiving and close the socket; endpoints still open send nothing more."""
        if self.closed:
            return
        self.closed = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()

    # --- endpoints ---------------------------------------------------------------------------

    def has_ufrag(self, ufrag: str) -> bool:
        return ufrag.encode() in self._by_ufrag

    def attach(self, endpoint: Endpoint, ufrag: str) -> None:
        """Route STUN requests whose USERNAME starts with `ufrag:` to `endpoint`. Raises
        ValueError if another endpoint holds `ufrag` (pick another one first)."""
        key = ufrag.encode()
        holder = self._by_ufrag.get(key)
        if holder is not None and holder is not endpoint:
            raise ValueError(f"ICE ufrag {ufrag!r} is already on media port {self.port}")
        self._by_ufrag[key] = endpoint
        self._ufrag_of[endpoint] = key
        self._addresses_of.setdefault(endpoint, [])

    def detach(self, endpoint: Endpoint) -> None:
        """Release everything `endpoint` held: ufrag, learned addresses, transactions."""
        key = self._ufrag_of.pop(endpoint, None)
        if key is not None and self._by_ufrag.get(key) is endpoint:
            del self._by_ufrag[key]
        for address in self._addresses_of.pop(endpoint, ()):
            if self._by_address.get(address) is endpoint:
                del self._by_address[address]
        for transaction in [t for t, e in self._by_transaction.items() if e is endpoint]:
            del self._by_transaction[transaction]

    def track_transaction(self, transaction_id: bytes, endpoint: Endpoint) -> None:
        """Route STUN responses carrying `transaction_id` to `endpoint` until untracked."""
        self._by_transaction[transaction_id] = endpoint

    def untrack_transaction(self, transaction_id: bytes) -> None:
        self._by_transaction.pop(transaction_id, None)

    def endpoint_for(self, address: Address) -> Endpoint | None:
        """The endpoint that learned `address` (as recvfrom reports it), if any."""
        return self._by_address.get(address)

    def stats(self) -> MediaPortStats:
        return MediaPortStats(
            ufrags=len(self._by_ufrag),
            addresses=len(self._by_address),
            transactions=len(self._by_transaction),
            dropped=self.dropped,
            errors=self.errors,
        )

    def transport(self, endpoint: Endpoint) -> SharedTransport:
        """A datagram transport for `endpoint` that sends from this port."""
        return SharedTransport(self, endpoint)

    def call_soon(self, callback: Callable[..., object], *args: object) -> None:
        self._loop.call_soon(callback, *args)

    def fileno(self) -> int:
        """The shared socket's descriptor: what sfu.rtp_batch sends the forwarded media on."""
        return self._sock.fileno()

    def sendto(self, data: bytes, address: Address) -> None:
        """Send one datagram; dropped, as UDP may, if the socket's buffer is full or the
        socket is closed."""
        try:
            self._sock.sendto(data, address)
        except OSError:
            self.errors += 1

    # --- receiving (the hot path) ------------------------------------------------------------

    def _read_ready(self) -> None:
        recvfrom = self._sock.recvfrom
        by_address = self._by_address
        for _ in range(BATCH):
            try:
                data, address = recvfrom(RECEIVE_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. a queued ICMP error: nothing to hand on
                self.errors += 1
                return
            try:
                if data and data[0] > 3:  # not STUN (RFC 7983): DTLS, SRTP, SRTCP, or junk
                    endpoint = by_address.get(address)
                    if endpoint is None:
                        self.dropped += 1
                    else:
                        endpoint.datagram_received(data, address)
                else:
                    self._stun_received(data, address)
            except Exception:  # an endpoint's bug must not stop the port for everyone
                self.errors += 1
                if self.errors & (self.errors - 1) == 0:  # 1st, 2nd, 4th, 8th... not per packet
                    log.exception("media port %s: a datagram's handler failed", self.port)

    def _stun_received(self, data: bytes, address: Address) -> None:
        size = len(data)
        if size < STUN_HEADER:
            self.dropped += 1
            return
        message_type, length, cookie = unpack_from("!HHI", data)
        if cookie != STUN_COOKIE or length + STUN_HEADER != size:
            self.dropped += 1
            return
        message_class = message_type & STUN_CLASS_MASK
        if message_class == STUN_REQUEST:
            self._request_received(data, address)
            return
        endpoint = None
        if message_class in (STUN_SUCCESS, STUN_ERROR):
            endpoint = self._by_transaction.get(data[8:STUN_HEADER])
        if endpoint is None:
            self.dropped += 1  # an indication, or no transaction of ours
        else:
            endpoint.datagram_received(data, address)

    def _request_received(self, data: bytes, address: Address) -> None:
        local_ufrag = _local_ufrag(data)
        endpoint = None if local_ufrag is None else self._by_ufrag.get(local_ufrag)
        if endpoint is None:
            self.dropped += 1
            return
        if endpoint.stun_request_received(data, address):
            self._learn(address, endpoint)

    def _learn(self, address: Address, endpoint: Endpoint) -> None:
        """An authenticated request came from `address`: its later datagrams go to
        `endpoint`, unless a live endpoint already holds the address (first come, first
        served). An endpoint holding its maximum lets go of its oldest address that its
        selected pair does not use (a peer whose NAT rebinds again and again keeps moving)."""
        if address in self._by_address:
            return
        addresses = self._addresses_of.get(endpoint)
        if addresses is None:
            return
        if len(addresses) >= MAX_ADDRESSES_PER_ENDPOINT:
            unused = next((a for a in addresses if not endpoint.uses_address(a)), None)
            if unused is None:
                return
            addresses.remove(unused)
            del self._by_address[unused]
        addresses.append(address)
        self._by_address[address] = endpoint


def _local_ufrag(data: bytes) -> bytes | None:
    """The part before ':' of a STUN message's USERNAME (RFC 8445 §7.2.2), or None.
    Attributes are type, length, value padded to 4 bytes (RFC 8489 §14)."""
    position, end = STUN_HEADER, len(data)
    for _ in range(MAX_STUN_ATTRIBUTES_SCANNED):
        if position + 4 > end:
            return None
        kind, length = unpack_from("!HH", data, position)
        if kind == STUN_USERNAME:
            value = data[position + 4 : position + 4 + length]
            ufrag, colon, _ = value.partition(b":")
            return ufrag if colon else None
        position += 4 + (length + 3) // 4 * 4
    return None


class SharedTransport(asyncio.DatagramTransport):
    """An endpoint's transport: sends from the shared socket; closing it releases the
    endpoint's ufrag and addresses and then tells the endpoint `connection_lost`, as an own
    socket's transport would."""

    def __init__(self, port: MediaPort, endpoint: Endpoint) -> None:
        super().__init__()
        self._port = port
        self._endpoint = endpoint
        self._closing = False
        # The port's own method: no extra call per datagram sent.
        self.sendto: Callable[[bytes, Address], None] = port.sendto  # type: ignore[assignment]

    def is_closing(self) -> bool:
        return self._closing or self._port.closed

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self.sendto = _send_nothing
        self._port.detach(self._endpoint)
        self._port.call_soon(self._endpoint.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def fileno(self) -> int:
        """The shared socket's descriptor (sfu.rtp_batch sends on it while not closing)."""
        return self._port.fileno()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sockname":
            return (self._port.host, self._port.port)
        if name == "socket":
            return None  # shared: not for one connection to set options on
        return default

    def get_protocol(self) -> asyncio.BaseProtocol:
        return cast(asyncio.BaseProtocol, self._endpoint)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        raise NotImplementedError("a shared media port endpoint keeps its protocol")


def _send_nothing(data: bytes, address: Address) -> None:
    """A closed endpoint's `sendto`."""
