"""Where Socket.IO meets aiohttp: the JSON codec and the route, hardened against client bytes.

python-engineio lets two kinds of client bytes escape its websocket loop as exceptions: a
frame whose first character is not a packet type digit (`int()` fails), and JSON nested deep
enough to raise RecursionError (it catches only ValueError). Either ended in a traceback in
our log and left the Engine.IO session registered until its ping timed out. The codec turns
RecursionError into the ValueError the libraries expect, and the route closes the session of
any request whose handling raised, with one short line in the client-fault log.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import socketio
from aiohttp import web

from api.signaling.client_fault_log import ClientFaultLog

log = logging.getLogger(__name__)


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
            raise web.HTTPBadRequest() from None
        return response

    async def _drop_sessions_of(self, request: web.Request) -> None:
        """Closes the Engine.IO session(s) this request carried, so their Socket.IO
        connection is cleaned up now rather than at the next ping timeout."""
        environs: dict[str, Any] = self._sio.environ
        for eio_sid, environ in list(environs.items()):
            if environ.get("aiohttp.request") is request:
                await self._sio.eio.disconnect(eio_sid)
