"""The one rule for who may see and enter a room; REST and signaling both ask here."""

from __future__ import annotations

from typing import Literal

from api.store.room_members import RoomMemberStore
from api.store.rooms import Room

Role = Literal["owner", "member", "visitor"]


class RoomAccess:
    def __init__(self, members: RoomMemberStore) -> None:
        self._members = members

    async def role_of(self, user_id: str, room: Room) -> Role | None:
        """The user's standing in the room, or None if they may not know it exists."""
        if room.owner_id == user_id:
            return "owner"
        if await self._members.is_member(room.id, user_id):
            return "member"
        return "visitor" if room.visibility == "public" else None
