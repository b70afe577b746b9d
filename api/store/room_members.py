"""The `room_members` collection: who may enter a private room besides its owner, and who was
banned from a public one (a host removed them: `standing` "banned"; DELETE of the membership
lifts it).

One document per room and user (`_id` "{room}:{user}"), so one read tells both.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any, Literal

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]
Standing = Literal["member", "banned"]


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
        return await self.standing(room_id, user_id) == "member"

    async def standing(self, room_id: str, user_id: str) -> Standing | None:
        doc = await self._members.find_one({"_id": f"{room_id}:{user_id}"})
        if doc is None:
            return None
        return "banned" if doc.get("standing") == "banned" else "member"

    async def ban(self, room_id: str, user_id: str, banned_at: datetime) -> None:
        """Idempotent; replaces a membership. (`replace_one` keeps the datetime a datetime on
        the embedded server, where `$set` would not: DESIGN §6; and the replacement names its
        `_id`, which that server's upsert does not take from the filter.)"""
        key = f"{room_id}:{user_id}"
        ban = {"_id": key, "room_id": room_id, "user_id": user_id, "joined_at": banned_at}
        await self._members.replace_one({"_id": key}, {**ban, "standing": "banned"}, upsert=True)

    async def remove(self, room_id: str, user_id: str) -> bool:
        result = await self._members.delete_one({"_id": f"{room_id}:{user_id}"})
        return result.deleted_count == 1

    async def rooms_of(self, user_id: str) -> list[str]:
        """The rooms this user is a member of (bans left out)."""
        docs = self._members.find({"user_id": user_id})
        return [doc["room_id"] async for doc in docs if doc.get("standing") != "banned"]
