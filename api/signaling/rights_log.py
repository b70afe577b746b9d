"""When rights were last lost, by whom: for coroutines that checked a right before an await.

A `join` reads the room's entry rule from the database, then waits; meanwhile the room may
close or the user lose their membership. It takes a `mark()` before reading and asks
`changed_since(key, mark)` after: only a loss of *that* right (that room, that user's
membership, that user's sessions) sends it back to check again, so nobody can make other
people's joins fail by losing rights of their own elsewhere.

Entries older than `HORIZON_SECONDS` are forgotten; a check that spanned more than that
(a database stalled past its timeouts) counts as changed, so forgetting never hides a loss.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

HORIZON_SECONDS = 60.0


@dataclass(frozen=True)
class Mark:
    serial: int
    at: float


def room_key(room_id: str) -> str:
    return f"room:{room_id}"


def membership_key(room_id: str, user_id: str) -> str:
    return f"room:{room_id}:user:{user_id}"


def sessions_key(user_id: str) -> str:
    return f"user:{user_id}"


class RightsLog:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._serial = 0
        # key → (serial, time) of its latest loss; insertion order is time order.
        self._losses: dict[str, tuple[int, float]] = {}

    def mark(self) -> Mark:
        return Mark(self._serial, self._clock())

    def lost(self, key: str) -> None:
        now = self._clock()
        self._serial += 1
        self._losses.pop(key, None)
        self._losses[key] = (self._serial, now)
        self._forget_before(now - HORIZON_SECONDS)

    def changed_since(self, key: str, mark: Mark) -> bool:
        if self._clock() - mark.at > HORIZON_SECONDS:
            return True
        loss = self._losses.get(key)
        return loss is not None and loss[0] > mark.serial

    def __len__(self) -> int:
        return len(self._losses)

    def _forget_before(self, horizon: float) -> None:
        while self._losses:
            oldest = next(iter(self._losses))
            if self._losses[oldest][1] >= horizon:
                break
            del self._losses[oldest]
