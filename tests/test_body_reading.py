"""How a request body arrives never changes its answer (security review of issue #9, items 5
and 8): a valid body split over several TCP writes is read whole, and a body that cannot be
decoded (a broken `Content-Encoding`, a broken chunked framing) answers 400, never 500, with
at most one short log line."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from urllib.parse import urlsplit

import pytest

from tests.client import PASSWORD, ApiClient
from tests.conftest import RunningServer
from tests.mailbox import Mailbox

ANSWER_TIMEOUT = 10


async def exchange(server: RunningServer, head: bytes, *pieces: bytes, gap: float = 0.0) -> str:
    """Send `head` then each of `pieces` in a write of its own, `gap` seconds apart (the gap is
    the input: a body that arrives in parts), and return the response's head and body."""
    url = urlsplit(server.base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(head)
        await writer.drain()
        for piece in pieces:
            if gap:
                await asyncio.sleep(gap)
            writer.write(piece)
            await writer.drain()
        return (await asyncio.wait_for(reader.read(), ANSWER_TIMEOUT)).decode("latin-1")
    finally:
        writer.close()


def request_head(path: str, length: int | None, *extra: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: localhost",
        "Content-Type: application/json",
        "Connection: close",
        *extra,
    ]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(response: str) -> int:
    return int(response.split(" ", 2)[1])


def body_of(response: str) -> dict[str, object]:
    parsed = json.loads(response.partition("\r\n\r\n")[2])
    assert isinstance(parsed, dict)
    return parsed


@pytest.mark.parametrize("gap", [0.01, 0.1])
async def test_a_login_body_in_two_writes_is_read_whole(
    server: RunningServer, client: ApiClient, mailbox: Mailbox, gap: float
) -> None:
    email = await client.register_verified(mailbox)
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    half = len(body) // 2
    head = request_head("/api/auth/login", len(body))
    response = await exchange(server, head, body[:half], body[half:], gap=gap)
    assert status_of(response) == 200, response


async def test_a_chunked_body_in_many_writes_is_read_whole(
    server: RunningServer, client: ApiClient, mailbox: Mailbox
) -> None:
    email = await client.register_verified(mailbox)
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)]
    framed = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for chunk in chunks] + [b"0\r\n\r\n"]
    head = request_head("/api/auth/login", None, "Transfer-Encoding: chunked")
    response = await exchange(server, head, *framed, gap=0.005)
    assert status_of(response) == 200, response


async def test_a_body_over_the_limit_in_pieces_is_still_413(server: RunningServer) -> None:
    piece = b" " * (40 * 1024)
    head = request_head("/api/auth/login", None, "Transfer-Encoding: chunked")
    framed = [f"{len(piece):x}\r\n".encode() + piece + b"\r\n"] * 3 + [b"0\r\n\r\n"]
    response = await exchange(server, head, *framed, gap=0.01)
    assert status_of(response) == 413, response


@pytest.mark.parametrize(
    ("extra", "body"),
    [
        (("Content-Encoding: gzip",), b'{"email": "a@example.com", "password": "x"}'),
        (("Content-Encoding: deflate",), b"definitely not deflate"),
        (("Content-Encoding: gzip",), b"\x1f\x8b" + gzip.compress(b'{"email": 1}')[4:]),
    ],
)
async def test_a_body_that_does_not_decode_is_400_with_one_short_log_line(
    server: RunningServer,
    caplog: pytest.LogCaptureFixture,
    extra: tuple[str, ...],
    body: bytes,
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await exchange(server, request_head("/api/auth/login", len(body), *extra), body)
    assert status_of(response) == 400, response
    assert body_of(response)["error"] == {
        "code": "malformed_body",
        "message": "The request body could not be read.",
        "details": None,
    }
    ours = [r for r in caplog.records if r.name.startswith("api")]
    assert len(ours) <= 1 and all(len(r.getMessage()) < 300 and not r.exc_info for r in ours)


async def test_a_broken_chunked_framing_is_400(server: RunningServer) -> None:
    head = request_head("/api/auth/login", None, "Transfer-Encoding: chunked")
    response = await exchange(server, head, b'5\r\n{"a":\r\nzz\r\n')
    assert status_of(response) == 400, response
