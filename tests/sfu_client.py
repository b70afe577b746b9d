"""An aiortc participant of an sfu room: one tone up, N slots down, each slot probed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtp import AnyRtcpPacket, RtcpSrPacket, RtpPacket

from sfu.config import RtcConfig
from tests.rtc_audio import FrequencyProbe, ToneTrack
from tests.rtc_probes import drop_sent_rtp, observe_received_rtcp, observe_received_rtp
from tests.sockets import SocketClient


class SfuClient:
    def __init__(
        self,
        socket: SocketClient,
        rtc: RtcConfig,
        slots: int,
        frequency: float | None = None,
        amplitude: float = 0.5,
    ) -> None:
        self.socket = socket
        self.frequency = frequency
        self.pc = RTCPeerConnection(rtc.rtc_configuration())
        self.tone = ToneTrack(frequency, amplitude) if frequency is not None else None
        self.microphone = (
            self.pc.addTransceiver(self.tone, direction="sendonly") if self.tone else None
        )
        self._slots = [self.pc.addTransceiver("audio", direction="recvonly") for _ in range(slots)]
        self.probes: list[FrequencyProbe] = []
        # Per slot: the RTP sequence numbers received, in arrival order.
        self.sequence_numbers: list[list[int]] = [[] for _ in self._slots]
        # Per slot: (wall-clock arrival, RTP timestamp) of each packet, in arrival order.
        self.arrivals: list[list[tuple[float, int]]] = [[] for _ in self._slots]
        # Per slot: (wall-clock arrival, packet) of each RTCP sender report of the server.
        self.sender_reports: list[list[tuple[float, RtcpSrPacket]]] = [[] for _ in self._slots]
        for index, transceiver in enumerate(self._slots):
            observe_received_rtp(transceiver.receiver, self._recorder(index))
            observe_received_rtcp(transceiver.receiver, self._report_recorder(index))
        self.connected = asyncio.Event()
        self.pc.on("connectionstatechange", self._on_state)

    def _recorder(self, index: int) -> Callable[[RtpPacket], None]:
        def record(packet: RtpPacket) -> None:
            self.sequence_numbers[index].append(packet.sequence_number)
            self.arrivals[index].append((time.time(), packet.timestamp))

        return record

    def _report_recorder(self, index: int) -> Callable[[AnyRtcpPacket], None]:
        def record(packet: AnyRtcpPacket) -> None:
            if isinstance(packet, RtcpSrPacket):
                self.sender_reports[index].append((time.time(), packet))

        return record

    def lose_every(self, every: int) -> Callable[[], int]:
        """Drop every `every`-th RTP packet of the microphone before it leaves (a lossy
        uplink); returns how many were dropped so far."""
        assert self.microphone is not None
        return drop_sent_rtp(self.microphone.sender.transport, every)

    async def stats(self, kind: str) -> list[Any]:
        """This connection's `getStats()` entries of one type (e.g. "remote-inbound-rtp")."""
        return [s for s in (await self.pc.getStats()).values() if s.type == kind]

    def _on_state(self) -> None:
        if self.pc.connectionState == "connected":
            self.connected.set()

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def join(self, room_id: str) -> dict[str, Any]:
        ack = await self.socket.call("sfu-join", {"roomId": room_id, "sdp": await self.offer()})
        assert ack["ok"], ack
        await self.pc.setRemoteDescription(RTCSessionDescription(ack["sdp"], "answer"))
        self.probes = [FrequencyProbe(t.receiver.track) for t in self._slots]
        await asyncio.wait_for(self.connected.wait(), 10)
        return ack

    async def wait_for_slot(self, index: int, frequency: float, timeout: float = 10.0) -> None:
        await self.probes[index].wait_for_frequency(frequency, timeout)

    async def close(self) -> None:
        for probe in self.probes:
            await probe.stop()
        await self.pc.close()
