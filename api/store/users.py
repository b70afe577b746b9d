"""The `users` collection: accounts, their normalized email and password hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]


class EmailTaken(Exception):
    """Another account already uses this (normalized) email."""


class UsernameInUse(Exception):
    """Another account already uses this username (compared case-insensitively)."""


@dataclass(frozen=True)
class User:
    id: str
    email: str
    email_verified: bool
    password_hash: str
    name: str
    created_at: datetime
    username: str | None = None
    bio: str = ""
    avatar_etag: str | None = None

    @classmethod
    def from_document(cls, doc: Document) -> User:
        return cls(
            id=doc["_id"],
            email=doc["email"],
            # The embedded server reads a `$set` True back as 1.
            email_verified=bool(doc.get("email_verified", False)),
            password_hash=doc["password_hash"],
            name=doc["name"],
            created_at=doc["created_at"],
            username=doc.get("username"),
            bio=doc.get("bio", ""),
            avatar_etag=doc.get("avatar_etag"),
        )

    def to_document(self) -> Document:
        doc: Document = {
            "_id": self.id,
            "email": self.email,
            "email_verified": self.email_verified,
            "password_hash": self.password_hash,
            "name": self.name,
            "created_at": self.created_at,
            "bio": self.bio,
        }
        if self.username is not None:
            doc["username"] = self.username
            doc["username_key"] = self.username.lower()
        if self.avatar_etag is not None:
            doc["avatar_etag"] = self.avatar_etag
        return doc


class UserStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._users = collection

    async def create_indexes(self) -> None:
        await self._users.create_index("email", unique=True)
        # Sparse: accounts that have not chosen a username yet do not collide.
        await self._users.create_index("username_key", unique=True, sparse=True)

    async def insert(self, user: User) -> None:
        try:
            await self._users.insert_one(user.to_document())
        except DuplicateKeyError:
            raise EmailTaken(user.email) from None

    async def by_id(self, user_id: str) -> User | None:
        doc = await self._users.find_one({"_id": user_id})
        return User.from_document(doc) if doc else None

    async def by_email(self, email: str) -> User | None:
        doc = await self._users.find_one({"email": email})
        return User.from_document(doc) if doc else None

    async def mark_email_verified(self, user_id: str) -> None:
        await self._users.update_one({"_id": user_id}, {"$set": {"email_verified": True}})

    async def by_ids(self, user_ids: list[str]) -> dict[str, User]:
        if not user_ids:
            return {}
        cursor = self._users.find({"_id": {"$in": list(set(user_ids))}})
        return {doc["_id"]: User.from_document(doc) async for doc in cursor}

    async def update_profile(
        self, user_id: str, *, name: str | None, username: str | None, bio: str | None
    ) -> User | None:
        changes: Document = {}
        if name is not None:
            changes["name"] = name
        if username is not None:
            changes |= {"username": username, "username_key": username.lower()}
        if bio is not None:
            changes["bio"] = bio
        if changes:
            try:
                await self._users.update_one({"_id": user_id}, {"$set": changes})
            except DuplicateKeyError:
                raise UsernameInUse(username) from None
        return await self.by_id(user_id)

    async def set_avatar_etag(self, user_id: str, etag: str | None) -> None:
        if etag is None:
            await self._users.update_one({"_id": user_id}, {"$unset": {"avatar_etag": ""}})
        else:
            await self._users.update_one({"_id": user_id}, {"$set": {"avatar_etag": etag}})

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._users.update_one({"_id": user_id}, {"$set": {"password_hash": password_hash}})
