"""Counters the media plane keeps for monitoring: plain integers, cheap on the packet path.

The HTTP layer reads them when `/metrics` is scraped; nothing here knows about Prometheus.
Gauges (rooms, participants) are not kept here: they are counted from the rooms at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

# Upper bounds (µs) of the forwarding-delay buckets: a few µs for one copy up to tens of ms
# for a fan-out to thousands of listeners, or a packet held up behind other work.
FORWARDING_DELAY_BOUNDS_US: tuple[float, ...] = (
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000,
)  # fmt: skip


class DelayHistogram:
    """Cumulative-at-read histogram of delays in µs: one bucket count per upper bound in
    `bounds` plus one for everything above (Prometheus' `+Inf`), the sum and the count.

    `observe` is one bisect and two additions: it runs once per received RTP packet."""

    def __init__(self, bounds: tuple[float, ...] = FORWARDING_DELAY_BOUNDS_US) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # per bucket, not cumulative
        self.sum_us = 0.0

    def observe(self, delay_us: float) -> None:
        self.counts[bisect_left(self.bounds, delay_us)] += 1
        self.sum_us += delay_us

    @property
    def count(self) -> int:
        return sum(self.counts)


@dataclass
class SfuStats:
    forwarded_packets: int = 0
    forwarded_bytes: int = 0
    dropped_muted_packets: int = 0
    # A stage room's listeners' audio, dropped whatever their client sends.
    dropped_listener_packets: int = 0
    slot_switches: int = 0
    # Seconds from an sfu-join offer to its answer, one entry per join since the last scrape.
    join_seconds: list[float] = field(default_factory=list)
    # Per received packet sent on to at least one slot: from `Room.route` taking it (after
    # SRTP unprotect and RTP parse) to its last copy handed to the kernel, in µs.
    forwarding_delay: DelayHistogram = field(default_factory=DelayHistogram)

    def take_join_seconds(self) -> list[float]:
        taken, self.join_seconds = self.join_seconds, []
        return taken
