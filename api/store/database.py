"""Opening the MongoDB database (real or embedded) and creating its indexes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from api.store.avatars import AvatarStore
from api.store.email_tokens import EmailTokenStore
from api.store.invites import InviteStore
from api.store.room_members import RoomMemberStore
from api.store.rooms import RoomStore
from api.store.sessions import SessionStore
from api.store.users import UserStore

Document = dict[str, Any]
DEFAULT_DATABASE = "gethory"


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
    return AsyncMongoClient(url, tz_aware=True, serverSelectionTimeoutMS=10_000)


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
