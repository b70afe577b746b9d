"""The `room_members` collection: who may enter a private room besides its owner."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]


class RoomMemberStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._members = collection

    async def create_indexes(self) -> None:
        await self._members.create_index([("room_id", 1), ("user_id", 1)], unique=True)
        await self._members.create_index("user_id")

    async def add(self, room_id: str, user_id: str, joined_at: datetime) -> None:
        """Idempotent: adding a member twice keeps one membership."""
        membership = {"room_id": room_id, "user_id": user_id, "joined_at": joined_at}
        with contextlib.suppress(DuplicateKeyError):
            await self._members.insert_one({"_id": f"{room_id}:{user_id}", **membership})

    async def is_member(self, room_id: str, user_id: str) -> bool:
        return await self._members.find_one({"_id": f"{room_id}:{user_id}"}) is not None

    async def remove(self, room_id: str, user_id: str) -> bool:
        result = await self._members.delete_one({"_id": f"{room_id}:{user_id}"})
        return result.deleted_count == 1

    async def rooms_of(self, user_id: str) -> list[str]:
        return [doc["room_id"] async for doc in self._members.find({"user_id": user_id})]
