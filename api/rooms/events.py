"""What the room service announces after a change is stored: who must react is not its concern.

Signaling subscribes to take people out of closed rooms and to drop removed members. The calls
are the shape that will cross processes when the server scales out (DESIGN §7): plain ids and
records, awaited in order of subscription.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from api.store.rooms import Room


@dataclass(frozen=True)
class Removal:
    """A user lost the right to be in a room: removed from a private room's members (by the
    owner, or they left the members themselves), or removed by a host (`by`), which in a
    public room bans them for the room's lifetime (`banned`)."""

    room_id: str
    user_id: str
    by: str | None = None
    banned: bool = False


RoomListener = Callable[[Room], Awaitable[None]]
MemberListener = Callable[[Removal], Awaitable[None]]


class RoomEvents:
    def __init__(self) -> None:
        self._closed: list[RoomListener] = []
        self._changed: list[RoomListener] = []
        self._member_removed: list[MemberListener] = []

    def on_room_closed(self, listener: RoomListener) -> None:
        """`listener(room)` after the room was closed in the store."""
        self._closed.append(listener)

    def on_room_changed(self, listener: RoomListener) -> None:
        """`listener(room)` with the room's new record after an edit (topic)."""
        self._changed.append(listener)

    def on_member_removed(self, listener: MemberListener) -> None:
        """`listener(removal)` after that user lost their membership or was banned."""
        self._member_removed.append(listener)

    async def room_closed(self, room: Room) -> None:
        for listener in self._closed:
            await listener(room)

    async def room_changed(self, room: Room) -> None:
        for listener in self._changed:
            await listener(room)

    async def member_removed(self, removal: Removal) -> None:
        for listener in self._member_removed:
            await listener(removal)
