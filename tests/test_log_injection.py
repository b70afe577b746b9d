"""Client-chosen text (namespaces, paths, headers) reaches the log escaped and capped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from api.log_text import printable
from tests.conftest import RunningServer
from tests.people import Person

MakePerson = Callable[[str], Awaitable[Person]]
# Characters that forge, reorder or hide what an operator reads.
HOSTILE = "\u202e\n\r\x1b[31m\u200b\u2066\ufeff\x00"


def hostile_in(records: list[logging.LogRecord]) -> list[str]:
    return [
        r.getMessage()
        for r in records
        if any(char in r.getMessage() for char in HOSTILE.replace("[31m", ""))
    ]


def test_printable_escapes_and_caps() -> None:
    assert printable("/\u202e\nfake ERROR line") == "/\\u202e\\nfake ERROR line"
    assert printable("a\\u202eb") == "a\\\\u202eb"  # a typed escape cannot pass for one
    assert printable("\udcff\U000e0041\ue000") == "\\udcff\\U000e0041\\ue000"
    assert printable("caf\u00e9 \U0001f600") == "caf\u00e9 \U0001f600"
    assert printable("x" * 1000, 10) == "x" * 10 + "…[990 more]"


async def test_a_hostile_namespace_is_logged_escaped(
    person: MakePerson, server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    ann = await person("Ann")
    caplog.set_level(logging.DEBUG)
    url = f"{server.base_url}/socket.io/?EIO=4&transport=websocket"
    namespace = "/" + HOSTILE + "x" * 5000
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.receive()  # Engine.IO open
        await ws.send_str(f'40{namespace},{{"token": "{ann.access_token}"}}')
        await ws.send_str(f'42{namespace},["join",{{}}]')
        # Then a real connect on the default namespace; its answer comes after the above.
        await ws.send_str(f'40{{"token": "{ann.access_token}"}}')
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT or message.data.startswith('40{"sid"'):
                break
    lines = [r.getMessage() for r in caplog.records if r.name.startswith(("socketio", "engineio"))]
    assert any("namespace /\\u202e\\n\\r\\x1b[31m" in line for line in lines), lines
    assert hostile_in(caplog.records) == []
    assert max(len(line) for line in lines) < 400


async def exchange(server: RunningServer, *requests: bytes) -> list[bytes]:
    """Pipelines raw requests on one connection; the status line of each answer, in order.
    An answer to the next request means the server is done with (and has logged) the one
    before it."""
    host, port = server.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(b"".join(requests))
        await writer.drain()
        statuses: list[bytes] = []
        while len(statuses) < len(requests):
            status = await reader.readline()
            statuses.append(status.strip())
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
        return statuses
    finally:
        writer.close()


HEALTH = b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n"


async def test_hostile_paths_and_headers_are_logged_escaped(
    person: MakePerson, server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    ann = await person("Ann")
    caplog.set_level(logging.DEBUG)
    hostile_utf8 = "\u202e\u200b\u2066\ufeff".encode()
    path = b"/api/rooms/%E2%80%AE%0Afake%20ERROR%0D%00" + b"x" * 3000
    body = b"\x1f\x8b not really gzip"
    unreadable = (
        b"PATCH " + path + b" HTTP/1.1\r\nHost: localhost\r\n"
        b"Authorization: Bearer " + ann.access_token.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"User-Agent: agent" + hostile_utf8 + b"\r\nReferer: http://x/" + hostile_utf8 + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    statuses = await exchange(server, unreadable, HEALTH)
    assert statuses[0].startswith(b"HTTP/1.1 400"), statuses
    messages = [r.getMessage() for r in caplog.records if not r.name.startswith("pymongo")]
    assert any("unreadable body" in m and "\\u202e\\nfake" in m for m in messages), messages
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any("agent\\u202e\\u200b" in m for m in access), access
    assert hostile_in(caplog.records) == []
    assert max(len(m) for m in messages) < 1000
