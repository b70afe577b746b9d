"""The SFU's entry point: rooms by id, created on first join and dropped when empty.

The signaling layer calls `join`/`leave`/`set_muted`/`close_room` and is told, through the two
callbacks, about slot changes for each listener and media sessions that failed. A participant
is a media session: its id is chosen by the caller (one per signaling connection) and is never
the user's id, so a user's older session ending can never take a newer one with it.

`leave` and `close_room` take effect at once (nothing more is forwarded to or from those
sessions when they return); closing the peer connections, which may take seconds, happens in
tasks the router owns and `close()` waits for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from sfu.config import RtcConfig
from sfu.participant import Participant
from sfu.room import Room, SpeakerUpdate
from sfu.stats import SfuStats

# (room id, participant id, update) and (room id, participant id).
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
        self._closing: set[asyncio.Task[None]] = set()

    async def join(
        self, room_id: str, slots: int, participant_id: str, user_id: str, offer_sdp: str
    ) -> str:
        """Connect a media session; returns the SDP answer.

        Raises SfuError subclasses for unusable offers or an id already connected."""
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
            return await room.join(participant_id, user_id, offer_sdp)
        finally:
            self._drop_if_empty(room)

    def leave(self, room_id: str, participant_id: str) -> None:
        """Idempotent; effective at once."""
        room = self.rooms.get(room_id)
        if room is None:
            return
        participant = room.remove(participant_id)
        if participant is not None:
            self._close_later([participant])
        self._drop_if_empty(room)

    def set_muted(self, room_id: str, participant_id: str, muted: bool) -> None:
        room = self.rooms.get(room_id)
        if room is not None:
            room.set_muted(participant_id, muted)

    def is_connected(self, room_id: str, participant_id: str) -> bool:
        room = self.rooms.get(room_id)
        return room is not None and participant_id in room.participants

    def close_room(self, room_id: str) -> None:
        """Idempotent; effective at once, and silent: no `speakers` callbacks."""
        room = self.rooms.pop(room_id, None)
        if room is not None:
            self.stats.rooms -= 1
            self._close_later(room.close())

    async def close(self) -> None:
        for room_id in list(self.rooms):
            self.close_room(room_id)
        await self.closed()

    async def closed(self) -> None:
        """Wait until every peer connection that left or was closed is fully closed."""
        while self._closing:
            await asyncio.gather(*self._closing)

    def _close_later(self, participants: Iterable[Participant]) -> None:
        for participant in participants:
            task = asyncio.create_task(participant.close(), name=f"sfu-close-{participant.id}")
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _drop_if_empty(self, room: Room) -> None:
        if not room.participants and self.rooms.get(room.id) is room:
            self.close_room(room.id)
