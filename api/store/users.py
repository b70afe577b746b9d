"""The `users` collection: accounts, their normalized email and password hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
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
    # The sign-up whose password and name the account holds while unverified; a verification
    # link activates the account only if it was issued for this very registration.
    registration: str | None = None
    # How many sign-ups the unverified account has received: more than one means the address
    # is contested, and only a link that makes the mailbox owner choose the password may
    # activate it.
    registrations: int = 1

    @property
    def contested(self) -> bool:
        return not self.email_verified and self.registrations > 1

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
            registration=doc.get("registration"),
            registrations=int(doc.get("registrations", 1)),
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
            "registrations": self.registrations,
        }
        if self.registration is not None:
            doc["registration"] = self.registration
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

    async def replace_pending(
        self, email: str, password_hash: str, name: str, registration: str
    ) -> User | None:
        """Hand the unverified account of `email` to the newest sign-up: its password hash,
        name and registration id replace the earlier one's, and the sign-up count grows.

        Returns the updated account, or None when no unverified account has that email (it is
        verified, or gone). One atomic update: a verification racing with it either lands first
        (then this finds the account verified and changes nothing) or finds the registration
        changed (then it activates nothing).
        """
        doc = await self._users.find_one_and_update(
            {"email": email, "email_verified": False},
            {
                "$set": {
                    "password_hash": password_hash,
                    "name": name,
                    "registration": registration,
                },
                "$inc": {"registrations": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        return User.from_document(doc) if doc else None

    async def ensure_registration(self, user_id: str, registration: str) -> str | None:
        """The account's registration id, first giving it `registration` if it has none (an
        account created before sign-ups were tracked); None if the account is gone."""
        await self._users.update_one(
            {"_id": user_id, "registration": None}, {"$set": {"registration": registration}}
        )
        user = await self.by_id(user_id)
        return user.registration if user else None

    async def verify_registration(self, user_id: str, registration: str) -> bool:
        """Mark the email verified only while the account still holds the password and name of
        `registration`; False (nothing changed) once a later sign-up replaced them."""
        result = await self._users.update_one(
            {"_id": user_id, "registration": registration},
            {"$set": {"email_verified": True}},
        )
        return result.matched_count == 1

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
