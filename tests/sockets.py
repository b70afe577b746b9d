"""A python-socketio client for tests: every server event lands in a queue to await."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import socketio

SERVER_EVENTS = (
    "room-state",
    "participant-joined",
    "participant-left",
    "add-peer",
    "remove-peer",
    "ice-candidate",
    "session-description",
    "mute-info",
    "mute",
    "unmute",
    "room-closed",
    "room-updated",
    "removed-from-room",
    "replaced",
    "session-ended",
    "speakers",
    "sfu-failed",
    "audience-update",
    "role-changed",
    "hand-raised",
    "raised-hands",
    "speak-invite",
    "speak-invite-ended",
    "speak-invite-answered",
)


class SocketClient:
    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: defaultdict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.disconnected = asyncio.Event()
        self.peer_id = ""
        self.refusal: Any = None
        for event in SERVER_EVENTS:
            self.sio.on(event, self._recorder(event))
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("connect_error", self._on_connect_error)

    def _recorder(self, event: str) -> Any:
        async def record(data: Any = None) -> None:
            self.events[event].put_nowait(data)

        return record

    async def _on_connect_error(self, data: Any = None) -> None:
        self.refusal = data

    async def _on_disconnect(self, *_: Any) -> None:
        self.disconnected.set()

    async def connect(self, base_url: str, token: str | None, **kwargs: Any) -> None:
        auth = {"token": token} if token is not None else None
        await self.sio.connect(
            base_url, auth=auth, transports=["websocket"], wait_timeout=10, **kwargs
        )
        self.peer_id = self.sio.get_sid() or ""

    async def call(self, event: str, data: Any = None) -> dict[str, Any]:
        ack: dict[str, Any] = await self.sio.call(event, data, timeout=10)
        return ack

    async def next(self, event: str, timeout: float = 10.0) -> Any:
        return await asyncio.wait_for(self.events[event].get(), timeout)

    def pending(self, event: str) -> int:
        return self.events[event].qsize()

    async def join(self, room_id: str) -> dict[str, Any]:
        ack = await self.call("join", {"roomId": room_id})
        assert ack["ok"], ack
        state: dict[str, Any] = await self.next("room-state")
        return state

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        # A refused client keeps its HTTP session open; close it too.
        http = getattr(self.sio.eio, "http", None)
        if http is not None and not http.closed:
            await http.close()
