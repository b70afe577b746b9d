"""The `sessions` collection: one document per sign-in, holding its current refresh-token hash.

A session is revoked by deleting it; every authenticated request looks it up, so revocation
takes effect at once. Rotation replaces the whole document (the embedded server would store a
`$set` datetime as a string) and is conditional on the old hash, so two refreshes racing with
the same token cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

Document = dict[str, Any]


@dataclass(frozen=True)
class Session:
    id: str
    user_id: str
    refresh_hash: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str
    ip: str

    @classmethod
    def from_document(cls, doc: Document) -> Session:
        return cls(
            id=doc["_id"],
            user_id=doc["user_id"],
            refresh_hash=doc["refresh_hash"],
            created_at=doc["created_at"],
            last_used_at=doc["last_used_at"],
            expires_at=doc["expires_at"],
            user_agent=doc.get("user_agent", ""),
            ip=doc.get("ip", ""),
        )

    def to_document(self) -> Document:
        return {
            "_id": self.id,
            "user_id": self.user_id,
            "refresh_hash": self.refresh_hash,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "expires_at": self.expires_at,
            "user_agent": self.user_agent,
            "ip": self.ip,
        }

    def rotated(self, refresh_hash: str, now: datetime, expires_at: datetime) -> Session:
        return replace(self, refresh_hash=refresh_hash, last_used_at=now, expires_at=expires_at)


class SessionStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._sessions = collection

    async def create_indexes(self) -> None:
        await self._sessions.create_index("user_id")
        await self._sessions.create_index("expires_at", expireAfterSeconds=0)

    async def insert(self, session: Session) -> None:
        await self._sessions.insert_one(session.to_document())

    async def live(self, session_id: str, now: datetime) -> Session | None:
        """The session if it exists and has not expired (TTL deletion may lag)."""
        doc = await self._sessions.find_one({"_id": session_id})
        if doc is None:
            return None
        session = Session.from_document(doc)
        return session if session.expires_at > now else None

    async def replace_if_hash(self, old_hash: str, session: Session) -> bool:
        result = await self._sessions.replace_one(
            {"_id": session.id, "refresh_hash": old_hash}, session.to_document()
        )
        return result.matched_count == 1

    async def of_user(self, user_id: str, now: datetime) -> list[Session]:
        cursor = self._sessions.find({"user_id": user_id}).sort("last_used_at", -1)
        sessions = [Session.from_document(doc) async for doc in cursor]
        return [s for s in sessions if s.expires_at > now]

    async def delete(self, session_id: str, user_id: str) -> bool:
        result = await self._sessions.delete_one({"_id": session_id, "user_id": user_id})
        return result.deleted_count == 1

    async def delete_all_of_user(self, user_id: str, keep: str | None = None) -> int:
        query: Document = {"user_id": user_id}
        if keep is not None:
            query["_id"] = {"$ne": keep}
        result = await self._sessions.delete_many(query)
        return result.deleted_count
