"""Signed-up users with an HTTP client and Socket.IO connections, for signaling tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.client import ApiClient
from tests.mailbox import Mailbox
from tests.sockets import SocketClient


@dataclass
class Person:
    name: str
    http: ApiClient
    user_id: str
    access_token: str
    base_url: str
    sockets: list[SocketClient] = field(default_factory=list)

    async def socket(self) -> SocketClient:
        client = SocketClient()
        await client.connect(self.base_url, self.access_token)
        self.sockets.append(client)
        return client

    async def create_room(self, **fields: Any) -> str:
        body = {"topic": f"{self.name}'s room", "visibility": "public", "media": "mesh"} | fields
        reply = await self.http.post("/api/rooms", body)
        assert reply.status == 201, reply.body
        return str(reply.body["id"])

    async def close(self) -> None:
        for client in self.sockets:
            await client.close()


async def invite(owner: Person, room: str, guest: Person) -> None:
    """The owner invites `guest` into `room`, and the guest accepts."""
    created = await owner.http.post(f"/api/rooms/{room}/invites", {})
    accepted = await guest.http.post(f"/api/invites/{created.body['token']}/accept")
    assert accepted.status == 200, accepted.body


async def sign_up(
    name: str, new_client: Callable[[], ApiClient], mailbox: Mailbox, base_url: str
) -> Person:
    http = new_client()
    email = await http.register_verified(mailbox, name)
    signed_in = await http.login(email)
    return Person(
        name=name,
        http=http,
        user_id=signed_in.body["user"]["id"],
        access_token=signed_in.body["accessToken"],
        base_url=base_url,
    )
