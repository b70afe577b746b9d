"""The SFU's entry point: rooms by id, created on first join and dropped when empty.

The signaling layer calls `join`/`leave`/`set_muted`/`close_room` and is told, through the two
callbacks, about slot changes for each listener and media connections that failed.
"""

from __future__ import annotations

from collections.abc import Callable

from sfu.config import RtcConfig
from sfu.room import Room, SpeakerUpdate
from sfu.stats import SfuStats

RoomSpeakersSink = Callable[[str, str, SpeakerUpdate], None]
RoomFailedSink = Callable[[str, str], None]


class Router:
    def __init__(
        self,
        rtc: RtcConfig,
        on_speakers: RoomSpeakersSink,
        on_failed: RoomFailedSink,
        stats: SfuStats | None = None,
    ) -> None:
        self.rtc = rtc
        self.stats = stats or SfuStats()
        self._on_speakers = on_speakers
        self._on_failed = on_failed
        self.rooms: dict[str, Room] = {}

    async def join(self, room_id: str, slots: int, participant_id: str, offer_sdp: str) -> str:
        """Connect a participant's media; returns the SDP answer."""
        room = self.rooms.get(room_id)
        if room is None:
            room = Room(
                room_id,
                slots,
                self.rtc,
                self.stats,
                on_speakers=lambda listener, update: self._on_speakers(room_id, listener, update),
                on_failed=lambda participant: self._on_failed(room_id, participant),
            )
            self.rooms[room_id] = room
            self.stats.rooms += 1
        try:
            return await room.join(participant_id, offer_sdp)
        finally:
            await self._drop_if_empty(room)

    async def leave(self, room_id: str, participant_id: str) -> None:
        room = self.rooms.get(room_id)
        if room is not None:
            await room.leave(participant_id)
            await self._drop_if_empty(room)

    def set_muted(self, room_id: str, participant_id: str, muted: bool) -> None:
        room = self.rooms.get(room_id)
        if room is not None:
            room.set_muted(participant_id, muted)

    def is_connected(self, room_id: str, participant_id: str) -> bool:
        room = self.rooms.get(room_id)
        return room is not None and participant_id in room.participants

    async def close_room(self, room_id: str) -> None:
        room = self.rooms.pop(room_id, None)
        if room is not None:
            self.stats.rooms -= 1
            await room.close()

    async def close(self) -> None:
        for room_id in list(self.rooms):
            await self.close_room(room_id)

    async def _drop_if_empty(self, room: Room) -> None:
        if not room.participants and self.rooms.get(room.id) is room:
            await self.close_room(room.id)
