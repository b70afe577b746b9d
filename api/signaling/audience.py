"""`audience-update`: a room's audience joins and leaves, told at most once a second.

In audience mode (a stage room, or an sfu room that grew past `AUDIENCE_THRESHOLD`) a listener's
arrival or departure is not sent to everyone one by one: a storm of N joins would cost N
messages to each of N occupants. Each change is noted here, keyed by user (the net effect:
the last thing that happened to that user), and one `audience-update {roomId, count, joined,
left, more}` goes to the whole room (one Socket.IO room emit, one encode) at most every
`interval` seconds. An occupant therefore receives O(duration) of these, whatever the size
of the storm. Each update is written to every occupant's socket (measured: about 100 µs of
server CPU per recipient, the same for a count as for a page of names), so a large audience
is told less often: every `count / DELIVERIES_PER_SECOND` seconds once that is above the
interval, at most every `MAX_INTERVAL_SECONDS`. The room's updates then cost the server about
`DELIVERIES_PER_SECOND` socket writes a second whatever its size, and a join's share of them
stays flat as the room grows.

The update is built when it is sent, from the state then, for every user whose presence
changed since the last one: `count` is the audience now; `joined` lists those present and in
the audience (one promoted meanwhile was told of by `role-changed`; one who came back on
another connection, a second tab, is simply present), `left` those no longer in the room;
the two never share a user.
Each list holds at most `MAX_NAMED`; `more` says some were left out (page the rest with
`GET /api/rooms/{id}/participants`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from api.background import BackgroundTasks
from api.signaling.sockets import Sockets
from api.signaling.state import Connection, SignalingState
from api.signaling.wire_objects import participant_object

INTERVAL_SECONDS = 1.0
DELIVERIES_PER_SECOND = 250
MAX_INTERVAL_SECONDS = 10.0
MAX_NAMED = 100


class AudienceUpdates:
    def __init__(
        self,
        state: SignalingState,
        sockets: Sockets,
        background: BackgroundTasks,
        interval: float = INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state = state
        self._sockets = sockets
        self._background = background
        self.interval = interval
        self._clock = clock
        # room id → user id → the user's latest connection to join or leave it.
        self._pending: dict[str, dict[str, Connection]] = {}
        self._scheduled: dict[str, asyncio.TimerHandle] = {}
        self._sent_at: dict[str, float] = {}

    def joined(self, room_id: str, connection: Connection) -> None:
        self._note(room_id, connection)

    def left(self, room_id: str, connection: Connection) -> None:
        self._note(room_id, connection)

    def interval_for(self, room_id: str) -> float:
        """Seconds between two updates of this room: `interval`, longer for a large room."""
        scaled = self._state.room_size(room_id) / DELIVERIES_PER_SECOND
        return max(self.interval, min(scaled, MAX_INTERVAL_SECONDS))

    def forget(self, room_id: str) -> None:
        """The room closed: nothing more to tell."""
        self._pending.pop(room_id, None)
        self._sent_at.pop(room_id, None)
        handle = self._scheduled.pop(room_id, None)
        if handle is not None:
            handle.cancel()

    def _note(self, room_id: str, connection: Connection) -> None:
        changes = self._pending.setdefault(room_id, {})
        changes.pop(connection.user_id, None)  # the latest change last
        changes[connection.user_id] = connection
        if room_id in self._scheduled:
            return
        now = self._clock()
        interval = self.interval_for(room_id)
        delay = max(0.0, self._sent_at.get(room_id, -interval) + interval - now)
        loop = asyncio.get_running_loop()
        self._scheduled[room_id] = loop.call_later(delay, self._due, room_id)

    def _due(self, room_id: str) -> None:
        self._scheduled.pop(room_id, None)
        if room_id in self._pending:
            self._background.spawn(self._send(room_id), name="audience-update")

    async def _send(self, room_id: str) -> None:
        # Built here, in the step that emits it (python-socketio creates every recipient's
        # send task before it first suspends, and tasks run in order of creation): built
        # earlier, a role-changed sent in between would be older than an update that says
        # the opposite.
        changes = self._pending.pop(room_id, None)
        if not changes:
            return
        stamp = self._sent_at[room_id] = self._clock()
        update = self._update(room_id, changes)
        # Kept only as long as it spaces the next update out.
        asyncio.get_running_loop().call_later(
            MAX_INTERVAL_SECONDS, self._forget_stamp, room_id, stamp
        )
        if update is not None:
            await self._sockets.to_room(room_id, "audience-update", update)

    def _forget_stamp(self, room_id: str, stamp: float) -> None:
        if self._sent_at.get(room_id) == stamp:
            del self._sent_at[room_id]

    def _update(self, room_id: str, changes: dict[str, Connection]) -> dict[str, Any] | None:
        state = self._state
        joined: list[dict[str, Any]] = []
        left: list[dict[str, Any]] = []
        more = False
        for user_id, last in changes.items():
            present = state.occupant_of_user(room_id, user_id)
            target: list[dict[str, Any]]
            if present is None:
                target, item = left, {"peerId": last.sid, "userId": user_id}
            elif state.is_audience(present):
                target, item = joined, participant_object(present)
            else:
                continue  # on stage: `participant-joined` or `role-changed` told of them
            if len(target) < MAX_NAMED:
                target.append(item)
            else:
                more = True
        if state.room(room_id) is None:
            return None
        return {
            "roomId": room_id,
            "count": state.audience_count(room_id),
            "joined": joined,
            "left": left,
            "more": more,
        }
