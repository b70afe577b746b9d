"""Logs (issue 13): one JSON object per line in production (time, level, logger, event,
request id, user id where known, exception text), never a token, a password or an email
body; readable lines in development. The real `gethory` process in production mode, on the
tests' Mongo-wire and SMTP servers, and the formatter in-process for what a live server cannot
be made to do on demand (an exception with a traceback)."""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
import os
import re
import secrets
import signal
import sys
import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from api.log_context import bind_client, bind_request_id, bind_user
from api.logs import configure_logging
from api.settings import Settings
from tests.client import PASSWORD
from tests.mailbox import Mailbox, link_in, token_in
from tests.production import production_settings
from tests.test_server_process import free_port, wait_until_healthy

REQUEST_ID = "json-logs-test-1"
BODY_REQUEST_ID = "json-logs-test-2"
INVITE_TOKEN = "inviteTokenNeverLogged" + secrets.token_urlsafe(12)
# The client's environment must not leak into the production process under test.
FOREIGN = ("SMTP_", "DATABASE_", "JWT_", "TURN_", "RTC_", "METRICS_", "TRUSTED_", "LOG_")


def production_environ(
    port: int, data_dir: Path, mongo_url: str, mailbox: Mailbox
) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)}
    database_url = f"{mongo_url}/json_logs_{secrets.token_hex(4)}"
    origin = f"http://127.0.0.1:{port}"
    return (
        environ
        | production_settings(port, origin, database_url, mailbox)
        | {"LOG_FORMAT": "json", "DATA_DIR": str(data_dir), "DRAIN_SECONDS": "0"}
    )


def parse_lines(output: str) -> list[dict[str, Any]]:
    """Every line is one JSON object with the four fields every line has."""
    entries: list[dict[str, Any]] = []
    for line in output.splitlines():
        assert line.isascii(), line
        entry = json.loads(line)  # fails the test on any line that is not JSON
        assert isinstance(entry, dict), line
        assert {"time", "level", "logger", "event"} <= entry.keys(), line
        moment = datetime.fromisoformat(entry["time"])
        assert entry["time"].endswith("Z") and moment.utcoffset() == timedelta(0), line
        entries.append(entry)
    return entries


def access_lines(entries: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["logger"] == "aiohttp.access" and e["http"]["path"] == path]


async def test_production_writes_json_lines_without_secrets(
    tmp_path: Path, mongo_url: str, mailbox: Mailbox
) -> None:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "api",
        cwd=tmp_path, env=production_environ(port, tmp_path / "data", mongo_url, mailbox),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    email = f"logs-{secrets.token_hex(4)}@example.com"
    try:
        async with aiohttp.ClientSession(base_url=origin) as http:
            await wait_until_healthy(http, process)
            body = {"email": email, "password": PASSWORD, "name": "Logan"}
            async with http.post("/api/auth/register", json=body) as response:
                assert response.status == 202
            message = await mailbox.next_for(email)
            token = token_in(message)
            # The emailed link as the browser opens it, then the page's POST, whose Referer is
            # that link (Referrer-Policy same-origin).
            async with http.get(link_in(message)) as page:
                assert page.status == 200
            referer = {"Referer": f"{origin}/verify-email?token={token}"}
            async with http.post(
                "/api/auth/verify-email", json={"token": token}, headers=referer
            ) as response:
                assert response.status == 200, await response.text()
            login = {"email": email, "password": PASSWORD}
            async with http.post("/api/auth/login", json=login) as response:
                assert response.status == 200
                signed_in = await response.json()
                refresh = response.cookies["gethory_refresh"].value
            access = signed_in["accessToken"]
            user_id = signed_in["user"]["id"]
            bearer = {"Authorization": f"Bearer {access}"}
            async with http.get(
                "/api/users/me", headers={**bearer, "X-Request-Id": REQUEST_ID}
            ) as response:
                assert response.status == 200
                assert response.headers["X-Request-Id"] == REQUEST_ID
            async with http.get(f"/invite/{INVITE_TOKEN}") as response:
                assert response.status == 200
            async with http.post(f"/api/invites/{INVITE_TOKEN}/accept", headers=bearer) as response:
                assert response.status in (404, 410), await response.text()
            # A body aiohttp cannot decode: the app logs one line of its own for it.
            broken = {**bearer, "X-Request-Id": BODY_REQUEST_ID, "Content-Encoding": "gzip"}
            broken["Content-Type"] = "application/json"
            async with http.patch(
                "/api/users/me", data=b"\x1f\x8b not gzip", headers=broken
            ) as response:
                assert response.status == 400
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 60)
    text = output.decode()
    assert process.returncode == 0, text
    entries = parse_lines(text)

    [me] = [e for e in access_lines(entries, "/api/users/me") if e["http"]["method"] == "GET"]
    assert me["request_id"] == REQUEST_ID and me["user_id"] == user_id, me
    assert me["client"] == "127.0.0.1" and me["http"]["status"] == 200, me
    [unreadable] = [e for e in entries if "unreadable body" in e["event"]]
    assert unreadable["request_id"] == BODY_REQUEST_ID and unreadable["user_id"] == user_id
    [page_line] = access_lines(entries, "/verify-email")
    assert "user_id" not in page_line and page_line["request_id"], page_line
    [verify] = access_lines(entries, "/api/auth/verify-email")
    assert verify["http"]["referer"] == f"{origin}/verify-email", verify
    assert access_lines(entries, "/invite/{token}")
    assert access_lines(entries, "/api/invites/{token}/accept")
    assert any(e["event"].startswith("Gethory is ready") for e in entries)

    plain = message.get_body(("plain",))
    assert plain is not None
    body_lines = [line for line in plain.get_content().splitlines() if len(line.strip()) > 12]
    secrets_seen = [token, PASSWORD, access, refresh, INVITE_TOKEN, *body_lines]
    leaks = [(s, line) for line in text.splitlines() for s in secrets_seen if s.strip() in line]
    assert leaks == [], leaks


