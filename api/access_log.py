"""aiohttp's access log, one line per answered request, that never writes a secret.

aiohttp's default line (`%a %t "%r" %s %b "%{Referer}i" "%{User-Agent}i"`) would write:
- the query string (`%r` is `request.path_qs`): the emailed links `/verify-email?token=…` and
  `/reset-password?token=…` carry their token there;
- the Referer: the page the browser came from, which is that same link when the verify page
  POSTs the token (Referrer-Policy same-origin sends our own full URLs to ourselves);
- path segments that are tokens: invite links `/invite/{token}` and
  `/api/invites/{token}/accept`;
- the proxy's address as `%a` behind a reverse proxy.

So the line has the path without query, with token segments replaced by `{token}`, the
Referer's path likewise, the client as the trusted-proxy rule found it (api/forwarded.py)
and the request id. Every client-chosen field is escaped by `api.log_text.printable` (bidi
overrides and zero-width characters survive aiohttp's header parser). The fields also travel
as `record.http` for the JSON lines (api/logs.py).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from api.log_context import log_fields
from api.log_text import printable

# Route variables that hold a bearer secret (api/rooms/routes.py: /api/invites/{token}/…).
SECRET_ROUTE_VARIABLES = ("token",)
# Web-client pages whose path carries a token (web/src: `/invite/{token}`).
SECRET_PAGE = re.compile(r"^(/invite/)[^/]+")
REDACTED = "{token}"
MAX_PATH_CHARS = 200


def loggable_path(request: web.BaseRequest) -> str:
    """The request's path as a log may hold it: no query string, token segments replaced by
    `{token}`, escaped and capped."""
    path = request.path
    # None before routing (a request aiohttp could not parse); `match_info` would assert.
    match_info = request._match_info if isinstance(request, web.Request) else None
    if match_info is not None:
        for name in SECRET_ROUTE_VARIABLES:
            value = match_info.get(name)
            if value:
                path = path.replace(value, REDACTED)
    return printable(SECRET_PAGE.sub(r"\1" + REDACTED, path), MAX_PATH_CHARS)


def loggable_referer(referer: str | None) -> str:
    """Where the browser came from, as `scheme://host/path` with the path treated as
    `loggable_path` treats ours; "-" when absent."""
    if not referer:
        return "-"
    try:
        parts = urlsplit(referer)
    except ValueError:
        return "(unreadable)"
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme else ""
    path = SECRET_PAGE.sub(r"\1" + REDACTED, parts.path)
    return printable(origin + path, MAX_PATH_CHARS)


class AccessLog(AbstractAccessLogger):
    """`access_log_class` (api/hardening.py `server_handler_args`); aiohttp's
    `access_log_format` is not used."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        try:
            self._log(request, response, time)
        except Exception:
            self.logger.exception("could not write an access log line")

    def _log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        # The request aiohttp hands us is the one before api/forwarded.py cloned it: the client
        # is the one bound in the request's context, else the peer.
        context = log_fields()
        client = context.get("client") or request.remote or "-"
        http: dict[str, Any] = {
            "method": printable(request.method, 20),
            "path": loggable_path(request),
            "version": f"{request.version.major}.{request.version.minor}",
            "status": response.status,
            "bytes": response.body_length,
            "duration_ms": round(time * 1000, 2),
            "referer": loggable_referer(request.headers.get("Referer")),
            "user_agent": printable(request.headers.get("User-Agent", "-")),
        }
        request_id = response.headers.get("X-Request-Id")
        extra: dict[str, Any] = {"http": http, "client": client}
        if request_id is not None:
            # A request no middleware saw (unparseable) has none in its context; its answer
            # still may.
            extra["request_id"] = request_id
        self.logger.info(
            '%s "%s %s HTTP/%s" %s %s "%s" "%s" %.1fms',
            client,
            http["method"],
            http["path"],
            http["version"],
            http["status"],
            http["bytes"],
            http["referer"],
            http["user_agent"],
            http["duration_ms"],
            extra=extra,
        )
