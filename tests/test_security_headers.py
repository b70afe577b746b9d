"""Security headers on every answer, a CSP the built web client actually runs under, and
requests aiohttp cannot parse logged in one short line."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest

from api.app import WEB_DIST, create_app
from api.settings import Settings
from tests.client import ApiClient
from tests.conftest import RunningServer, start_server
from tests.mailbox import Mailbox

ALWAYS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def directives(csp: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in csp.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


async def test_every_kind_of_answer_carries_the_headers(
    client: ApiClient, mailbox: Mailbox
) -> None:
    await client.signed_up(mailbox)
    answers = {
        "page": await client.get("/rooms/some-room"),
        "api": await client.get("/api/users/me"),
        "error": await client.get("/api/does-not-exist"),
        "refused": await client.post(
            "/api/auth/login", data=b"[", headers={"Origin": "https://x.example"}
        ),
        "health": await client.get("/api/health"),
    }
    for kind, reply in answers.items():
        for name, value in ALWAYS.items():
            assert reply.headers.get(name) == value, (kind, name)
        csp = directives(reply.headers["Content-Security-Policy"])
        assert csp["frame-ancestors"] == ["'none'"], kind
        assert csp["default-src"] == ["'self'"], kind
        assert csp["object-src"] == ["'none'"], kind
        # APP_ORIGIN is plain http here: no HSTS.
        assert "Strict-Transport-Security" not in reply.headers, kind


async def test_csp_allows_what_the_web_client_uses(client: ApiClient) -> None:
    reply = await client.get("/")
    csp = directives(reply.headers["Content-Security-Policy"])
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert "'unsafe-inline'" not in reply.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in reply.headers["Content-Security-Policy"]
    # Socket.IO over HTTP and WebSocket to our own origin (APP_ORIGIN of the tests).
    assert csp["connect-src"] == ["'self'", "ws://localhost:8000"]
    # Avatars (our URLs, blob: previews, the data: favicon) and call audio.
    assert set(csp["img-src"]) == {"'self'", "data:", "blob:"}
    assert set(csp["media-src"]) == {"'self'", "blob:"}


def test_built_index_html_needs_nothing_inline() -> None:
    """What Vite writes must run under script-src/style-src 'self': no inline code at all."""
    index = WEB_DIST / "index.html"
    if not index.is_file():
        index = Path(__file__).resolve().parent.parent / "web" / "index.html"
    page = _Page()
    page.feed(index.read_text())
    assert page.inline_scripts == 0, "an inline <script> would be blocked"
    assert page.style_elements == 0, "an inline <style> would be blocked"
    assert page.style_attributes == 0, "a style= attribute would be blocked"
    assert page.event_handlers == [], "on*= attributes would be blocked"
    for url in page.urls:
        assert url.startswith(("/", "data:")) and not url.startswith("//"), url


async def test_hsts_and_wss_only_behind_tls(with_settings: Callable[..., Settings]) -> None:
    settings = with_settings(app_origin="https://gethory.example")
    running = await start_server(create_app(settings))
    try:
        async with (
            aiohttp.ClientSession(base_url=running.base_url) as session,
            session.get("/api/health") as response,
        ):
            assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
            csp = directives(response.headers["Content-Security-Policy"])
            assert csp["connect-src"] == ["'self'", "wss://gethory.example"]
    finally:
        await running.runner.cleanup()


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts = 0
        self.style_elements = 0
        self.style_attributes = 0
        self.event_handlers: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script" and not named.get("src"):
            self.inline_scripts += 1
        if tag == "style":
            self.style_elements += 1
        if "style" in named:
            self.style_attributes += 1
        self.event_handlers += [name for name in named if re.fullmatch(r"on\w+", name)]
        for name in ("src", "href"):
            if named.get(name):
                self.urls.append(str(named[name]))


BAD_REQUESTS = {
    "header over 8 KB": b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
    "bad request line": b"GET /\x00\xe2\x80\xae HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    "length and chunked": (
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "undecodable body": (
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!"
    ),
}


async def test_requests_aiohttp_cannot_parse_cost_one_short_line(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Not a traceback at ERROR each. (Their 400s are written by aiohttp's parser before any
    app code runs, so they carry none of the security headers: aiohttp offers no hook.)"""
    caplog.set_level(logging.DEBUG)
    host, port = server.base_url.removeprefix("http://").split(":")
    for name, request in BAD_REQUESTS.items():
        caplog.clear()
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(request)
        await writer.drain()
        status = await reader.readline()  # written after the line is logged
        assert status.split()[1:2] == [b"400"], (name, status)
        await reader.read()  # and the connection closed
        writer.close()
        lines = [
            r
            for r in caplog.records
            if r.name.startswith(("aiohttp", "api")) and r.name != "aiohttp.access"
        ]
        assert len(lines) <= 1, (name, [r.getMessage() for r in lines])
        for record in lines:
            assert record.exc_info is None and record.levelno < logging.WARNING, name
            assert len(record.getMessage()) < 200 and "\n" not in record.getMessage(), name
