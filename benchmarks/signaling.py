"""How a bot enters a Gethory room: Socket.IO signaling for the sfu and the mesh media modes.

Both go through the server's real front door (docs/protocol.md): a Socket.IO connection with
`auth: {token}` over the websocket transport, `join {roomId}`, then either `sfu-join {roomId,
sdp}` (sfu rooms: one peer connection to the server) or the seed's mesh events (`add-peer`,
`relay-sdp`, `session-description`: one peer connection per other member).

Every failure a load tester can meet is a `JoinFailed` with a short code: the server's own
error code from a refusing ack (`room_full`, `not_found`, `server_draining`, ...) or from
`connect_error` (`invalid_token`, ...), or `timeout`, `connect_failed` (no Socket.IO
connection), `media_failed` (ICE/DTLS did not come up).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol

import socketio
from aiortc import RTCConfiguration

from benchmarks.witness import MessageTally

ACK_SECONDS = 30.0  # one acknowledged event; a loaded server answers joins within seconds
CONNECT_SECONDS = 20.0  # the Socket.IO handshake
# Leaving is not measured, and happens when a run ends: also on Ctrl-C, which reaches a local
# server as well, so its acks may never come. Disconnecting frees the seat anyway.
LEAVE_SECONDS = 3.0


class JoinFailed(Exception):
    """A bot could not enter its room. `code`: the server's error code, or "timeout",
    "connect_failed", "media_failed"; `message`: one human line."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class MediaBot(Protocol):
    """What signaling needs of a bot (benchmarks.media_bots.ListenerBot / SpeakerBot)."""

    async def offer(self) -> str: ...
    async def accept(self, answer_sdp: str) -> None: ...
    async def connected(self) -> None: ...
    async def close(self) -> None: ...


class RoomSignaling(Protocol):
    slot_switches: int  # `speakers` events that changed this bot's slots (0 where unknown)
    join_sent_at: float | None  # time.monotonic() when `join` was sent

    async def enter(self, bot: Any) -> None: ...
    async def leave(self) -> None: ...


def _client() -> socketio.AsyncClient:
    # handle_sigint=False: Ctrl-C stays with the event loop's owner, so peer connections and
    # servers are cleaned up; reconnection=False: a dropped bot is a measured failure.
    return socketio.AsyncClient(reconnection=False, handle_sigint=False)


class _Socket:
    """A signed-in Socket.IO connection whose acks turn into JoinFailed on refusal."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token
        self.sio = _client()
        self._refusal: dict[str, Any] | None = None
        self.sio.on("connect_error", self._on_connect_error)

    async def _on_connect_error(self, data: Any = None) -> None:
        self._refusal = data if isinstance(data, dict) else {"message": str(data)}

    async def connect(self) -> None:
        try:
            async with asyncio.timeout(CONNECT_SECONDS + 5):
                # wait_timeout: python-socketio gives the namespace's `connect` 1 s by
                # default, which a loaded server's event loop misses: a refusal that is not.
                await self.sio.connect(
                    self.base_url,
                    auth={"token": self.token},
                    transports=["websocket"],
                    wait_timeout=CONNECT_SECONDS,
                )
        except TimeoutError:
            raise JoinFailed(
                "timeout", f"no Socket.IO connection within {CONNECT_SECONDS:g} s"
            ) from None
        except socketio.exceptions.ConnectionError as error:
            refusal = self._refusal or {}
            code = str((refusal.get("data") or {}).get("code") or "connect_failed")
            message = str(refusal.get("message") or error)
            raise JoinFailed(code, message) from None

    async def call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        try:
            ack = await self.sio.call(event, data, timeout=ACK_SECONDS)
        except socketio.exceptions.TimeoutError:
            raise JoinFailed("timeout", f"`{event}` unanswered for {ACK_SECONDS:g} s") from None
        except socketio.exceptions.SocketIOError as error:
            raise JoinFailed("connect_failed", f"`{event}`: {error}") from None
        if not isinstance(ack, dict) or not ack.get("ok"):
            refusal = ack.get("error") if isinstance(ack, dict) else None
            refusal = refusal if isinstance(refusal, dict) else {}
            raise JoinFailed(str(refusal.get("code", "refused")), str(refusal.get("message", ack)))
        return ack

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()

    async def leave(self, room_id: str) -> None:
        """`leave` the room, then disconnect, each given LEAVE_SECONDS: disconnecting alone
        frees the seat on the server, and a gone server answers neither."""
        if self.sio.connected:
            with contextlib.suppress(JoinFailed, TimeoutError):
                async with asyncio.timeout(LEAVE_SECONDS):
                    await self.call("leave", {"roomId": room_id})
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LEAVE_SECONDS):
                await self.close()


class GethorySfuSignaling:
    """One bot in a Gethory sfu room: `join`, then `sfu-join` with the bot's offer.

    `media=False`: signaling only, `join` and nothing else (no `sfu-join`, no peer
    connection), to measure what signaling alone costs the server; the join ends at its
    ack (`join_acked_at`; the server sends `room-state` before it). `tally`: every event
    received is counted in it by name (benchmarks.witness)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        room_id: str,
        *,
        media: bool = True,
        tally: MessageTally | None = None,
    ) -> None:
        self.room_id = room_id
        self.media = media
        self.slot_switches = 0
        self.join_sent_at: float | None = None
        self.join_acked_at: float | None = None
        self.tally = tally
        self._socket = _Socket(base_url, token)
        self._slots: list[Any] | None = None
        self._socket.sio.on("speakers", self._on_speakers)
        if tally is not None:
            # python-socketio calls the catch-all for events without a handler of their own.
            self._socket.sio.on("*", self._on_any)

    async def _on_any(self, event: str, *data: Any) -> None:
        assert self.tally is not None
        self.tally.count(event, *data)

    async def _on_speakers(self, data: Any) -> None:
        if self.tally is not None:
            self.tally.count("speakers", data)
        slots = data.get("slots") if isinstance(data, dict) else None
        if not isinstance(slots, list):
            return
        if self._slots is not None and slots != self._slots:
            self.slot_switches += sum(
                1 for old, new in zip(self._slots, slots, strict=False) if old != new
            )
        self._slots = slots

    async def enter(self, bot: MediaBot | None) -> None:
        """Connect, join, negotiate and wait for ICE+DTLS (signaling only: connect and join);
        raises JoinFailed."""
        await self._socket.connect()
        self.join_sent_at = time.monotonic()
        await self._socket.call("join", {"roomId": self.room_id})
        self.join_acked_at = time.monotonic()
        if not self.media or bot is None:
            return
        offer = await bot.offer()
        ack = await self._socket.call("sfu-join", {"roomId": self.room_id, "sdp": offer})
        await bot.accept(str(ack["sdp"]))
        await _media_up(bot.connected)

    async def call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        """Send one acknowledged event (e.g. `invite-to-speak`, `accept-speak`); its ack.
        Raises JoinFailed with the server's error code on a refusal."""
        return await self._socket.call(event, data)

    async def leave(self) -> None:
        """Leave the room (the server frees the media connection) and disconnect, within
        about 2 × LEAVE_SECONDS whatever the server does."""
        await self._socket.leave(self.room_id)


