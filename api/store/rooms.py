"""The `rooms` collection.

Listings page by `sort_key` (creation time in milliseconds, zero-padded, then the id): one
string that orders newest-first and breaks ties, so a cursor is simply the last key seen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from pymongo.asynchronous.collection import AsyncCollection

Document = dict[str, Any]
Visibility = Literal["public", "private"]
MediaMode = Literal["mesh", "sfu"]
RoomStatus = Literal["open", "closed"]


@dataclass(frozen=True)
class Room:
    id: str
    owner_id: str
    topic: str
    visibility: Visibility
    media: MediaMode
    slots: int | None
    max_participants: int
    status: RoomStatus
    created_at: datetime
    # A stage room: hosts and speakers talk, everyone else listens (sfu rooms only).
    stage: bool = False

    @property
    def sort_key(self) -> str:
        return f"{int(self.created_at.timestamp() * 1000):015d}_{self.id}"

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @classmethod
    def from_document(cls, doc: Document) -> Room:
        return cls(
            id=doc["_id"],
            owner_id=doc["owner_id"],
            topic=doc["topic"],
            visibility=doc["visibility"],
            media=doc["media"],
            slots=doc.get("slots"),
            max_participants=doc["max_participants"],
            status=doc["status"],
            created_at=doc["created_at"],
            # Older rooms have no field; the embedded server may read a stored True back as 1.
            stage=bool(doc.get("stage", False)),
        )

    def to_document(self) -> Document:
        return {
            "_id": self.id,
            "owner_id": self.owner_id,
            "topic": self.topic,
            "visibility": self.visibility,
            "media": self.media,
            "slots": self.slots,
            "max_participants": self.max_participants,
            "status": self.status,
            "created_at": self.created_at,
            "stage": self.stage,
            "sort_key": self.sort_key,
        }

    def with_topic(self, topic: str) -> Room:
        return replace(self, topic=topic)


class RoomStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._rooms = collection

    async def create_indexes(self) -> None:
        await self._rooms.create_index([("visibility", 1), ("status", 1), ("sort_key", -1)])
        await self._rooms.create_index("owner_id")

    async def insert(self, room: Room) -> None:
        await self._rooms.insert_one(room.to_document())

    async def by_id(self, room_id: str) -> Room | None:
        doc = await self._rooms.find_one({"_id": room_id})
        return Room.from_document(doc) if doc else None

    async def by_ids(self, room_ids: list[str]) -> list[Room]:
        if not room_ids:
            return []
        cursor = self._rooms.find({"_id": {"$in": room_ids}}).sort("sort_key", -1)
        return [Room.from_document(doc) async for doc in cursor]

    async def public_page(self, before: str | None, limit: int) -> list[Room]:
        query: Document = {"visibility": "public", "status": "open"}
        if before is not None:
            query["sort_key"] = {"$lt": before}
        cursor = self._rooms.find(query).sort("sort_key", -1).limit(limit)
        return [Room.from_document(doc) async for doc in cursor]

    async def owned_by(self, user_id: str) -> list[Room]:
        cursor = self._rooms.find({"owner_id": user_id, "status": "open"}).sort("sort_key", -1)
        return [Room.from_document(doc) async for doc in cursor]

    async def set_topic(self, room_id: str, topic: str) -> None:
        await self._rooms.update_one({"_id": room_id}, {"$set": {"topic": topic}})

    async def close(self, room_id: str) -> None:
        await self._rooms.update_one({"_id": room_id}, {"$set": {"status": "closed"}})
