"""A scripted stand-in for the original Gethory React client (its `useWebRTCVer2` hook), with
real aiortc audio, speaking only what that client speaks and reading only what it reads:

- people are keyed by `add-peer.user._id`: the list of people shown (`shown`: `_id` → muted)
  and the audio element of each (`audio`: `_id` → probe; a later stream for the same key
  replaces the earlier one, as a later `srcObject` does);
- `remove-peer` closes the connection of `peerId` and drops from the list whoever has
  `_id == userId` (their audio element goes with their tile);
- mute state comes only from `mute-info.isMute` and the `mute`/`unmute` echoes
  (`{peerId, userId}`); its own tile changes only on an echo. Everyone starts shown muted;
- it mutes itself on arrival (`mute {roomId, userId}`), sends `mute-info {userId, roomId,
  isMute}` with its own shown state whenever a peer's track arrives, and on its own changes
  sends `mute`/`unmute`, or `mute-info` (`set_muted(..., via_mute_info=True)`).

Socket.IO handlers run as concurrent tasks here as in a browser's event loop: whatever a
handler records, it records before its first await, so events are applied in arrival order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from sfu.config import RtcConfig
from tests.people import Person
from tests.rtc_audio import FrequencyProbe, ToneTrack
from tests.sockets import SocketClient

TIMEOUT = 15.0
# What the original client's tiles show: `_id` (None when the server sent none) → muted.
Shown = dict[str | None, Any]


async def settled(client: SocketClient) -> None:
    """One acknowledged round trip (a `leave` of a room it is not in): whatever the server
    sent this client before is in its queues now."""
    ack = await client.call("leave", {"roomId": "rm_settledAAAAAAAAA"})
    assert ack["ok"] or ack["error"]["code"] == "not_in_room", ack


class OriginalClient:
    def __init__(self, person: Person, socket: SocketClient, tone: float, rtc: RtcConfig):
        self.person = person
        self.socket = socket
        self.tone = tone
        self._rtc = rtc
        self.room_id = ""
        self.connections: dict[str, RTCPeerConnection] = {}
        self.connected: set[str] = set()
        # peerId → the `user` of its add-peer (the hook's closure over `remoteUser`).
        self._users: dict[str, dict[str, Any]] = {}
        self.shown: Shown = {person.user_id: True}
        self.audio: dict[str | None, FrequencyProbe] = {}
        # Acks of what it sent on its own (the real client ignores them; tests read them).
        self.refusals: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        for event, handler in (
            ("add-peer", self._on_add_peer),
            ("session-description", self._on_session_description),
            ("ice-candidate", self._on_ice_candidate),
            ("remove-peer", self._on_remove_peer),
            ("mute-info", self._on_mute_info),
            ("mute", self._on_mute_echo(True)),
            ("unmute", self._on_mute_echo(False)),
        ):
            socket.sio.on(event, handler)

    @property
    def user_id(self) -> str:
        return self.person.user_id

    # --- what the user does -------------------------------------------------------------

    async def join(self, room_id: str) -> None:
        """`join {roomId, user}`, then the hook's first `mute` (it starts muted)."""
        self.room_id = room_id
        me = {"_id": self.user_id, "name": self.person.name}
        ack = await self.socket.call("join", {"roomId": room_id, "user": me})
        assert ack["ok"], ack
        await self.set_muted(True)

    async def set_muted(self, muted: bool, via_mute_info: bool = False) -> None:
        if via_mute_info:
            await self._send_mute_info(muted)
        else:
            event = "mute" if muted else "unmute"
            await self._send(event, {"roomId": self.room_id, "userId": self.user_id})

    async def leave(self) -> None:
        await self._send("leave", {"roomId": self.room_id})

    # --- what the test waits for ----------------------------------------------------------

    async def hears(self, someone: OriginalClient) -> None:
        """Until the audio element of `someone`'s tile plays their tone."""
        await self._until(lambda: someone.user_id in self.audio, f"audio of {someone.person.name}")
        await self.audio[someone.user_id].wait_for_frequency(someone.tone, TIMEOUT)

    async def sees(self, expected: Shown) -> None:
        """Until the tiles are exactly `expected` (`_id` → muted)."""
        await self._until(lambda: self.shown == expected, f"tiles {expected}")

    async def connected_to(self, count: int) -> None:
        await self._until(lambda: len(self.connected) >= count, f"{count} connections")

    async def quiet(self) -> None:
        """Until what it sent on its own (track-time `mute-info`) has been acknowledged."""
        while self._tasks:
            await asyncio.gather(*self._tasks)

    async def _until(self, done: Callable[[], bool], what: str) -> None:
        try:
            async with asyncio.timeout(TIMEOUT), self._changed:
                await self._changed.wait_for(done)
        except TimeoutError:
            raise AssertionError(
                f"{self.person.name} waited for {what}; tiles {self.shown}, "
                f"audio {sorted(map(str, self.audio))}, refusals {self.refusals}"
            ) from None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # --- the hook's handlers --------------------------------------------------------------

    async def _on_add_peer(self, data: dict[str, Any]) -> None:
        peer_id = data["peerId"]
        self._users[peer_id] = data["user"]
        pc = self._connection(peer_id)
        if data["createOffer"]:
            # aiortc gathers every candidate before setLocalDescription returns: no trickle.
            await pc.setLocalDescription(await pc.createOffer())
            await self._send_description(peer_id, pc)

    async def _on_session_description(self, data: dict[str, Any]) -> None:
        peer_id, description = data["peerId"], data["sessionDescription"]
        pc = self._connection(peer_id)
        await pc.setRemoteDescription(
            RTCSessionDescription(description["sdp"], description["type"])
        )
        if description["type"] == "offer":
            await pc.setLocalDescription(await pc.createAnswer())
            await self._send_description(peer_id, pc)

    async def _on_ice_candidate(self, data: dict[str, Any]) -> None:
        """aiortc's candidates travel inside the SDP; no trickled ones are expected."""

    async def _on_remove_peer(self, data: dict[str, Any]) -> None:
        pc = self.connections.pop(data["peerId"], None)
        self.connected.discard(data["peerId"])
        user_id = data.get("userId")
        # `clients.filter(c => c._id !== userId)`: the tile and its <audio> go together.
        self.shown = {key: muted for key, muted in self.shown.items() if key != user_id}
        probe = self.audio.pop(user_id, None)
        await self._notify()
        if probe is not None:
            await probe.stop()
        if pc is not None:
            await pc.close()

    async def _on_mute_info(self, data: dict[str, Any]) -> None:
        self._show_mute(data.get("userId"), data.get("isMute"))
        await self._notify()

    def _on_mute_echo(self, muted: bool) -> Callable[[dict[str, Any]], Any]:
        async def on_echo(data: dict[str, Any]) -> None:
            self._show_mute(data.get("userId"), muted)
            await self._notify()

        return on_echo

    def _show_mute(self, user_id: Any, muted: Any) -> None:
        """`handleSetMute`: only a tile already shown changes (found by `_id`)."""
        if user_id in self.shown:
            self.shown[user_id] = muted

    def _on_track(self, peer_id: str, track: MediaStreamTrack) -> None:
        """`ontrack`: add the tile (shown muted) if new, play the stream in its <audio>,
        and tell the room its own shown mute state."""
        key = self._users.get(peer_id, {}).get("_id")
        self.shown.setdefault(key, True)
        replaced = self.audio.get(key)
        self.audio[key] = FrequencyProbe(track)
        if replaced is not None:
            self._spawn(replaced.stop())
        self._spawn(self._send_mute_info(self.shown.get(self.user_id)))
        self._spawn(self._notify())

    def _on_connection_state(self, peer_id: str, pc: RTCPeerConnection) -> None:
        if pc.connectionState == "connected":
            self.connected.add(peer_id)
            self._spawn(self._notify())

    # --- plumbing ---------------------------------------------------------------------------

    def _connection(self, peer_id: str) -> RTCPeerConnection:
        if peer_id not in self.connections:
            pc = RTCPeerConnection(self._rtc.rtc_configuration())
            pc.addTrack(ToneTrack(self.tone))
            pc.on("track", lambda track: self._on_track(peer_id, track))
            pc.on("connectionstatechange", lambda: self._on_connection_state(peer_id, pc))
            self.connections[peer_id] = pc
        return self.connections[peer_id]

    async def _send_description(self, peer_id: str, pc: RTCPeerConnection) -> None:
        local = pc.localDescription
        description = {"type": local.type, "sdp": local.sdp}
        await self._send("relay-sdp", {"peerId": peer_id, "sessionDescription": description})

    async def _send_mute_info(self, muted: Any) -> None:
        payload = {"userId": self.user_id, "roomId": self.room_id, "isMute": muted}
        await self._send("mute-info", payload)

    async def _send(self, event: str, data: dict[str, Any]) -> None:
        ack = await self.socket.call(event, data)
        if not ack.get("ok"):
            self.refusals.append({"event": event, **ack})

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for probe in self.audio.values():
            await probe.stop()
        for pc in self.connections.values():
            await pc.close()
        self.connections.clear()
