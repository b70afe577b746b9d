"""An aiortc participant of an sfu room: one tone up, N slots down, each slot probed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtp import RtpPacket

from sfu.aiortc_hooks import observe_received_rtp
from sfu.config import RtcConfig
from tests.rtc_audio import FrequencyProbe, ToneTrack
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
        if self.tone is not None:
            self.pc.addTransceiver(self.tone, direction="sendonly")
        self._slots = [self.pc.addTransceiver("audio", direction="recvonly") for _ in range(slots)]
        self.probes: list[FrequencyProbe] = []
        # Per slot: the RTP sequence numbers received, in arrival order.
        self.sequence_numbers: list[list[int]] = [[] for _ in self._slots]
        for index, transceiver in enumerate(self._slots):
            observe_received_rtp(transceiver.receiver, self._recorder(index))
        self.connected = asyncio.Event()
        self.pc.on("connectionstatechange", self._on_state)

    def _recorder(self, index: int) -> Callable[[RtpPacket], None]:
        def record(packet: RtpPacket) -> None:
            self.sequence_numbers[index].append(packet.sequence_number)

        return record

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
