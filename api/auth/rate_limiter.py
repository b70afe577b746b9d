"""In-process sliding-window rate limits, keyed by action and IP or email.

Kept in memory: one server process owns its counters. A deployment with several processes
needs a shared store behind the same `hit` call.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from api.errors import RateLimited

LONGEST_WINDOW_SECONDS = 3600.0


@dataclass(frozen=True)
class Limit:
    max_hits: int
    window_seconds: float


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic, enabled: bool = True) -> None:
        self._clock = clock
        # Off only for load tests on a development server (RATE_LIMITS=off).
        self._enabled = enabled
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._calls_since_sweep = 0

    def hit(self, action: str, subject: str, limit: Limit) -> None:
        """Count one attempt; raise `RateLimited` (counting nothing) when over the limit."""
        if not self._enabled:
            return
        now = self._clock()
        self._maybe_sweep(now)
        hits = self._hits.setdefault((action, subject), deque())
        while hits and hits[0] <= now - limit.window_seconds:
            hits.popleft()
        if len(hits) >= limit.max_hits:
            retry_after = hits[0] + limit.window_seconds - now
            raise RateLimited(max(1, math.ceil(retry_after)))
        hits.append(now)

    def _maybe_sweep(self, now: float) -> None:
        # Forget idle keys now and then so memory follows live traffic, not history.
        self._calls_since_sweep += 1
        if self._calls_since_sweep < 10_000:
            return
        self._calls_since_sweep = 0
        idle = [
            key
            for key, hits in self._hits.items()
            if not hits or hits[-1] <= now - LONGEST_WINDOW_SECONDS
        ]
        for key in idle:
            del self._hits[key]
