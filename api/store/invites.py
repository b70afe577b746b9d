"""The `invites` collection: invite links to private rooms, stored by the hash of their token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

Document = dict[str, Any]
EXPIRED_KEPT_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class Invite:
    id: str
    room_id: str
    token_hash: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    max_uses: int | None
    uses: int

    @classmethod
    def from_document(cls, doc: Document) -> Invite:
        return cls(
            id=doc["_id"],
            room_id=doc["room_id"],
            token_hash=doc["token_hash"],
            created_by=doc["created_by"],
            created_at=doc["created_at"],
            expires_at=doc["expires_at"],
            max_uses=doc.get("max_uses"),
            uses=doc.get("uses", 0),
        )

    def to_document(self) -> Document:
        return {
            "_id": self.id,
            "room_id": self.room_id,
            "token_hash": self.token_hash,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "max_uses": self.max_uses,
            "uses": self.uses,
        }


class InviteStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._invites = collection

    async def create_indexes(self) -> None:
        await self._invites.create_index("token_hash", unique=True)
        await self._invites.create_index("room_id")
        # Kept a while past expiry, so a late click hears "expired" rather than "no such invite".
        await self._invites.create_index("expires_at", expireAfterSeconds=EXPIRED_KEPT_SECONDS)

    async def insert(self, invite: Invite) -> None:
        await self._invites.insert_one(invite.to_document())

    async def by_token_hash(self, token_hash: str) -> Invite | None:
        doc = await self._invites.find_one({"token_hash": token_hash})
        return Invite.from_document(doc) if doc else None

    async def of_room(self, room_id: str) -> list[Invite]:
        cursor = self._invites.find({"room_id": room_id}).sort("created_at", -1)
        return [Invite.from_document(doc) async for doc in cursor]

    async def delete(self, room_id: str, invite_id: str) -> bool:
        result = await self._invites.delete_one({"_id": invite_id, "room_id": room_id})
        return result.deleted_count == 1

    async def use_once(self, invite: Invite) -> bool:
        """Count one use, unless the invite has run out meanwhile (checked atomically)."""
        query: Document = {"_id": invite.id}
        if invite.max_uses is not None:
            query["uses"] = {"$lt": invite.max_uses}
        updated = await self._invites.find_one_and_update(
            query, {"$inc": {"uses": 1}}, return_document=ReturnDocument.AFTER
        )
        return updated is not None
