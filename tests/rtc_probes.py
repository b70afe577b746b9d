"""Test instruments on aiortc peers: see what a receiver gets, lose what a sender sends.

They touch aiortc's private names like sfu/aiortc_hooks.py does, but serve only the tests'
own peers, so they live here, not in the media plane.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import aioice
import aioice.stun
from aiortc import RTCDtlsTransport, RTCPeerConnection, RTCRtpReceiver
from aiortc.rtp import AnyRtcpPacket, RtpPacket, is_rtcp

RtpHandler = Callable[[RtpPacket], None]
RtcpHandler = Callable[[AnyRtcpPacket], None]


def observe_received_rtp(receiver: RTCRtpReceiver, observer: RtpHandler) -> None:
    """Let `observer` see each RTP packet before aiortc's normal receive path handles it."""
    hooked: Any = receiver
    stock = hooked._handle_rtp_packet

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        observer(packet)
        await stock(packet, arrival_time_ms)

    hooked._handle_rtp_packet = handle_rtp_packet


def observe_received_rtcp(receiver: RTCRtpReceiver, observer: RtcpHandler) -> None:
    """Let `observer` see each RTCP packet routed to `receiver` (e.g. the far end's sender
    reports) before aiortc handles it."""
    hooked: Any = receiver
    stock = hooked._handle_rtcp_packet

    async def handle_rtcp_packet(packet: AnyRtcpPacket) -> None:
        observer(packet)
        await stock(packet)

    hooked._handle_rtcp_packet = handle_rtcp_packet


def drop_sent_rtp(transport: RTCDtlsTransport, every: int) -> Callable[[], int]:
    """Lose every `every`-th RTP packet `transport` sends (RTCP and everything else pass):
    a lossy uplink for a test's own aiortc peer, below SRTP so the far end sees real loss.
    Returns a function telling how many were dropped so far."""
    hooked: Any = transport
    stock_send_rtp = hooked._send_rtp
    counts = {"rtp": 0, "dropped": 0}

    async def send_rtp(data: bytes) -> None:
        if not is_rtcp(data):
            counts["rtp"] += 1
            if counts["rtp"] % every == 0:
                counts["dropped"] += 1
                return
        await stock_send_rtp(data)

    hooked._send_rtp = send_rtp
    return lambda: counts["dropped"]


@contextlib.contextmanager
def drop_received_rtp(every: int) -> Iterator[Callable[[], int]]:
    """While the block runs, every DTLS transport in this process loses every `every`-th
    RTP packet it receives, after SRTP and before any receiver sees it: a lossy uplink as
    the receiving end meets it. For a server whose peers are other processes (a browser),
    that is the server's side only. Yields a function telling how many were dropped."""
    transport_class: Any = RTCDtlsTransport  # aiortc's private receive step
    stock = transport_class._handle_rtp_data
    received: weakref.WeakKeyDictionary[RTCDtlsTransport, int] = weakref.WeakKeyDictionary()
    counts = {"dropped": 0}

    async def handle_rtp_data(self: RTCDtlsTransport, data: bytes, arrival_time_ms: int) -> None:
        received[self] = received.get(self, 0) + 1
        if received[self] % every == 0:
            counts["dropped"] += 1
            return
        await stock(self, data, arrival_time_ms)

    transport_class._handle_rtp_data = handle_rtp_data
    try:
        yield lambda: counts["dropped"]
    finally:
        transport_class._handle_rtp_data = stock


def ice_connection(pc: RTCPeerConnection) -> aioice.Connection:
    """The aioice connection under a test peer's first transceiver (all of them, bundled)."""
    transport: Any = pc.getTransceivers()[0].sender.transport.transport
    connection: aioice.Connection = transport._connection
    return connection


@contextlib.contextmanager
def lag_sent_stun(
    connection: aioice.Connection, *, requests: float = 0.0, responses: float = 0.0
) -> Iterator[None]:
    """While the block runs, each STUN request `connection` sends (its checks) leaves
    `requests` seconds late and each response (its answers to the far end's checks)
    `responses` seconds late; math.inf drops them. An overloaded peer or a congested uplink,
    as the far end meets it; its media is untouched."""
    loop = asyncio.get_running_loop()
    hooked: list[Any] = list(connection._protocols)  # aioice's private sockets of the peer
    pending: set[asyncio.TimerHandle] = set()

    def lagging(protocol: Any) -> Callable[[aioice.stun.Message, tuple[str, int]], None]:
        stock = protocol.send_stun

        def send_late(message: aioice.stun.Message, addr: tuple[str, int]) -> None:
            if protocol.transport is not None and not protocol.transport.is_closing():
                stock(message, addr)

        def send_stun(message: aioice.stun.Message, addr: tuple[str, int]) -> None:
            is_request = message.message_class == aioice.stun.Class.REQUEST
            delay = requests if is_request else responses
            if delay == 0:
                stock(message, addr)
            elif delay != math.inf:
                pending.add(loop.call_later(delay, send_late, message, addr))

        return send_stun

    for protocol in hooked:
        protocol.send_stun = lagging(protocol)
    try:
        yield
    finally:
        for protocol in hooked:
            del protocol.send_stun  # the class's own again
        for handle in pending:
            handle.cancel()  # nothing leaves after the block, nor after a close
