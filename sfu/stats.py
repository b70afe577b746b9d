"""Counters the media plane keeps for monitoring: plain integers, cheap on the packet path.

The HTTP layer reads them when `/metrics` is scraped; nothing here knows about Prometheus.
Gauges (rooms, participants) are not kept here: they are counted from the rooms at scrape time.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SfuStats:
    forwarded_packets: int = 0
    forwarded_bytes: int = 0
    dropped_muted_packets: int = 0
    slot_switches: int = 0
    # Seconds from an sfu-join offer to its answer, one entry per join since the last scrape.
    join_seconds: list[float] = field(default_factory=list)

    def take_join_seconds(self) -> list[float]:
        taken, self.join_seconds = self.join_seconds, []
        return taken
