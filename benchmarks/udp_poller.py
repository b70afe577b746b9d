"""Many bots' ICE sockets read from one epoll, in batches, with the kernel's arrival times.

uvloop (like asyncio) gives each UDP socket its own reader, and a listener bot process's
sockets are read as their datagrams come: about two datagrams per event-loop wake-up at 500
listeners, since a speaker's fan-out reaches them spread over milliseconds. `DatagramPoller`
registers one `select.epoll` with the loop (`loop.add_reader` on its fd); when it becomes
readable, the poller stops watching it for `hold` seconds (HOLD_SECONDS, 15 ms), then reads
one datagram from each socket epoll says is ready and asks epoll again until nothing is
ready. Level-triggered: a socket with more queued is simply ready again in the next round, so
no socket waits behind another's backlog, and no read ends in EAGAIN but for a race. At 500
listeners a wake-up now takes ≈390 datagrams. Holding would make the time of reading a poor
arrival time, so every socket has SO_TIMESTAMPNS and each datagram is read with `recvmsg`
together with the time the kernel queued it (CLOCK_REALTIME, turned into time.monotonic()
seconds): RFC 3550 jitter and the sampled end-to-end delays are as exact as before, or more
(scheduling delays of the bot process no longer count). A transport's `receiver`, when set,
gets `(data, addr, arrival)`; otherwise the protocol's `datagram_received(data, addr)`.
Measured here (2 cores, noisy): without the hold, the poller costs what uvloop's own
transports cost per datagram (4.5 µs with the header statistics, kernel included); the hold
saved ≈2-3 µs per packet in the listener bots (`python -m benchmarks.bot_cost`).

`poll_host_candidates(connection)` hooks one aioice `Connection` (an instance attribute, never
the class: a server in the same process keeps its own sockets and any process-wide hooks of
`sfu.aiortc_hooks`) so that each host candidate it gathers is a socket of this loop's poller,
served by a `PolledTransport`. aioice behaviour relied on: `Connection.gather_candidates` calls
`self.get_component_candidates(component=, addresses=)` and adds the candidates it returns;
a host candidate is a `StunProtocol(connection)` in `connection._protocols` with its
`local_candidate` set, whose transport aioice uses through `sendto(data, addr)`, `close()`
(then `StunProtocol.close` awaits `connection_lost`), `is_closing()` and
`get_extra_info("sockname")`; each datagram goes to the transport's `receiver` (the listener
bots' RTP tap) or else to `protocol.datagram_received(data, addr)`, looked up at every
datagram, so class-level hooks (`sfu.aiortc_hooks.use_consent`) apply as they did. Server-reflexive
candidates (a STUN server) are asked over the polled sockets as aioice asks them; TURN relays
keep aioice's own transport.
"""

from __future__ import annotations

import asyncio
import ipaddress
import select
import socket
import struct
import time
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

import aioice.ice
import aioice.turn
from aioice.candidate import Candidate, candidate_foundation, candidate_priority

RECEIVE_SIZE = 4096  # larger than any datagram of ICE, DTLS (aiortc's MTU 1200) or audio RTP
SOCKET_BUFFER_BYTES = aioice.turn.UDP_SOCKET_BUFFER_SIZE  # what aioice asks for its sockets

HOLD_SECONDS = 0.015  # a readable poller is read this much later (see DatagramPoller)
# Linux's SO_TIMESTAMPNS (= SCM_TIMESTAMPNS), which Python's socket module does not name:
# each datagram's receive time as a struct timespec in the ancillary data of recvmsg.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")
_unpack_timespec = _TIMESPEC.unpack_from
_ANCILLARY_SIZE = socket.CMSG_SPACE(_TIMESPEC.size)

Address = tuple[Any, ...]
Receiver = Callable[[bytes, Address, float], None]


