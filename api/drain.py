"""Graceful drain: what the server does between SIGTERM (or SIGINT) and its exit.

1. At once (in the signal handler): the server is draining. `/readyz` answers 503
   `{"status": "draining"}` so a load balancer stops sending new people here; new `join` and
   `sfu-join` are refused with the error code `server_draining`; REST keeps answering (people
   may still sign in, read or create rooms: that is all stored, not held by this process).
2. One Socket.IO broadcast tells every connected client `server-draining {deadlineSeconds,
   retryAfterSeconds}` (docs/protocol.md).
3. The server waits up to `DRAIN_SECONDS` for every room to empty (signaling presence; an SFU
   session only exists inside a presence, and leaves with it). The wait ends on an event (the
   signaling state calls back when its last room empties), not on a polling sleep.
4. Then every call is closed: the SFU's peer connections (RoomManager.stop), every Engine.IO
   connection (each is told it is closed; socket.io-client then reconnects on its own, to the
   restarted server), every websocket, and the caller stops the HTTP site and the services
   (`api.__main__`: background tasks drained, database client closed, embedded database
   stopped).

Every step after the signal (the broadcast, the wait, each close, the final stop) is bounded,
and the steps after the wait share CLOSE_BUDGET_SECONDS (12 s) between them: none waits
without end on a client that vanished mid-join (a killed bot leaves an Engine.IO connection
whose queue nobody reads, or a websocket that never answers its close). A step that
overruns its bound is cut and the log names it (`drain: step '...' cut ...`). A second
SIGTERM/SIGINT cuts whatever step is running (the wait, as operators expect of a second Ctrl-C,
or a close that hangs) and every step after it gets a short bound (HURRIED_STEP_SECONDS); each
further signal cuts the step then under way. When a step was cut the process exits (status 0)
without waiting for the tasks it left behind, as a stuck task would otherwise hold the
interpreter's exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

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
# How long each Engine.IO connection may take to hand its CLOSE packet to its transport (side
# by side). A connection whose client vanished mid-connect has no writer reading its queue:
# Engine.IO's own `disconnect()` waits for that queue to empty, that is for ever.
SOCKET_FLUSH_SECONDS = 2.0
# Bounds of the other steps. None waits on a client; they only cover a handler of ours (the
# disconnect handlers run inside the broadcast and the closes) stuck on something else.
ANNOUNCE_SECONDS = 5.0
MEDIA_CLOSE_SECONDS = 5.0
SOCKETIO_STOP_SECONDS = 2.0
# After a second signal every step left gets at most this long (more than SOCKET_FLUSH_SECONDS
# and WEBSOCKET_CLOSE_SECONDS, so those steps still end on their own bound and say so).
HURRIED_STEP_SECONDS = 3.0
# What all the steps after the wait (the closes, then the stop of the site and services in
# api.__main__) may take together: the README asks for a stop timeout 15 s above DRAIN_SECONDS.
CLOSE_BUDGET_SECONDS = 12.0
# How long a cut step may take to unwind from its cancellation before the drain goes on anyway.
CANCEL_GRACE_SECONDS = 1.0


class Drain:
    """The draining state and the drain procedure of one server process.

    `seconds` is `Settings.drain_seconds` (DRAIN_SECONDS: 0 to 3600, 0 = close at once).
    Signals reach it through `on_signal` (installed with `loop.add_signal_handler`);
    `api.__main__` awaits `requested()`, then `run(hub)`, then stops the site and services
    through `step` (so a signal cuts that too); `cut_steps` lists the steps that were cut.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._draining = False
        self._started_at: float | None = None
        self._requested = asyncio.Event()
        self._wake = asyncio.Event()
        self._hurry = False
        # Set by every signal after the first: it cuts the step running when it arrives (each
        # step starts with a fresh one).
        self._cut = asyncio.Event()
        self.cut_steps: list[str] = []
        # When the steps after the wait must have ended (CLOSE_BUDGET_SECONDS after it).
        self._close_deadline: float | None = None
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
        else:
            log.info("drain: another signal; cutting the step under way")
        self._hurry = True
        self._wake.set()
        self._cut.set()

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

    async def step(self, name: str, work: Awaitable[Any], seconds: float) -> bool:
        """Run one step of the shutdown for at most `seconds` (at most HURRIED_STEP_SECONDS
        once a second signal came; after the wait, at most what is left of
        CLOSE_BUDGET_SECONDS); a signal arriving meanwhile cuts it. Returns True when the
        step finished (an error it raised is logged, not raised: the shutdown goes on), False
        when it was cut: then it is cancelled and given CANCEL_GRACE_SECONDS to unwind, and
        its name is added to `cut_steps`."""
        if self._hurry:
            seconds = min(seconds, HURRIED_STEP_SECONDS)
        if self._close_deadline is not None:
            seconds = max(0.0, min(seconds, self._close_deadline - self._clock()))
        # Only a signal from now on cuts this step: one that came before already cut the
        # step or the wait it arrived in, and shortened the bound above.
        self._cut = cut = asyncio.Event()
        started = self._clock()
        task = asyncio.ensure_future(work)
        signalled = asyncio.ensure_future(cut.wait())
        try:
            await asyncio.wait(
                (task, signalled), timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            signalled.cancel()
        if task.done():
            if not task.cancelled() and task.exception() is not None:
                log.error("drain: step %r failed", name, exc_info=task.exception())
            return True
        why = "by a signal" if cut.is_set() else f"at its bound of {seconds:.1f} s"
        log.warning("drain: step %r cut %s after %.1f s", name, why, self._clock() - started)
        self.cut_steps.append(name)
        task.cancel()
        await asyncio.wait((task,), timeout=CANCEL_GRACE_SECONDS)
        return False

    async def run(self, hub: SignalingHub) -> str:
        """Tell the clients, wait for the rooms to empty, close every call; each step bounded
        (`step`).

        Returns why the wait ended: "empty" (every room emptied), "deadline" (DRAIN_SECONDS
        passed with people still in rooms) or "skipped" (a second signal). Calls `on_signal`
        itself when the drain was not started by a signal (tests, embedding)."""
        if not self._draining:
            self.on_signal()
        await self.step("announce", self._announce(hub), ANNOUNCE_SECONDS)
        outcome = await self._wait_for_empty_rooms(hub)
        self._close_deadline = self._clock() + CLOSE_BUDGET_SECONDS
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
        late = {"sockets": 0, "websockets": 0}

        async def close_sockets() -> None:
            late["sockets"] = await self._close_sockets(hub)

        async def close_websockets() -> None:
            late["websockets"] = await self._close_websockets()

        # Media first: nobody keeps hearing a room whose signaling is already gone.
        await self.step("close media", hub.services.sfu.stop(), MEDIA_CLOSE_SECONDS)
        media_closed = self._clock()
        await self.step("close sockets", close_sockets(), SOCKET_FLUSH_SECONDS + 1.0)
        sockets_closed = self._clock()
        await self.step("close websockets", close_websockets(), WEBSOCKET_CLOSE_SECONDS + 1.0)
        # Stops Engine.IO's ping task, which would otherwise outlive the web server.
        await self.step("stop socket.io", hub.sio.shutdown(), SOCKETIO_STOP_SECONDS)
        # Where a slow stop spent its time, for the operator reading the log.
        log.info(
            "drain: calls closed in %.2f s (media %.2f s, sockets %.2f s, websockets %.2f s,"
            " %d socket(s) kept their close, %d websocket(s) did not answer)",
            self._clock() - started,
            media_closed - started,
            sockets_closed - media_closed,
            self._clock() - sockets_closed,
            late["sockets"],
            late["websockets"],
        )

    async def _close_sockets(self, hub: SignalingHub) -> int:
        """Close every Engine.IO connection side by side; returns how many did not hand their
        CLOSE packet to a transport within SOCKET_FLUSH_SECONDS (clients that vanished).

        Why not `AsyncServer.disconnect()`: python-engineio's `AsyncSocket.close()` then waits
        for the connection's send queue to empty (`queue.join()`), and a connection whose client
        vanished mid-connect (its websocket handler ended, or never started its writer) has
        nobody reading that queue: the wait never ends. `close(wait=False)` runs the same
        disconnect handlers and queues the same CLOSE packet; the flush is then awaited here,
        with a bound. Each connection's writer sends that packet before the websocket is
        closed, so socket.io-client sees its transport close and reconnects by itself."""
        engine = hub.sio.eio
        sockets = [s for s in list(engine.sockets.values()) if not (s.closed or s.closing)]
        reason = engine.reason.SERVER_DISCONNECT
        if sockets:
            await asyncio.gather(*(s.close(wait=False, reason=reason) for s in sockets))
        # What `AsyncServer.disconnect()` does at its end: no connection is known any more.
        engine.sockets = {}
        flushes = [asyncio.create_task(s.queue.join()) for s in sockets]
        return await _unfinished_after(flushes, SOCKET_FLUSH_SECONDS)

    async def _close_websockets(self) -> int:
        """Close every open websocket side by side; returns how many did not answer in time."""
        closes = [
            asyncio.create_task(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server restarting"))
            for ws in list(self._websockets)
            if not ws.closed
        ]
        return await _unfinished_after(closes, WEBSOCKET_CLOSE_SECONDS)


async def _unfinished_after(tasks: list[asyncio.Task[Any]], seconds: float) -> int:
    """Wait up to `seconds` for `tasks` side by side; cancel the late ones, return how many."""
    if not tasks:
        return 0
    _, late = await asyncio.wait(tasks, timeout=seconds)
    for task in late:
        task.cancel()
    return len(late)


DRAIN = web.AppKey("drain", Drain)
