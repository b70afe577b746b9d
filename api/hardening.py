"""HTTP hardening: security headers on every response, and how long a client may take.

Both are wired in `api.app.create_app`, so `python -m api` (`web.run_app`) and the tests'
`AppRunner` serve with exactly the same settings.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler, Middleware

from api import errors
from api.access_log import AccessLog
from api.log_text import printable
from api.middlewares import SAFE_METHODS
from api.settings import Settings

# aiohttp has no separate header-read timeout. Its `keepalive_timeout` is armed when a
# connection opens and again after every response, and when it fires it closes the connection
# unless a complete request (line and headers) has arrived meanwhile. So it bounds both an
# idle keep-alive connection and a request's header block, sent one byte at a time or not at
# all ("slowloris"). A handler that is running (a long-poll, a websocket) is never cut by it.
HEADER_TIMEOUT_SECONDS = 15.0
# Browsers and proxies cope with an idle connection being closed; a proxy in front should keep
# its own idle timeout to upstream below this (nginx `keepalive_timeout`, Caddy `keepalive`).
HSTS = "max-age=31536000"

ResponseHook = Callable[[web.Request, web.StreamResponse], Awaitable[None]]


def server_handler_args() -> dict[str, Any]:
    """`web.Application(handler_args=…)`: they apply however the app is served."""
    return {
        "keepalive_timeout": HEADER_TIMEOUT_SECONDS,
        "access_log_class": AccessLog,
        "logger": SERVER_LOG,
    }


class ClientFaultFilter(logging.Filter):
    """aiohttp's HTTP server logs every request it cannot parse (a request line or header
    over 8 KB, a bad request line, Content-Length with Transfer-Encoding, a body it cannot
    decode) as "Error handling request" at ERROR with a ≈850 B traceback: anyone could fill the
    log. Those are the client's faults, so they become one short INFO line, escaped; anything
    else aiohttp logs (our bugs) keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, web.RequestPayloadError) and record.msg == "Unhandled exception":
            # aiohttp draining the rest of a body it could not decode, after the app already
            # answered (and logged) it: nothing new to say.
            return False
        if isinstance(error, HttpProcessingError | web.RequestPayloadError):
            cause = error.__cause__ or error
            detail = getattr(cause, "message", "") or str(cause)
            record.msg, record.args = (
                "bad request from client: %s: %s",
                (
                    type(cause).__name__,
                    printable(detail, 100),
                ),
            )
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


# What aiohttp's request handler logs to (its default is "aiohttp.server"; same name, so
# operators' settings for it keep working), with client faults cut down to one line.
SERVER_LOG = logging.getLogger("aiohttp.server")
if not any(isinstance(f, ClientFaultFilter) for f in SERVER_LOG.filters):
    SERVER_LOG.addFilter(ClientFaultFilter())


def content_security_policy(settings: Settings) -> str:
    """What the built web client needs, and nothing more.

    Vite's index.html has no inline script or style (React sets styles through the DOM, which
    CSP allows); Socket.IO talks to our own origin over HTTP and WebSocket; avatars are our
    own URLs, `blob:` previews and the `data:` favicon; call audio is a MediaStream
    (`srcObject`), not a URL. No page may frame ours (clickjacking the room controls).
    """
    origin = urlsplit(settings.app_origin)
    ws_scheme = "wss" if origin.scheme == "https" else "ws"
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob:",
            "font-src 'self'",
            # 'self' covers ws(s) of the same host in current browsers; older Safari needs it named.
            # The other loopback spelling a development server accepts (`allowed_origins`) is
            # always served from itself, so its socket is 'self'.
            f"connect-src 'self' {ws_scheme}://{origin.netloc}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(settings: Settings) -> ResponseHook:
    """An `on_response_prepare` hook: every answer (API, files, errors, sockets) gets them."""
    headers = {
        "Content-Security-Policy": content_security_policy(settings),
        # For browsers that predate frame-ancestors.
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        # The full URL (invite and reset links carry tokens) only to ourselves. Not
        # `no-referrer`: that would make our own POSTs carry `Origin: null`, which the CSRF
        # check refuses.
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "microphone=(self), camera=(), geolocation=(), payment=()",
    }
    if urlsplit(settings.app_origin).scheme == "https":
        # Only where browsers really reach us over TLS; on plain http it would be ignored at
        # best, and a mistake on localhost pins the browser to https for a year.
        headers["Strict-Transport-Security"] = HSTS

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        for name, value in headers.items():
            response.headers.setdefault(name, value)

    return add_headers


def origin_check(settings: Settings) -> Middleware:
    """Refuse state-changing browser requests from any origin but ours (CSRF).

    Ours are `settings.allowed_origins`: `APP_ORIGIN`, and in development its other loopback
    spelling, so a newcomer who opens http://127.0.0.1:8000 can sign in as well as one who
    opens http://localhost:8000.
    """
    allowed = frozenset(settings.allowed_origins)

    @web.middleware
    async def check_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("Origin")
            if origin is not None and origin.rstrip("/") not in allowed:
                raise errors.OriginNotAllowed()
            if origin is None and request.headers.get("Sec-Fetch-Site") == "cross-site":
                raise errors.OriginNotAllowed()
        return await handler(request)

    return check_origin
