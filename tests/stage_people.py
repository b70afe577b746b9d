"""Stage-room helpers for tests: a socket that records the stage events (and counts every
message it receives), a fast crowd of signed-in accounts, and a listener's view of the
audience built only from what the server told it (see docs/protocol.md, stage rooms)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from api.auth.tokens import AccessClaims, Tokens
from api.ids import new_id
from api.services import SERVICES
from api.store.sessions import Session
from api.store.users import User
from tests.conftest import RunningServer
from tests.people import Person
from tests.sockets import SocketClient

STAGE_EVENTS = (
    "hand-raised",
    "speak-invite",
    "speak-invite-ended",
    "speak-invite-answered",
    "role-changed",
    "audience-update",
)
# Host-only events and a payload for each (the target filled in by the caller).
HOST_EVENTS = ("invite-to-speak", "set-role", "remove-participant", "mute-participant")


class StageSocket(SocketClient):
    """A SocketClient that also queues the stage events and logs every message it receives
    (`received`: (monotonic arrival time, event name)), known events or not."""

    def __init__(self) -> None:
        self.received: list[tuple[float, str]] = []
        super().__init__()
        for event in STAGE_EVENTS:
            self.sio.on(event, self._recorder(event))
        # python-socketio's catch-all: any event without a handler of its own.
        self.sio.on("*", self._on_any)

    def _recorder(self, event: str) -> Any:
        async def record(data: Any = None) -> None:
            self.received.append((time.monotonic(), event))
            self.events[event].put_nowait(data)

        return record

    async def _on_any(self, event: str, data: Any = None) -> None:
        self.received.append((time.monotonic(), event))
        self.events[event].put_nowait(data)

    def drain(self, event: str) -> list[Any]:
        """Every queued `event` so far, removed from the queue, oldest first."""
        queue = self.events[event]
        items = []
        while not queue.empty():
            items.append(queue.get_nowait())
        return items

    async def next_where(
        self, event: str, wanted: Callable[[Any], bool], timeout: float = 10.0
    ) -> Any:
        """The first `event` (queued or to come within `timeout` s) for which `wanted` holds;
        the ones before it are consumed."""
        async with asyncio.timeout(timeout):
            while True:
                data = await self.events[event].get()
                if wanted(data):
                    return data

    async def ok(self, event: str, payload: Any) -> dict[str, Any]:
        ack = await self.call(event, payload)
        assert ack["ok"] is True, (event, payload, ack)
        return ack

    async def refused(self, event: str, payload: Any) -> str:
        """The error code of an event the server must refuse."""
        ack = await self.call(event, payload)
        assert ack["ok"] is False, (event, payload, ack)
        return str(ack["error"]["code"])


async def stage_socket(someone: Person) -> StageSocket:
    """A new connection of `someone` (closed with them at the end of the test)."""
    client = StageSocket()
    await client.connect(someone.base_url, someone.access_token)
    someone.sockets.append(client)
    return client


async def stage_room(owner: Person, **fields: Any) -> str:
    return await owner.create_room(media="sfu", stage=True, **fields)


async def settled(client: SocketClient) -> None:
    """One acknowledged round trip: whatever the server sent this client before is queued
    now (Socket.IO keeps one connection's messages in order)."""
    ack = await client.call("leave", {"roomId": "rm_settledAAAAAAAAA"})
    assert ack["ok"] or ack["error"]["code"] == "not_in_room", ack


async def promote(host: StageSocket, target: StageSocket, room: str, user_id: str) -> None:
    """The host invites `user_id` (on `target`) to speak and they accept: a speaker now, as
    the role-changed that reaches them says."""
    await host.ok("invite-to-speak", {"roomId": room, "userId": user_id})
    await target.next_where("speak-invite", lambda e: e["roomId"] == room)
    await target.ok("accept-speak", {"roomId": room})
    await target.next_where(
        "role-changed", lambda e: e["userId"] == user_id and e["role"] == "speaker"
    )


def ids_of(participants: list[dict[str, Any]]) -> list[str]:
    return [p["user"]["id"] for p in participants]


def role_of(state: dict[str, Any], user_id: str) -> str | None:
    """The role `room-state` gives `user_id` among its stage members or its audience page."""
    for p in state["participants"] + state["audience"]["participants"]:
        if p["user"]["id"] == user_id:
            return str(p["role"])
    return None


@dataclass
class AudienceView:
    """The audience as a client knows it from `room-state` and `audience-update` alone."""

    count: int = 0
    present: set[str] = field(default_factory=set)
    updates: list[dict[str, Any]] = field(default_factory=list)
    more: bool = False

    def apply(self, update: dict[str, Any]) -> None:
        joined = {p["user"]["id"] for p in update["joined"]}
        left = {p["userId"] for p in update["left"]}
        assert not joined & left, f"joined and left overlap: {joined & left}"
        assert len(update["joined"]) <= 100 and len(update["left"]) <= 100, update
        self.present = (self.present - left) | joined
        self.count = int(update["count"])
        self.more = self.more or bool(update["more"])
        self.updates.append(update)


# --- a crowd of accounts, fast --------------------------------------------------------------


@dataclass(frozen=True)
class CrowdMember:
    user_id: str
    name: str
    access_token: str


async def crowd(server: RunningServer, count: int, prefix: str = "crowd") -> list[CrowdMember]:
    """`count` verified accounts with one live session each, written through the server's own
    stores and signed with its own secret (the same documents and token that sign-in makes).

    Why not sign-in: each `POST /api/auth/login` costs one argon2id verification (~155 ms of
    CPU here), 300 of them most of a minute on two cores."""
    services = server.app[SERVICES]
    tokens = Tokens(services.settings)
    now = datetime.now(UTC)
    tag = secrets.token_hex(3)
    members = []
    for n in range(count):
        name = f"{prefix}-{tag}-{n:04d}"
        user = User(
            id=new_id("usr"),
            email=f"{name}@example.com",
            email_verified=True,
            password_hash="$argon2id$not-a-password",
            name=name,
            created_at=now,
        )
        session = Session(
            id=new_id("ses"),
            user_id=user.id,
            refresh_hash=secrets.token_hex(16),
            created_at=now,
            last_used_at=now,
            expires_at=now + timedelta(days=1),
            user_agent="stage tests",
            ip="127.0.0.1",
        )
        await services.stores.users.insert(user)
        await services.stores.sessions.insert(session)
        token = tokens.issue_access(AccessClaims(user.id, session.id), now).token
        members.append(CrowdMember(user.id, name, token))
    return members


class CrowdSockets:
    """Socket.IO connections of crowd members; `close()` ends them all."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.sockets: list[StageSocket] = []

    async def open(self, member: CrowdMember) -> StageSocket:
        client = StageSocket()
        self.sockets.append(client)
        await client.connect(self.base_url, member.access_token)
        return client

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.sockets), return_exceptions=True)
        self.sockets.clear()
