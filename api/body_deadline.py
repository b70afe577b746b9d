"""How long a client may take to send a request body, and how many uploads one user may run.

aiohttp bounds how long a request's headers may take (`api.hardening`), but nothing bounds
the body: a client that declares `Content-Length: 5 MB` and sends a byte every two seconds
holds a connection and a handler for as long as it likes. Every read of a body goes through
`body_deadline`:

    async with body_deadline(request, JSON_BODY_SECONDS):
        raw = await request.content.read(...)

When the deadline passes the read is abandoned and `BodyTimeout` raised: 408 `body_timeout`,
and the error middleware closes the connection (the rest of the body is never read; aiohttp
still reads and discards for at most its `lingering_time` before closing).

The deadlines are long enough for a slow mobile link (5 MB in 30 s is 1.4 Mbit/s; 64 KB of
JSON in 10 s is 52 kbit/s) and can be shortened per app (tests) with `BODY_DEADLINES`.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from api.errors import BodyTimeout, RateLimited

AVATAR_BODY_SECONDS = 30.0
JSON_BODY_SECONDS = 10.0
UPLOADS_PER_USER = 2


@dataclass(frozen=True)
class BodyDeadlines:
    avatar_seconds: float = AVATAR_BODY_SECONDS
    json_seconds: float = JSON_BODY_SECONDS


BODY_DEADLINES = web.AppKey("body_deadlines", BodyDeadlines)


def deadlines(request: web.Request) -> BodyDeadlines:
    """The app's deadlines: `app[BODY_DEADLINES]` if it was set, else the defaults."""
    return request.app.get(BODY_DEADLINES) or BodyDeadlines()


@asynccontextmanager
async def body_deadline(request: web.Request, seconds: float) -> AsyncIterator[None]:
    """Everything read from the body inside must have arrived `seconds` after this starts."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise BodyTimeout(seconds) from None


@dataclass
class UploadSlots:
    """Avatar uploads in progress per user: a few, so one account cannot hold many slow
    connections (each also a decode of up to 40 MP afterwards)."""

    per_user: int = UPLOADS_PER_USER
    _running: dict[str, int] = field(default_factory=dict)

    @asynccontextmanager
    async def slot(self, user_id: str) -> AsyncIterator[None]:
        if self._running.get(user_id, 0) >= self.per_user:
            raise RateLimited(retry_after_seconds=int(AVATAR_BODY_SECONDS))
        self._running[user_id] = self._running.get(user_id, 0) + 1
        try:
            yield
        finally:
            self._running[user_id] -= 1
            if not self._running[user_id]:
                del self._running[user_id]


# Per app, without a key to set before the app is frozen; gone with the app.
_SLOTS: weakref.WeakKeyDictionary[web.Application, UploadSlots] = weakref.WeakKeyDictionary()


def upload_slots(request: web.Request) -> UploadSlots:
    """The app's upload slots, made on first use."""
    slots = _SLOTS.get(request.app)
    if slots is None:
        slots = _SLOTS[request.app] = UploadSlots()
    return slots
