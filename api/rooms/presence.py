"""Who is in each room right now, as this process sees it, and when each room was last lived in.

Signaling writes it; room listings read counts, the first few participants and the last
activity from it, and `GET /api/rooms/{id}/participants` pages through it (by role, in order
of arrival: each entry keeps the serial of its stay, which only grows, so a cursor is the last
serial seen). It is in memory behind this small interface so a shared store can replace it
when the server scales out to several processes. Activity is not kept across a restart: a room
nobody entered since then counts as active since its creation (`RoomService.public_listing`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

PresenceRole = Literal["host", "speaker", "listener"]


@dataclass
class PresenceEntry:
    """One user in one room: `serial` orders arrivals (the signaling stay's serial)."""

    serial: int
    role: PresenceRole
    muted: bool = False


@dataclass(frozen=True)
class PresencePage:
    entries: list[tuple[str, PresenceEntry]]  # (user id, entry), in order of arrival
    count: int  # how many match the role now
    next_after: int | None  # the serial to page on from, None when this was the last page


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RoomPresence:
    def __init__(self, clock: Callable[[], datetime] = _utc_now) -> None:
        # room id → user id → entry, in order of arrival (dicts keep insertion order).
        self._rooms: dict[str, dict[str, PresenceEntry]] = {}
        # room id → when someone last entered or left it.
        self._active_at: dict[str, datetime] = {}
        self._clock = clock

    def enter(
        self,
        room_id: str,
        user_id: str,
        serial: int = 0,
        role: PresenceRole = "speaker",
        muted: bool = False,
    ) -> None:
        people = self._rooms.setdefault(room_id, {})
        people.pop(user_id, None)  # a new stay goes last
        people[user_id] = PresenceEntry(serial, role, muted)
        self._active_at[room_id] = self._clock()

    def update(
        self,
        room_id: str,
        user_id: str,
        role: PresenceRole | None = None,
        muted: bool | None = None,
    ) -> None:
        entry = self._rooms.get(room_id, {}).get(user_id)
        if entry is None:
            return
        if role is not None:
            entry.role = role
        if muted is not None:
            entry.muted = muted

    def page(
        self, room_id: str, role: PresenceRole | None, after: int | None, limit: int
    ) -> PresencePage:
        """Up to `limit` users of `role` (None: everyone) whose stay began after serial
        `after`, in order of arrival. Someone present throughout a paging appears once."""
        people = self._rooms.get(room_id, {})
        matching = [(u, e) for u, e in people.items() if role is None or e.role == role]
        start = 0
        if after is not None:
            later = (i for i, (_, entry) in enumerate(matching) if entry.serial > after)
            start = next(later, len(matching))
        entries = matching[start : start + limit]
        more = start + limit < len(matching)
        return PresencePage(entries, len(matching), entries[-1][1].serial if more else None)

    def leave(self, room_id: str, user_id: str) -> None:
        people = self._rooms.get(room_id)
        if people is None:
            return
        people.pop(user_id, None)
        self._active_at[room_id] = self._clock()
        if not people:
            del self._rooms[room_id]

    def count(self, room_id: str) -> int:
        return len(self._rooms.get(room_id, ()))

    def first(self, room_id: str, limit: int) -> list[str]:
        people = self._rooms.get(room_id, {})
        return [user_id for user_id, _ in zip(people, range(limit), strict=False)]

    def active_at(self, room_id: str) -> datetime | None:
        """When someone last entered or left the room (in this process), if ever."""
        return self._active_at.get(room_id)

    def active_since(self, cutoff: datetime) -> list[str]:
        """Rooms with people in them, or entered or left at `cutoff` or later.

        Empty rooms idle since before `cutoff` are forgotten here, so the record stays as
        small as the set of rooms in use.
        """
        stale = [
            room_id
            for room_id, at in self._active_at.items()
            if at < cutoff and room_id not in self._rooms
        ]
        for room_id in stale:
            del self._active_at[room_id]
        return list(_unique(list(self._rooms) + list(self._active_at)))


def _unique(ids: Iterable[str]) -> Iterable[str]:
    return dict.fromkeys(ids)
