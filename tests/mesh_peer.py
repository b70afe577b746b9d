"""An aiortc participant of a mesh room that speaks only the documented Socket.IO events."""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from sfu.config import RtcConfig
from tests.rtc_audio import FrequencyProbe, ToneTrack
from tests.sockets import SocketClient


class MeshPeer:
    """Sends a tone to every other participant and listens to each of them."""

    def __init__(self, socket: SocketClient, frequency: float, rtc: RtcConfig) -> None:
        self.socket = socket
        self.frequency = frequency
        self._rtc = rtc
        self.connections: dict[str, RTCPeerConnection] = {}
        self.probes: dict[str, FrequencyProbe] = {}
        self._heard: dict[str, asyncio.Event] = {}
        self.dropped: asyncio.Queue[str] = asyncio.Queue()
        socket.sio.on("add-peer", self._on_add_peer)
        socket.sio.on("session-description", self._on_session_description)
        socket.sio.on("ice-candidate", self._on_ice_candidate)
        socket.sio.on("remove-peer", self._on_remove_peer)

    def _connection(self, peer_id: str) -> RTCPeerConnection:
        if peer_id not in self.connections:
            pc = RTCPeerConnection(self._rtc.rtc_configuration())
            pc.addTrack(ToneTrack(self.frequency))
            self._heard.setdefault(peer_id, asyncio.Event())

            @pc.on("track")
            def on_track(track: MediaStreamTrack) -> None:
                self.probes[peer_id] = FrequencyProbe(track)
                self._heard[peer_id].set()

            self.connections[peer_id] = pc
        return self.connections[peer_id]

    async def _on_add_peer(self, data: dict[str, Any]) -> None:
        pc = self._connection(data["peerId"])
        if data["createOffer"]:
            # aiortc gathers every candidate before setLocalDescription returns: no trickle.
            await pc.setLocalDescription(await pc.createOffer())
            await self._send_description(data["peerId"], pc)

    async def _on_session_description(self, data: dict[str, Any]) -> None:
        pc = self._connection(data["peerId"])
        description = data["sessionDescription"]
        await pc.setRemoteDescription(
            RTCSessionDescription(description["sdp"], description["type"])
        )
        if description["type"] == "offer":
            await pc.setLocalDescription(await pc.createAnswer())
            await self._send_description(data["peerId"], pc)

    async def _on_ice_candidate(self, data: dict[str, Any]) -> None:
        """Candidates travel inside the SDP with aiortc; trickled ones are not expected."""

    async def _on_remove_peer(self, data: dict[str, Any]) -> None:
        pc = self.connections.pop(data["peerId"], None)
        probe = self.probes.pop(data["peerId"], None)
        if probe is not None:
            await probe.stop()
        if pc is not None:
            await pc.close()
        self.dropped.put_nowait(data["peerId"])

    async def _send_description(self, peer_id: str, pc: RTCPeerConnection) -> None:
        local = pc.localDescription
        ack = await self.socket.call(
            "relay-sdp",
            {"peerId": peer_id, "sessionDescription": {"type": local.type, "sdp": local.sdp}},
        )
        assert ack["ok"], ack

    async def wait_to_hear(self, peer_id: str, frequency: float, timeout: float = 15.0) -> None:
        self._heard.setdefault(peer_id, asyncio.Event())
        await asyncio.wait_for(self._heard[peer_id].wait(), timeout)
        await self.probes[peer_id].wait_for_frequency(frequency, timeout)

    async def close(self) -> None:
        for probe in self.probes.values():
            await probe.stop()
        for pc in self.connections.values():
            await pc.close()
        self.connections.clear()
