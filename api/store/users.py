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


@dataclass(frozen=True)
class User:
    id: str
    email: str
    email_verified: bool
    password_hash: str
    name: str
    created_at: datetime

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
        )

    def to_document(self) -> Document:
        return {
            "_id": self.id,
            "email": self.email,
            "email_verified": self.email_verified,
            "password_hash": self.password_hash,
            "name": self.name,
            "created_at": self.created_at,
        }


class UserStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._users = collection

    async def create_indexes(self) -> None:
        await self._users.create_index("email", unique=True)

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

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._users.update_one({"_id": user_id}, {"$set": {"password_hash": password_hash}})
