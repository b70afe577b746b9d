"""The datagrams of one forwarded packet, protected one by one and sent together.

Room.route hands every copy of one received packet to `RtpBatch.add` (one per listener slot)
and then calls `flush` once. Per copy, `add` takes the destination's header template (the RTP
header with its mid and RFC 6464 audio-level extensions, serialized once by aiortc's own
`RtpPacket.serialize` when the connection comes up, so both RFC 8285 forms are exactly
aiortc's), rewrites marker, sequence number, timestamp and level in place, appends the payload
and SRTP-protects it (RFC 3711) with the listener's session. `flush` hands every pending
datagram to the kernel: one `sendmmsg(2)` per run of datagrams on the same socket, so with one
media port (RTC_UDP_PORT) a packet's whole fan-out is one system call.

Two implementations with the same classes and the same bytes on the wire (tests/test_rtp_batch.py
checks both against aiortc's serializer and pylibsrtp):

- `sfu._rtp_batch`, a small C extension built by the package's normal build
  (pyproject.toml `ext-modules`, optional): the template copy, the rewrite and `srtp_protect`
  into the batch's own buffers (the session is pylibsrtp's: the extension calls the bundled
  libsrtp's `srtp_protect` through its address, on the session's own `srtp_t`), then
  sendmmsg with MSG_DONTWAIT.
- this module's `PyRtpBatch`, used when the extension is not built: the same steps with
  `struct`, `pylibsrtp.Session.protect` and `sendto` on the same descriptor.

A datagram the kernel refuses (a socket gone, a full buffer) is skipped and counted in
`failed`; the other listeners' copies still go, and nothing waits: a slow listener's socket
never delays another's packet.
"""

from __future__ import annotations

import logging
import socket
from struct import pack_into
from typing import Any, Protocol

from pylibsrtp import Session
from pylibsrtp._binding import ffi, lib

log = logging.getLogger(__name__)

Address = tuple[Any, ...]
DATAGRAM_BYTES = 1500
SRTP_TRAILER_ROOM = 144  # libsrtp 2 SRTP_MAX_TRAILER_LEN: what pylibsrtp keeps free too
BATCH_CAPACITY = 1024  # UIO_MAXIOV: the most one sendmmsg takes; a fuller batch sends early
NO_LEVEL = -1


class RtpDestination(Protocol):
    """Where one outgoing stream's datagrams go (built by `new_destination`)."""


class RtpBatch(Protocol):
    """Either implementation (see the module docstring)."""

    @property
    def pending(self) -> int: ...

    @property
    def sent(self) -> int: ...

    @property
    def failed(self) -> int: ...

    def add(
        self,
        destination: Any,
        sequence_number: int,
        timestamp: int,
        marker: int,
        payload: bytes,
        level: int,
    ) -> int:
        """Protect one datagram into the batch: the destination's template with this
        sequence number (16 bits), timestamp (32 bits), marker (0/1) and, if `level` is not
        NO_LEVEL, this RFC 6464 level byte (V bit << 7 | dBov); then `payload`. Its length on
        the wire, 0 if it was dropped (too long for one datagram, or SRTP refused it)."""
        ...

    def flush(self) -> int:
        """Send every pending datagram; how many the kernel took."""
        ...


class PyRtpDestination:
    __slots__ = ("address", "fd", "level_offset", "session", "with_level", "without_level")

    def __init__(
        self,
        fd: int,
        address: Address,
        session: Session,
        srtp: int,
        protect: int,
        with_level: bytes,
        level_offset: int,
        without_level: bytes,
    ) -> None:
        del srtp, protect  # the native twin's way to reach libsrtp
        self.fd = fd
        self.address = address
        self.session = session
        self.with_level = with_level
        self.level_offset = level_offset
        self.without_level = without_level


class PyRtpBatch:
    def __init__(self, capacity: int = BATCH_CAPACITY) -> None:
        self._capacity = capacity
        self._pending: list[tuple[int, bytes, Address]] = []
        self.sent = 0
        self.failed = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(
        self,
        destination: PyRtpDestination,
        sequence_number: int,
        timestamp: int,
        marker: int,
        payload: bytes,
        level: int,
    ) -> int:
        template = destination.with_level if level >= 0 else destination.without_level
        if len(template) + len(payload) > DATAGRAM_BYTES - SRTP_TRAILER_ROOM:
            return 0
        if len(self._pending) == self._capacity:
            self.flush()
        packet = bytearray(template)
        packet[1] = (template[1] & 0x7F) | (0x80 if marker else 0)
        pack_into("!HL", packet, 2, sequence_number & 0xFFFF, timestamp & 0xFFFFFFFF)
        if level >= 0 and destination.level_offset >= 0:
            packet[destination.level_offset] = level & 0xFF
        packet += payload
        try:
            data = destination.session.protect(bytes(packet))
        except Exception:  # pylibsrtp's Error: the packet is dropped, as the native twin does
            return 0
        self._pending.append((destination.fd, data, destination.address))
        return len(data)

    def flush(self) -> int:
        """Send on each descriptor through a socket object that borrows it (detached after,
        never closing it), so a refusal raises here and is counted, as the native twin's."""
        pending, self._pending = self._pending, []
        sent = 0
        sockets: dict[int, socket.socket] = {}
        try:
            for fd, data, address in pending:
                try:
                    sock = sockets.get(fd)
                    if sock is None:
                        sock = sockets[fd] = socket.socket(fileno=fd)
                    sock.sendto(data, address)
                    sent += 1
                except OSError:
                    self.failed += 1
        finally:
            for sock in sockets.values():
                sock.detach()
        self.sent += sent
        return sent


def new_batch() -> RtpBatch:
    """The native batch if the extension was built, else the Python twin."""
    try:
        from sfu._rtp_batch import RtpBatch as NativeRtpBatch
    except ImportError:
        log.warning("sfu._rtp_batch is not built: forwarding with the slower Python sender")
        return PyRtpBatch()
    batch: RtpBatch = NativeRtpBatch()
    return batch


def new_destination(
    batch: RtpBatch,
    fd: int,
    address: Address,
    session: Session,
    with_level: bytes,
    level_offset: int,
    without_level: bytes,
) -> RtpDestination:
    """A destination of `batch`'s own kind. `fd`: the UDP socket to send on (borrowed: the
    caller checks it is still open before each `add`, in the same event-loop step as the
    flush); `address`: (ip, port), an IPv6 ip possibly with its `%zone`; `session`: the
    listener's outbound pylibsrtp session (aiortc's `RTCDtlsTransport._tx_srtp`);
    `with_level`/`without_level`: the RTP header with and without the audio-level extension
    (marker 0; sequence number, timestamp, level byte to be rewritten), `level_offset` where
    the level byte is in `with_level` (-1: no level negotiated, `level` is ignored). Raises
    ValueError for an address that is not an IP."""
    srtp = int(ffi.cast("uintptr_t", session._srtp[0]))
    protect = int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_protect")))
    kind: Any = PyRtpDestination if isinstance(batch, PyRtpBatch) else _native_destination()
    destination: RtpDestination = kind(
        fd, address, session, srtp, protect, with_level, level_offset, without_level
    )
    return destination


def _native_destination() -> type[Any]:
    from sfu._rtp_batch import RtpDestination as NativeRtpDestination

    return NativeRtpDestination