class PolledTransport(asyncio.DatagramTransport):
    """The transport of one polled UDP socket (what aioice's StunProtocol uses of one).

    sendto: one non-blocking `sendto`; a full socket buffer drops the datagram (UDP: ICE and
    DTLS retransmit, media is lossy anyway) and is counted in `dropped_sends`; another
    OSError goes to the protocol's `error_received`, as asyncio's transports do."""

    def __init__(
        self, sock: socket.socket, protocol: asyncio.DatagramProtocol, poller: DatagramPoller
    ) -> None:
        super().__init__()
        self.sock = sock
        self.recvmsg = sock.recvmsg  # bound once: the poller's per-datagram call
        self.protocol = protocol
        self._poller = poller
        self.dropped_sends = 0
        # Set to take each datagram with its arrival time (time.monotonic() seconds, from
        # the kernel's receive timestamp) instead of the protocol's datagram_received.
        self.receiver: Receiver | None = None
        self._closing = False
        self._sockname: Address = sock.getsockname()

    def sendto(self, data: Any, addr: Any = None) -> None:
        if self._closing:
            return
        try:
            self.sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            self.dropped_sends += 1
        except OSError as exc:
            self.protocol.error_received(exc)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sockname":
            return self._sockname
        if name == "socket":
            return self.sock
        return default

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Stop polling the socket and close it; `connection_lost(None)` follows on the loop."""
        if self._closing:
            return
        self._closing = True
        loop = self._poller.loop
        self._poller.remove(self)
        self.sock.close()
        if not loop.is_closed():
            loop.call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()


class DatagramPoller:
    """One epoll for the polled sockets of one event loop (module docstring).

    `received` counts the datagrams read, `wakeups` the loop's calls into the poller (the
    ratio is the batching achieved); `errors` the receive errors other than EAGAIN."""

    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DatagramPoller]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._epoll = select.epoll()
        self._transports: dict[int, PolledTransport] = {}
        self.received = 0
        self.wakeups = 0
        self.errors = 0
        self.hold = HOLD_SECONDS
        self._held = False
        loop.add_reader(self._epoll.fileno(), self._ready)

    @classmethod
    def running(cls) -> DatagramPoller:
        """The running loop's poller (created on first use, closed with its last socket)."""
        loop = asyncio.get_running_loop()
        poller = cls._by_loop.get(loop)
        if poller is None:
            poller = cls._by_loop[loop] = cls(loop)
        return poller

    @property
    def sockets(self) -> int:
        return len(self._transports)

    def open(self, host: str, protocol: asyncio.DatagramProtocol) -> PolledTransport:
        """A non-blocking UDP socket bound to `host` on a free port, polled from now on for
        `protocol` (whose `connection_made` is called). Raises OSError if it cannot bind."""
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER_BYTES)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.bind((host, 0))
        except OSError:
            sock.close()
            raise
        transport = PolledTransport(sock, protocol, self)
        self._transports[sock.fileno()] = transport
        self._epoll.register(sock.fileno(), select.EPOLLIN)
        protocol.connection_made(transport)
        return transport

    def remove(self, transport: PolledTransport) -> None:
        fd = transport.sock.fileno()
        if self._transports.get(fd) is transport:
            del self._transports[fd]
            self._epoll.unregister(fd)
        if not self._transports:
            self.close()

    def close(self) -> None:
        """Stop polling (the sockets themselves belong to their transports)."""
        if self._by_loop.get(self.loop) is self:
            del self._by_loop[self.loop]
        if not self._epoll.closed:
            if not self.loop.is_closed():
                self.loop.remove_reader(self._epoll.fileno())
            self._epoll.close()

    def _ready(self) -> None:
        """The epoll fd is readable: read after `hold` seconds, so that one wake-up takes
        what arrives meanwhile (arrival times come from the kernel, not from the read)."""
        if self.hold <= 0:
            self._drain()
            return
        self.loop.remove_reader(self._epoll.fileno())
        self.loop.call_later(self.hold, self._drain_held)

    def _drain_held(self) -> None:
        if self._epoll.closed:
            return
        self._drain()
        self.loop.add_reader(self._epoll.fileno(), self._ready)

    def _drain(self) -> None:
        """One datagram from each ready socket, until epoll reports none ready."""
        self.wakeups += 1
        poll = self._epoll.poll
        transports = self._transports
        received = 0
        # The kernel stamps arrivals with CLOCK_REALTIME (SO_TIMESTAMPNS); the bots' clock
        # is time.monotonic(): one offset per drain (the two differ only by NTP's slewing).
        offset = time.time() - time.monotonic()
        try:
            while True:
                ready = poll(0)
                if not ready:
                    break
                for fd, _ in ready:
                    transport = transports.get(fd)
                    if transport is None:
                        continue  # closed by a datagram handled earlier in this round
                    try:
                        data, ancillary, _, addr = transport.recvmsg(RECEIVE_SIZE, _ANCILLARY_SIZE)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError as exc:
                        self.errors += 1
                        transport.protocol.error_received(exc)
                        continue
                    received += 1
                    receiver = transport.receiver
                    if receiver is None:
                        transport.protocol.datagram_received(data, addr)
                        continue
                    if ancillary:
                        seconds, nanoseconds = _unpack_timespec(ancillary[0][2])
                        arrival = seconds + nanoseconds * 1e-9 - offset
                    else:
                        arrival = time.monotonic()
                    receiver(data, addr, arrival)
        finally:
            self.received += received


def poll_host_candidates(connection: aioice.ice.Connection) -> None:
    """Have `connection` gather its host candidates on polled sockets (module docstring);
    call before gathering starts (before aiortc's setLocalDescription)."""
    hooked: Any = connection  # an instance attribute shadows the class's method
    hooked.get_component_candidates = _polled_component_candidates(connection)


def _polled_component_candidates(connection: aioice.ice.Connection) -> Any:
    stock = type(connection).get_component_candidates  # process-wide hooks still apply

    async def get_component_candidates(
        component: int,
        addresses: list[str],
        timeout: int = 5,  # noqa: ASYNC109 - aioice's own signature
    ) -> list[Candidate]:
        poller = DatagramPoller.running()
        candidates: list[Candidate] = []
        protocols: list[aioice.ice.StunProtocol] = []
        for address in addresses:
            protocol = aioice.ice.StunProtocol(connection)
            try:
                transport = poller.open(address, protocol)
            except OSError:
                continue  # as aioice: an address that cannot be bound gives no candidate
            host, port = transport.get_extra_info("sockname")[:2]
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", host),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=host,
                port=port,
                type="host",
            )
            protocols.append(protocol)
            candidates.append(protocol.local_candidate)
        connection._protocols += protocols
        waits: list[Any] = []
        if connection.stun_server:
            stun_server = connection.stun_server
            waits += [
                aioice.ice.server_reflexive_candidate(p, stun_server)
                for p in protocols
                if ipaddress.ip_address(p.local_candidate.host).version == 4
            ]
        if connection.turn_server:
            waits.append(stock(connection, component, [], timeout))  # TURN only
        for result in await asyncio.gather(*_within(waits, timeout), return_exceptions=True):
            if isinstance(result, list):
                candidates += result
            elif isinstance(result, tuple):
                candidates.append(result[0])
        return candidates

    return get_component_candidates


def _within(waits: list[Any], timeout: float) -> list[Any]:
    return [asyncio.wait_for(w, timeout) for w in waits]
