"""Where Socket.IO meets aiohttp: the server, the JSON codec and the route, hardened against
client bytes.

python-engineio lets two kinds of client bytes escape its websocket loop as exceptions: a
frame whose first character is not a packet type digit (`int()` fails), and JSON nested deep
enough to raise RecursionError (it catches only ValueError). Either ended in a traceback in
our log and left the Engine.IO session registered until its ping timed out. The codec turns
RecursionError into the ValueError the libraries expect, and the route closes the session of
any request whose handling raised, with one short line in the client-fault log.

python-socketio looks an event's name up in a dict, so a name that is not a string (`42[{}]`)
raised TypeError in a task nobody awaited (a traceback per frame); `SignalingServer` answers
it like any unknown event. It also gives a new connection `CONNECT_DEADLINE_SECONDS` to
connect the Socket.IO namespace (sign in), so an anonymous Engine.IO session cannot be held
open forever by answering pings.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import socketio
from aiohttp import web

from api.signaling.client_fault_log import ClientFaultLog

log = logging.getLogger(__name__)


CONNECT_DEADLINE_SECONDS = 10.0
NAMESPACE = "/"


class SignalingServer(socketio.AsyncServer):  # type: ignore[misc]  # untyped library
    """python-socketio's server with two guards on its private dispatch (pinned exactly)."""

    async def _trigger_event(self, event: Any, namespace: str, *args: Any) -> Any:
        # "*" names python-socketio's catch-all handler, which takes other arguments.
        if not isinstance(event, str) or event == "*":
            return {
                "ok": False,
                "error": {"code": "unknown_event", "message": "There is no such event."},
            }
        return await super()._trigger_event(event, namespace, *args)

    async def _handle_eio_connect(self, eio_sid: str, environ: Any) -> Any:
        result = await super()._handle_eio_connect(eio_sid, environ)
        loop = asyncio.get_running_loop()
        loop.call_later(CONNECT_DEADLINE_SECONDS, self._connected_or_dropped, eio_sid)
        return result

    def _connected_or_dropped(self, eio_sid: str) -> None:
        if eio_sid in self.environ and self.manager.sid_from_eio_sid(eio_sid, NAMESPACE) is None:
            task = asyncio.ensure_future(self.eio.disconnect(eio_sid))
            _DROPS.add(task)
            task.add_done_callback(_DROPS.discard)


_DROPS: set[asyncio.Future[Any]] = set()


class SafeJson:
    """The `json` module python-socketio and python-engineio decode every packet with."""

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        return json.dumps(obj, **kwargs)

    @staticmethod
    def loads(text: str | bytes, **kwargs: Any) -> Any:
        try:
            return json.loads(text, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


class SocketIoEndpoint:
    """The aiohttp handler for `/socket.io/` (GET, POST, OPTIONS)."""

    def __init__(self, sio: socketio.AsyncServer, fault_log: ClientFaultLog) -> None:
        self._sio = sio
        self._fault_log = fault_log

    def attach(self, app: web.Application, path: str = "/socket.io/") -> None:
        for method in ("GET", "POST", "OPTIONS"):
            app.router.add_route(method, path, self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await self._sio.handle_request(request)
        except Exception:
            self._fault_log.exception("socket.io request dropped")
            await self._drop_sessions_of(request)
            if request.headers.get("Upgrade", "").lower() == "websocket" and request.transport:
                # The websocket is open: an HTTP answer would be written into its stream.
                request.transport.close()
            raise web.HTTPBadRequest() from None
        return response

    async def _drop_sessions_of(self, request: web.Request) -> None:
        """Closes the Engine.IO session(s) this request carried, so their Socket.IO
        connection is cleaned up now rather than at the next ping timeout."""
        environs: dict[str, Any] = self._sio.environ
        for eio_sid, environ in list(environs.items()):
            if environ.get("aiohttp.request") is request:
                await self._sio.eio.disconnect(eio_sid)
