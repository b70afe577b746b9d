"""The one rule for who may see and enter a room; REST and signaling both ask here."""

from __future__ import annotations

from typing import Literal

from api.errors import BannedFromRoom
from api.store.room_members import RoomMemberStore
from api.store.rooms import Room

Role = Literal["owner", "member", "visitor"]


class RoomAccess:
    def __init__(self, members: RoomMemberStore) -> None:
        self._members = members

    async def role_of(self, user_id: str, room: Room) -> Role | None:
        """The user's standing in the room, or None if they may not know it exists.

        Raises BannedFromRoom for someone a host removed from this public room."""
        if room.owner_id == user_id:
            return "owner"
        standing = await self._members.standing(room.id, user_id)
        if standing == "member":
            return "member"
        if room.visibility != "public":
            return None
        if standing == "banned":
            raise BannedFromRoom()
        return "visitor"
