"""Clients that send their request headers or bodies too slowly (or not at all) are dropped
in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from api.app import create_app
from api.body_deadline import BODY_DEADLINES, BodyDeadlines
from api.hardening import HEADER_TIMEOUT_SECONDS
from api.settings import Settings
from tests.conftest import start_server
from tests.people import Person

# How late past the bound a close may come (the event loop, a loaded CI machine).
SLACK_SECONDS = 3.0


async def served_like_run_app(settings: Settings) -> tuple[web.AppRunner, int]:
    """The app behind a runner made as `web.run_app` (`python -m api`) makes it: its own
    keepalive_timeout of 75 s must not win over the app's setting."""
    runner = web.AppRunner(create_app(settings), handle_signals=False, keepalive_timeout=75.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


async def seconds_until_closed(
    port: int, first: bytes, dribble: bytes = b"", *, read_first_response: bool = False
) -> float:
    """Sends `first`, then `dribble` one byte a second; how long until the server hangs up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        writer.write(first)
        await writer.drain()
        if read_first_response:
            assert (await reader.readline()).startswith(b"HTTP/1.1 200"), "a normal request works"
            started = time.monotonic()  # the bound starts again after each response
        closed = asyncio.ensure_future(_drain_until_eof(reader))
        for byte in dribble:
            if closed.done():
                break
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.wait([closed], timeout=1.0)
        await asyncio.wait_for(closed, HEADER_TIMEOUT_SECONDS + SLACK_SECONDS * 2)
        return time.monotonic() - started
    finally:
        writer.close()


async def _drain_until_eof(reader: asyncio.StreamReader) -> None:
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass


async def test_slow_and_silent_header_senders_are_dropped_while_sockets_stay(
    settings: Settings, person: Callable[[str], Awaitable[Person]]
) -> None:
    runner, port = await served_like_run_app(settings)
    ann = await person("Ann")
    socket = await ann.socket()
    try:
        endless_header = b"X-Slow: " + b"a" * 120
        request_line = b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n"
        results = await asyncio.gather(
            # One byte a second, forever: a slowloris.
            seconds_until_closed(port, request_line, endless_header),
            # Connects and says nothing.
            seconds_until_closed(port, b""),
            # A normal request, then the next one's headers dribbled on the same connection.
            seconds_until_closed(
                port,
                request_line + b"\r\n" + request_line,
                endless_header,
                read_first_response=True,
            ),
        )
        for seconds in results:
            assert HEADER_TIMEOUT_SECONDS - 1 <= seconds <= HEADER_TIMEOUT_SECONDS + SLACK_SECONDS
        # A running handler is not cut: the websocket opened before is still up and working.
        assert socket.sio.connected
        room = await ann.create_room()
        assert (await socket.join(room)) is not None
    finally:
        await runner.cleanup()


# --- request bodies -------------------------------------------------------------------------

# aiohttp reads and discards what still arrives after an early answer for up to this long
# (its `lingering_time`) before it closes the connection.
AIOHTTP_LINGERING_SECONDS = 10.0


async def dribble_until_answered(
    writer: asyncio.StreamWriter, answer: asyncio.Future[bytes], byte: bytes, until: float
) -> bytes:
    """Sends `byte` every half second until the server answers (or `until`, monotonic time,
    passes); the answer's status line."""
    while not answer.done() and time.monotonic() < until:
        try:
            writer.write(byte)
            await writer.drain()
        except ConnectionError:
            break
        await asyncio.wait([answer], timeout=0.5)
    return await asyncio.wait_for(answer, SLACK_SECONDS)


async def dribbled_avatar_upload(
    port: int, token: str, started: float, bound: float
) -> tuple[bytes, float]:
    """A signed-in avatar PUT declaring 5 MB and sending a byte every half second: the
    status line of the answer and when it came, and (asserted) that the server hangs up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    part_head = (
        b'--XX\r\nContent-Disposition: form-data; name="avatar"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n"
    )
    writer.write(
        b"PUT /api/users/me/avatar HTTP/1.1\r\nHost: localhost\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\n"
        b"Content-Type: multipart/form-data; boundary=XX\r\n"
        b"Content-Length: 5000000\r\n\r\n" + part_head
    )
    answer = asyncio.ensure_future(reader.readline())
    try:
        status = await dribble_until_answered(writer, answer, b"\x89", started + bound)
        answered = time.monotonic() - started
        closed = asyncio.ensure_future(_drain_until_eof(reader))
        await asyncio.wait_for(closed, AIOHTTP_LINGERING_SECONDS + SLACK_SECONDS)
        return status, answered
    finally:
        answer.cancel()
        writer.close()


async def test_a_dribbled_upload_is_answered_408_at_its_deadline_and_closed(
    settings: Settings, person: Callable[[str], Awaitable[Person]]
) -> None:
    ann = await person("Ann")  # one database and secret: her token works on this app too
    app = create_app(settings)
    deadline = 2.0
    app[BODY_DEADLINES] = BodyDeadlines(avatar_seconds=deadline)
    running = await start_server(app)
    port = int(running.base_url.rsplit(":", 1)[1])
    try:
        started = time.monotonic()
        results = await asyncio.gather(
            *(
                dribbled_avatar_upload(port, ann.access_token, started, deadline + SLACK_SECONDS)
                for _ in range(3)
            ),
            return_exceptions=True,
        )
        statuses = sorted(result[0] for result in results if isinstance(result, tuple))
        assert len(statuses) == 3, results
        # Two uploads at once per user; the third is refused at once, not held.
        assert statuses[0].startswith(b"HTTP/1.1 408"), statuses
        assert statuses[1].startswith(b"HTTP/1.1 408"), statuses
        assert statuses[2].startswith(b"HTTP/1.1 429"), statuses
        for status, answered in results:  # type: ignore[misc]
            if status.startswith(b"HTTP/1.1 408"):
                assert deadline - 0.5 <= answered <= deadline + SLACK_SECONDS
            else:
                assert answered <= SLACK_SECONDS
        # Nothing is left running: a normal upload slot is free again.
        reply = await ann.http.call("DELETE", "/api/users/me/avatar")
        assert reply.status == 204
    finally:
        await running.runner.cleanup()


async def test_a_dribbled_json_body_is_answered_408_at_its_deadline(settings: Settings) -> None:
    """Every JSON endpoint reads its body under the JSON deadline: here sign-in, which anyone
    may call, declaring 1 KB and sending a byte every half second."""
    app = create_app(settings)
    deadline = 1.5
    app[BODY_DEADLINES] = BodyDeadlines(json_seconds=deadline)
    running = await start_server(app)
    port = int(running.base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = asyncio.ensure_future(reader.readline())
    try:
        started = time.monotonic()
        writer.write(
            b"POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        ends = started + deadline + SLACK_SECONDS
        status = await dribble_until_answered(writer, answer, b" ", ends)
        assert status.startswith(b"HTTP/1.1 408"), status
        assert deadline - 0.5 <= time.monotonic() - started <= deadline + SLACK_SECONDS
    finally:
        answer.cancel()
        writer.close()
        await running.runner.cleanup()
