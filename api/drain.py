"""Graceful drain: what the server does between SIGTERM (or SIGINT) and its exit.

1. At once (in the signal handler): the server is draining. `/readyz` answers 503
   `{"status": "draining"}` so a load balancer stops sending new people here; new `join` and
   `sfu-join` are refused with the error code `server_draining`; REST keeps answering (people
   may still sign in, read or create rooms: that is all stored, not held by this process).
2. One Socket.IO broadcast tells every connected client `server-draining {deadlineSeconds,
   retryAfterSeconds}` (docs/protocol.md).
3. The server waits up to `DRAIN_SECONDS` for every room to empty (signaling presence; an SFU
   session only exists inside a presence, and leaves with it). The wait ends on an event (the
   signaling state calls back when its last room empties), not on a polling sleep. A second
   SIGTERM/SIGINT ends the wait at once, as operators expect of a second Ctrl-C.
4. Then every call is closed: the SFU's peer connections (RoomManager.stop), every Engine.IO
   transport (each connection is told it is closed; socket.io-client then reconnects on its own,
   to the restarted server), and the caller stops the HTTP site and the services
   (`api.__main__`: background tasks drained, database client closed, embedded database
   stopped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import WSCloseCode, web

from api.errors import ServerDraining

if TYPE_CHECKING:
    from api.signaling.hub import SignalingHub

log = logging.getLogger(__name__)

# How long a client should wait, beyond the drain's deadline, before it expects a restarted
# server: a hint only (socket.io-client retries on its own, with back-off).
RESTART_HINT_SECONDS = 5
# A safety net, not the signal: the wait wakes on the signaling state's "all rooms empty" call
# and on a second signal; this re-check only covers an SFU session still being set up when its
# presence left (it is dropped when its negotiation returns).
RECHECK_SECONDS = 1.0
# How long the closing handshake of each websocket may take (they run side by side). A client
# that vanished does not answer; aiohttp then cancels its handler at the runner's shutdown.
WEBSOCKET_CLOSE_SECONDS = 2.0


class Drain:
    """The draining state and the drain procedure of one server process.

    `seconds` is `Settings.drain_seconds` (DRAIN_SECONDS: 0 to 3600, 0 = close at once).
    Signals reach it through `on_signal` (installed with `loop.add_signal_handler`);
    `api.__main__` awaits `requested()`, then `run(hub)`, then stops the site and services.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._draining = False
        self._started_at: float | None = None
        self._requested = asyncio.Event()
        self._wake = asyncio.Event()
        self._hurry = False
        # Open websockets (Engine.IO's transports), seen as their responses are prepared.
        self._websockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    @property
    def draining(self) -> bool:
        """True from the first SIGTERM/SIGINT on (never goes back: the process is ending)."""
        return self._draining

    def join_refusal(self) -> ServerDraining | None:
        """What a `join` or `sfu-join` gets while draining (the hub's `join_refusal`)."""
        if not self._draining:
            return None
        return ServerDraining(math.ceil(self.remaining_seconds()) + RESTART_HINT_SECONDS)

    def on_signal(self) -> None:
        """The first call starts the drain; a later one skips what is left of the wait."""
        if not self._draining:
            self._draining = True
            self._started_at = self._clock()
            log.info("drain: signal received; refusing new joins, readyz answers 503")
            self._requested.set()
            return
        if not self._hurry:
            log.info("drain: second signal; closing the remaining calls now")
        self._hurry = True
        self._wake.set()

    async def track_websocket(self, request: web.Request, response: web.StreamResponse) -> None:
        """An `on_response_prepare` handler: remembers each websocket, to close it at the end.

        Why: Engine.IO's `disconnect` only sends its CLOSE packet; the websocket ends when the
        client answers, and once aiohttp's runner starts its shutdown it no longer reads what
        clients send, so a close that had not come back yet held the handler (and the
        process) until the runner's shutdown timeout cancelled it."""
        if isinstance(response, web.WebSocketResponse):
            self._websockets.add(response)

    async def requested(self) -> None:
        """Returns once the drain has been asked for (the first signal)."""
        await self._requested.wait()

    def remaining_seconds(self) -> float:
        """Seconds left of the wait (the full DRAIN_SECONDS before the drain starts)."""
        if self._started_at is None:
            return self.seconds
        return max(0.0, self._started_at + self.seconds - self._clock())

    async def run(self, hub: SignalingHub) -> str:
        """Tell the clients, wait for the rooms to empty, close every call.

        Returns why the wait ended: "empty" (every room emptied), "deadline" (DRAIN_SECONDS
        passed with people still in rooms) or "skipped" (a second signal). Calls `on_signal`
        itself when the drain was not started by a signal (tests, embedding)."""
        if not self._draining:
            self.on_signal()
        await self._announce(hub)
        outcome = await self._wait_for_empty_rooms(hub)
        rooms, connections = hub.state.room_count(), hub.state.connection_count()
        log.info(
            "drain: wait ended (%s) after %.1f s; closing %d room(s), %d connection(s)",
            outcome,
            self.seconds - self.remaining_seconds(),
            rooms,
            connections,
        )
        await self._close_calls(hub)
        return outcome

    # --- steps ----------------------------------------------------------------------------

    async def _announce(self, hub: SignalingHub) -> None:
        remaining = self.remaining_seconds()
        notice = {
            "deadlineSeconds": round(remaining, 1),
            "retryAfterSeconds": math.ceil(remaining) + RESTART_HINT_SECONDS,
        }
        # One emit to every connection of the namespace: python-socketio encodes it once.
        await hub.sio.emit("server-draining", notice, namespace="/")

    async def _wait_for_empty_rooms(self, hub: SignalingHub) -> str:
        state, sfu = hub.state, hub.services.sfu
        state.on_all_rooms_empty(self._wake.set)
        while True:
            if state.room_count() == 0 and sfu.participant_count() == 0:
                return "empty"
            if self._hurry:
                return "skipped"
            remaining = self.remaining_seconds()
            if remaining <= 0:
                return "deadline"
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(remaining, RECHECK_SECONDS))

    async def _close_calls(self, hub: SignalingHub) -> None:
        started = self._clock()
        # Media first: nobody keeps hearing a room whose signaling is already gone.
        await hub.services.sfu.stop()
        media_closed = self._clock()
        engine = hub.sio.eio
        if engine.sockets:
            # Closes each transport: the disconnect handlers take the connection out of its
            # room; socket.io-client sees its transport close and reconnects by itself.
            await engine.disconnect()
        sockets_closed = self._clock()
        late = await self._close_websockets()
        # Stops Engine.IO's ping task, which would otherwise outlive the web server.
        await hub.sio.shutdown()
        # Where a slow stop spent its time, for the operator reading the log.
        log.info(
            "drain: calls closed in %.2f s (media %.2f s, sockets %.2f s, websockets %.2f s,"
            " %d websocket(s) did not answer)",
            self._clock() - started,
            media_closed - started,
            sockets_closed - media_closed,
            self._clock() - sockets_closed,
            late,
        )

    async def _close_websockets(self) -> int:
        """Close every open websocket side by side; returns how many did not answer in time."""
        closes = [
            asyncio.create_task(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server restarting"))
            for ws in list(self._websockets)
            if not ws.closed
        ]
        if not closes:
            return 0
        _, late = await asyncio.wait(closes, timeout=WEBSOCKET_CLOSE_SECONDS)
        for close in late:
            close.cancel()
        return len(late)


DRAIN = web.AppKey("drain", Drain)
