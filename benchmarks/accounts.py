"""Signing bots up on a Gethory server and putting them in an sfu room."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import aiohttp
import socketio

from benchmarks.bots import (
    Bot,
)

PASSWORD = "benchmark password, not a secret"
CONCURRENCY = 8  # sign-ups and joins in flight at once
MAIL_SECONDS = 30.0  # for the verification emails to reach the outbox
LINK = re.compile(r"https?://\S+")


async def bounded(jobs: Sequence[Callable[[], Awaitable[Any]]], limit: int = CONCURRENCY) -> None:
    """Run the jobs with at most `limit` in flight; the first failure cancels the rest."""
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[Any]]) -> None:
        async with gate:
            await job()

    async with asyncio.TaskGroup() as group:
        for job in jobs:
            group.create_task(run(job))


class GethoryAccounts:
    """Sign-up as a person does it: register, the emailed link, verify, sign in."""

    def __init__(self, http: aiohttp.ClientSession, outbox: Path) -> None:
        self._http = http
        self._outbox = outbox

    async def sign_up(self, count: int) -> list[str]:
        """`count` verified, signed-in accounts; their access tokens."""
        emails = [f"bench-{n:03d}@example.com" for n in range(count)]
        await bounded([partial(self._register, e, f"Bot {n}") for n, e in enumerate(emails)])
        tokens = await self._email_tokens(set(emails))
        await bounded([partial(self._verify, tokens[e]) for e in emails])
        access: dict[str, str] = {}

        async def login(email: str) -> None:
            body = await self._post("/api/auth/login", {"email": email, "password": PASSWORD})
            access[email] = str(body["accessToken"])

        await bounded([partial(login, e) for e in emails])
        return [access[e] for e in emails]

    async def create_sfu_room(self, token: str) -> str:
        body = {"topic": "Forwarding benchmark", "visibility": "public", "media": "sfu", "slots": 1}
        room = await self._post("/api/rooms", body, token=token)
        return str(room["id"])

    async def _register(self, email: str, name: str) -> None:
        await self._post("/api/auth/register", {"email": email, "password": PASSWORD, "name": name})

    async def _verify(self, token: str) -> None:
        await self._post("/api/auth/verify-email", {"token": token})

    async def _email_tokens(self, emails: set[str]) -> dict[str, str]:
        """The verification token emailed to each address (development outbox, no SMTP)."""
        deadline = time.monotonic() + MAIL_SECONDS
        tokens: dict[str, str] = {}
        while time.monotonic() < deadline:
            for path in sorted(self._outbox.glob("*.eml")):
                message = message_from_bytes(path.read_bytes(), policy=policy.default)
                assert isinstance(message, EmailMessage)
                if str(message["To"]) in emails:
                    tokens[str(message["To"])] = _token_in(message)
            if len(tokens) == len(emails):
                return tokens
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{len(emails) - len(tokens)} verification emails never arrived")

    async def _post(self, path: str, body: dict[str, Any], token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self._http.post(path, json=body, headers=headers) as response:
            reply = await response.json()
            if response.status == 429:
                raise RuntimeError(
                    f"{path} was rate limited (429): the server needs RATE_LIMITS=off, which "
                    "it honours in development; fewer --listeners fit under the limits"
                )
            if response.status >= 300:
                raise RuntimeError(f"{path} answered {response.status}: {reply}")
            return reply


def _token_in(message: EmailMessage) -> str:
    plain = message.get_body(("plain",))
    assert plain is not None, "the email has no text part"
    link = LINK.search(plain.get_content())
    assert link is not None, "the email has no link"
    return parse_qs(urlparse(link.group()).query)["token"][0]


@dataclass
class SfuMember:
    """A bot in a Gethory sfu room: its signaling socket and its media connection."""

    bot: Bot
    # Ctrl-C stays with asyncio.run: engineio's own SIGINT handler would stop the loop
    # before the peer connections and servers are cleaned up.
    sio: socketio.AsyncClient = field(
        default_factory=lambda: socketio.AsyncClient(reconnection=False, handle_sigint=False)
    )

    async def enter(self, base_url: str, token: str, room_id: str) -> None:
        await self.sio.connect(base_url, auth={"token": token}, transports=["websocket"])
        await self._call("join", {"roomId": room_id})
        ack = await self._call("sfu-join", {"roomId": room_id, "sdp": await self.bot.offer()})
        await self.bot.accept(str(ack["sdp"]))

    async def _call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        ack: dict[str, Any] = await self.sio.call(event, data, timeout=30)
        if not ack.get("ok"):
            raise RuntimeError(f"{self.bot.name}: {event} refused: {ack}")
        return ack

    async def close(self) -> None:
        await self.bot.close()
        if self.sio.connected:
            await self.sio.disconnect()