# --- the formatter in-process -----------------------------------------------------------------


@pytest.fixture
def captured() -> Iterator[Any]:
    """`captured(settings)`: configure_logging onto a StringIO; the root logger as it was
    afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()

    def configure(settings: Settings) -> io.StringIO:
        configure_logging(settings, stream)
        return stream

    yield configure
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def in_a_request(user_id: str | None) -> None:
    bind_request_id("req-abc")
    bind_client("203.0.113.9")
    if user_id is not None:
        bind_user(user_id)
    try:
        raise ValueError("the\nfailure")
    except ValueError:
        logging.getLogger("api.somewhere").exception("it broke in %s", "handler\u202e")


def test_json_lines_carry_the_request_and_the_exception(captured: Any, settings: Settings) -> None:
    stream = captured(replace(settings, log_format="json"))
    contextvars.copy_context().run(in_a_request, "usr_123")
    logging.getLogger("api.elsewhere").warning("outside any request")
    lines = stream.getvalue().splitlines()
    assert all(line.isascii() for line in lines), lines  # U+202E, \n: escaped
    first, second = (json.loads(line) for line in lines[-2:])
    assert first["event"] == "it broke in handler\u202e" and first["level"] == "ERROR"
    assert first["logger"] == "api.somewhere"
    assert (first["request_id"], first["client"], first["user_id"]) == (
        "req-abc",
        "203.0.113.9",
        "usr_123",
    )
    assert (
        first["exception"].startswith("Traceback")
        and "ValueError: the\nfailure" in first["exception"]
    )
    # Outside the request's context nothing of it is left over.
    assert second["event"] == "outside any request" and second["level"] == "WARNING"
    assert not {"request_id", "client", "user_id", "exception"} & second.keys()


def test_a_library_warning_is_a_json_line_too(captured: Any, settings: Settings) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        stream = captured(replace(settings, log_format="json"))
        warnings.warn("a library is unhappy", DeprecationWarning, stacklevel=1)
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["logger"] == "py.warnings" and "a library is unhappy" in entry["event"]


def test_text_lines_stay_readable(captured: Any, settings: Settings) -> None:
    stream = captured(replace(settings, log_format="text"))
    logging.getLogger("api.somewhere").info("hello %s", "there")
    line = stream.getvalue().splitlines()[-1]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO api\.somewhere: hello there", line
    )


def test_configuring_again_replaces_the_handler(captured: Any, settings: Settings) -> None:
    captured(replace(settings, log_format="text"))
    stream = captured(replace(settings, log_format="json"))
    logging.getLogger("api.somewhere").info("once")
    assert stream.getvalue().count("once") == 1
