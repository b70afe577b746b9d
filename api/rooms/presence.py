"""Who is in each room right now, as this process sees it.

Signaling writes it; room listings read counts and the first few participants from it. It is
in memory behind this small interface so a shared store can replace it when the server scales
out to several processes.
"""

from __future__ import annotations


class RoomPresence:
    def __init__(self) -> None:
        # room id → user ids in order of arrival (dicts keep insertion order).
        self._rooms: dict[str, dict[str, None]] = {}

    def enter(self, room_id: str, user_id: str) -> None:
        self._rooms.setdefault(room_id, {})[user_id] = None

    def leave(self, room_id: str, user_id: str) -> None:
        people = self._rooms.get(room_id)
        if people is None:
            return
        people.pop(user_id, None)
        if not people:
            del self._rooms[room_id]

    def count(self, room_id: str) -> int:
        return len(self._rooms.get(room_id, ()))

    def first(self, room_id: str, limit: int) -> list[str]:
        people = self._rooms.get(room_id, {})
        return [user_id for user_id, _ in zip(people, range(limit), strict=False)]
