"""The `avatars` collection: each user's re-encoded 256×256 WebP, stored as binary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

Document = dict[str, Any]


@dataclass(frozen=True)
class Avatar:
    data: bytes
    etag: str


class AvatarStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._avatars = collection

    async def create_indexes(self) -> None:
        """Keyed by user id; nothing else to index."""

    async def put(self, user_id: str, avatar: Avatar) -> None:
        # `$set` rather than a replacement: the embedded server fails to replace raw bytes.
        changes = {"data": avatar.data, "etag": avatar.etag}
        await self._avatars.update_one({"_id": user_id}, {"$set": changes}, upsert=True)

    async def get(self, user_id: str) -> Avatar | None:
        doc = await self._avatars.find_one({"_id": user_id})
        return Avatar(bytes(doc["data"]), doc["etag"]) if doc else None

    async def delete(self, user_id: str) -> None:
        await self._avatars.delete_one({"_id": user_id})