async def _media_up(connected: Callable[[], Any]) -> None:
    try:
        await connected()
    except (RuntimeError, TimeoutError) as error:
        raise JoinFailed("media_failed", str(error) or "ICE/DTLS did not come up") from None


class MeshPeerFactory(Protocol):
    """Makes one peer connection of a mesh bot toward `peer_id` (a bot with offer/answer);
    `offering`: this side makes the offer (the newcomer), else it answers."""

    def __call__(self, peer_id: str, *, offering: bool) -> Any: ...


class GethoryMeshSignaling:
    """One participant of a Gethory mesh room: one peer connection per other member, made by
    `factory` (each a bot sending its clip and reading headers). The newcomer offers to every
    member (`add-peer` with `createOffer: true`); the members answer (docs/protocol.md)."""

    def __init__(
        self, base_url: str, token: str, room_id: str, rtc: RTCConfiguration | None = None
    ) -> None:
        self.room_id = room_id
        self.slot_switches = 0
        self.join_sent_at: float | None = None
        self.rtc = rtc
        self.peers: dict[str, Any] = {}
        self._factory: MeshPeerFactory | None = None
        self._socket = _Socket(base_url, token)
        self._tasks: set[asyncio.Task[None]] = set()
        self.failures: list[JoinFailed] = []
        sio = self._socket.sio
        sio.on("add-peer", self._on_add_peer)
        sio.on("session-description", self._on_session_description)
        sio.on("remove-peer", self._on_remove_peer)

    async def enter(self, factory: MeshPeerFactory) -> None:
        """Connect and join; the peer connections follow from `add-peer` in the background."""
        self._factory = factory
        await self._socket.connect()
        self.join_sent_at = time.monotonic()
        await self._socket.call("join", {"roomId": self.room_id})

    def _peer(self, peer_id: str, *, offering: bool) -> Any:
        if peer_id not in self.peers:
            assert self._factory is not None
            self.peers[peer_id] = self._factory(peer_id, offering=offering)
        return self.peers[peer_id]

    @property
    def connected_peers(self) -> int:
        return sum(1 for bot in self.peers.values() if bot.pc.connectionState == "connected")

    def _spawn(self, job: Any) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_add_peer(self, data: dict[str, Any]) -> None:
        if data.get("createOffer"):
            self._spawn(self._offer(str(data["peerId"])))

    async def _offer(self, peer_id: str) -> None:
        bot = self._peer(peer_id, offering=True)
        try:
            sdp = await bot.offer()
            await self._socket.call(
                "relay-sdp",
                {"peerId": peer_id, "sessionDescription": {"type": "offer", "sdp": sdp}},
            )
        except JoinFailed as failure:
            self.failures.append(failure)
        except Exception as error:  # a bot's own failure: counted, not lost in the task
            self.failures.append(JoinFailed("error", repr(error)))

    async def _on_session_description(self, data: dict[str, Any]) -> None:
        self._spawn(self._describe(str(data["peerId"]), data["sessionDescription"]))

    async def _describe(self, peer_id: str, description: dict[str, Any]) -> None:
        bot = self._peer(peer_id, offering=description["type"] != "offer")
        try:
            if description["type"] == "offer":
                sdp = await bot.answer(str(description["sdp"]))
                await self._socket.call(
                    "relay-sdp",
                    {"peerId": peer_id, "sessionDescription": {"type": "answer", "sdp": sdp}},
                )
            else:
                await bot.accept(str(description["sdp"]))
            await _media_up(bot.connected)
        except JoinFailed as failure:
            self.failures.append(failure)
        except Exception as error:  # a bot's own failure: counted, not lost in the task
            self.failures.append(JoinFailed("error", repr(error)))

    async def _on_remove_peer(self, data: dict[str, Any]) -> None:
        bot = self.peers.pop(str(data.get("peerId")), None)
        if bot is not None:
            self._spawn(bot.close())

    async def leave(self) -> None:
        await self._socket.leave(self.room_id)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*(bot.close() for bot in self.peers.values()), return_exceptions=True)
        self.peers.clear()
