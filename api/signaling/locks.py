"""One asyncio lock per room, for what must reach a room's members in the order it happened.

State changes themselves need no lock (they are synchronous, see `state.py`); the messages
that announce them are awaited, and two coroutines announcing the same connection's arrival
and departure must not interleave (a member would be told "left" before "joined" and keep a
ghost). A coroutine holds at most one of these locks at a time, so they cannot deadlock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class RoomLocks:
    def __init__(self) -> None:
        # room id → (lock, number of coroutines holding or waiting for it)
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, room_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(room_id, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[room_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[room_id]
            if users == 1:
                del self._locks[room_id]  # nobody waits: forget it, rooms come and go
            else:
                self._locks[room_id] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
