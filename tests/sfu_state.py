"""Reading the SFU's state in tests (production code has no use for these questions)."""

from __future__ import annotations

from sfu.room_manager import RoomManager


def is_connected(manager: RoomManager, room_id: str, participant_id: str) -> bool:
    room = manager.rooms.get(room_id)
    return room is not None and participant_id in room.participants
