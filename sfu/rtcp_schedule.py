"""One timer for the periodic RTCP of every connection of the process (a timer wheel).

aiortc runs an RTCP loop per sender and per receiver, each waking every 0.5-1.5 s: a listener
with three slots and a microphone costs four wake-ups and up to four datagrams a second while
nothing at all is said. Here each connection sends one compound packet (RFC 3550 §6.1: the
sender reports of all its slots, the receiver report of its microphone, one SDES) every
`interval` seconds, and all connections share one timer: each tick (every `tick` seconds)
calls the reporters of one bucket of the wheel, so the cost is one timer wake-up per tick
plus one `report()` per connection per interval, whatever the room sizes.

- The interval defaults to 5 s: RFC 3550 §6.2's recommended minimum, and what libwebrtc uses
  for audio streams. Spreading the connections over the buckets (a random phase each) is the
  randomisation RFC 3550 §6.3.1 asks for, so reports never go out in bursts.
- A connection's first report goes out 0.5-1.5 s after it is added (RFC 3550 §6.2 lets the
  first one go early), so a listener gets the sender report that maps RTP time to wall-clock
  time (lip sync, `remote-outbound-rtp`) within a second or so of hearing anyone; after that
  every `interval`.
- A reporter that raises is logged and kept: one connection's fault never stops the others'.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from typing import Protocol

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 5.0
TICK_SECONDS = 0.1
FIRST_REPORT_SECONDS = (0.5, 1.5)


class Reporter(Protocol):
    def report(self) -> None:
        """Send this connection's compound RTCP packet now (synchronous, never raises on a
        closed connection: it sends nothing)."""
        ...


class RtcpSchedule:
    def __init__(
        self, interval_seconds: float = DEFAULT_INTERVAL_SECONDS, tick_seconds: float = TICK_SECONDS
    ) -> None:
        if not 0 < tick_seconds <= interval_seconds:
            raise ValueError("the RTCP schedule needs 0 < tick_seconds <= interval_seconds")
        self.interval_seconds = interval_seconds
        self._tick_seconds = tick_seconds
        self._buckets: list[list[Reporter]] = [
            [] for _ in range(max(1, math.ceil(interval_seconds / tick_seconds)))
        ]
        self._bucket_of: dict[Reporter, int] = {}
        self._position = 0
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._bucket_of)

    def add(self, reporter: Reporter) -> None:
        """Report for `reporter` from 0.5-1.5 s from now, then every interval. Idempotent."""
        if reporter in self._bucket_of:
            return
        first = random.uniform(*FIRST_REPORT_SECONDS)
        ticks = min(len(self._buckets), max(1, round(first / self._tick_seconds)))
        bucket = (self._position + ticks - 1) % len(self._buckets)
        self._buckets[bucket].append(reporter)
        self._bucket_of[reporter] = bucket
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._tick_seconds, self._tick)

    def remove(self, reporter: Reporter) -> None:
        """No more reports for `reporter`. Idempotent."""
        bucket = self._bucket_of.pop(reporter, None)
        if bucket is not None:
            self._buckets[bucket].remove(reporter)
        if not self._bucket_of and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        for reporter in list(self._bucket_of):
            self.remove(reporter)

    def _tick(self) -> None:
        due = self._buckets[self._position]
        self._position = (self._position + 1) % len(self._buckets)
        self._timer = asyncio.get_running_loop().call_later(self._tick_seconds, self._tick)
        for reporter in list(due):
            try:
                reporter.report()
            except Exception:
                log.exception("an RTCP report failed")
