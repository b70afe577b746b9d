"""Opening the MongoDB database (real or embedded), creating its indexes, and telling whether
it answers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure

from api.store.avatars import AvatarStore
from api.store.email_tokens import EmailTokenStore
from api.store.invites import InviteStore
from api.store.room_members import RoomMemberStore
from api.store.rooms import RoomStore
from api.store.sessions import SessionStore
from api.store.users import UserStore

log = logging.getLogger(__name__)

Document = dict[str, Any]
DEFAULT_DATABASE = "gethory"
# How long an operation waits for a reachable server before giving up: while the database is
# down a request answers 503 after this long instead of hanging (pymongo's default is 30 s).
# Long enough to ride out a restart of the embedded server (well under a second).
SERVER_SELECTION_TIMEOUT_MS = 2_000
CONNECT_TIMEOUT_MS = 2_000
# Bounds a single operation on a server that accepted the connection but stopped answering.
SOCKET_TIMEOUT_MS = 5_000
# What pymongo raises when it cannot reach the server: server-selection timeouts, dropped or
# refused connections, network timeouts (all `ConnectionFailure`). The edges (HTTP middleware,
# socket handlers) turn these, and only these, into `database_unavailable`.
DATABASE_UNREACHABLE: tuple[type[Exception], ...] = (ConnectionFailure,)
INDEX_RETRY_DELAYS_SECONDS = (0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class Stores:
    users: UserStore
    sessions: SessionStore
    email_tokens: EmailTokenStore
    avatars: AvatarStore
    rooms: RoomStore
    room_members: RoomMemberStore
    invites: InviteStore

    async def create_indexes(self) -> None:
        for store in (
            self.users,
            self.sessions,
            self.email_tokens,
            self.avatars,
            self.rooms,
            self.room_members,
            self.invites,
        ):
            await store.create_indexes()


def open_client(url: str) -> AsyncMongoClient[Document]:
    # tz_aware: datetimes come back as UTC-aware values, comparable with `datetime.now(UTC)`.
    return AsyncMongoClient(url, tz_aware=True, **_timeouts_not_in(url))


def _timeouts_not_in(url: str) -> dict[str, Any]:
    """The default timeouts, minus those the URL sets itself (pymongo would let a keyword
    argument override the URL, and an operator's `?serverSelectionTimeoutMS=` should win)."""
    given = {name.lower() for name in parse_qs(urlsplit(url).query)}
    defaults = {
        "serverSelectionTimeoutMS": SERVER_SELECTION_TIMEOUT_MS,
        "connectTimeoutMS": CONNECT_TIMEOUT_MS,
        "socketTimeoutMS": SOCKET_TIMEOUT_MS,
    }
    return {name: value for name, value in defaults.items() if name.lower() not in given}


def outage_summary(failure: BaseException) -> str:
    """pymongo's message without the topology description it appends (for log lines)."""
    return str(failure).split(", Timeout: ")[0]


def database_of(client: AsyncMongoClient[Document]) -> AsyncDatabase[Document]:
    return client.get_default_database(DEFAULT_DATABASE)


def stores_for(db: AsyncDatabase[Document]) -> Stores:
    return Stores(
        users=UserStore(db["users"]),
        sessions=SessionStore(db["sessions"]),
        email_tokens=EmailTokenStore(db["email_tokens"]),
        avatars=AvatarStore(db["avatars"]),
        rooms=RoomStore(db["rooms"]),
        room_members=RoomMemberStore(db["room_members"]),
        invites=InviteStore(db["invites"]),
    )


class Database:
    """The app's client and stores. The indexes are created at start-up if the server answers,
    otherwise in the background as soon as it does, so the app starts (and reports itself not
    ready) during an outage instead of failing to start."""

    def __init__(self, url: str) -> None:
        self.client = open_client(url)
        self.stores = stores_for(database_of(self.client))
        self.indexes_ready = False
        self._indexing: asyncio.Task[None] | None = None

    async def open(self) -> None:
        try:
            await self.stores.create_indexes()
        except DATABASE_UNREACHABLE as failure:
            log.warning(
                "database unreachable at start-up (%s); indexes follow once it answers",
                outage_summary(failure),
            )
            self._indexing = asyncio.create_task(self._index_when_reachable(), name="indexes")
        else:
            self.indexes_ready = True

    async def _index_when_reachable(self) -> None:
        attempt = 0
        while True:
            # A deliberate back-off; each attempt itself waits up to the server-selection timeout.
            await asyncio.sleep(
                INDEX_RETRY_DELAYS_SECONDS[min(attempt, len(INDEX_RETRY_DELAYS_SECONDS) - 1)]
            )
            attempt += 1
            try:
                await self.stores.create_indexes()
            except DATABASE_UNREACHABLE:
                continue
            self.indexes_ready = True
            log.info("database reachable; indexes created")
            return

    async def ping(self, deadline_seconds: float) -> float:
        """Round-trip time of a `ping` in seconds; raises a `PyMongoError` if the server does not
        answer within `deadline_seconds` (server selection included)."""
        started = time.monotonic()
        with pymongo.timeout(deadline_seconds):
            await self.client.admin.command("ping")
        return time.monotonic() - started

    async def close(self) -> None:
        indexing, self._indexing = self._indexing, None
        if indexing is not None:
            indexing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await indexing
        await self.client.close()
