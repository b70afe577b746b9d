"""What an existing listener is told while others join, and what each join costs the server.

Issue 15's target: while 1,000 listeners join a stage room at 20/s, a listener who was there
first receives O(duration) Socket.IO messages (coalesced `audience-update`s, `speakers`), not
O(1,000) (a `participant-joined` per join), and the server's signaling CPU per join stays
flat as the room grows. A *witness* bot joins before the storm and counts every Socket.IO
event it receives, by name (`MessageTally`); the coordinator turns the counts at two moments
into messages per existing listener (`messages_between`), and the server's CPU seconds at
both ends of a join phase into milliseconds of CPU per join (`cpu_ms_per_join`), net of what
the server spends anyway in the meantime (forwarding audio, timers: `background_rate`).

Pure functions and one small class: no network, no event loop.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Socket.IO's own connection events: not messages the server sends about the room.
CONNECTION_EVENTS = frozenset({"connect", "disconnect", "connect_error"})
FIGURE = "messages_per_existing_listener"  # the total; by event: FIGURE + "." + event
BYTES_FIGURE = "bytes_per_existing_listener"  # the payloads' JSON size, all events
BYTES_KEY = "#bytes"  # in a tally's snapshot: the payloads' total size (not an event name)


class MessageTally:
    """Counts of the Socket.IO events one client received, by event name.

    `count(event, data)` is called from the client's handlers (python-socketio's catch-all
    `*` handler gets every event without a handler of its own; handlers of their own call it
    too). Acknowledgements are not events and are not counted. The payloads' sizes add up
    under BYTES_KEY: compact JSON of the arguments, about what the Socket.IO packet carries
    (without its few bytes of framing), to show what a message weighs, not only how many."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def count(self, event: str, *data: Any) -> None:
        if event not in CONNECTION_EVENTS:
            self.counts[event] += 1
            self.counts[BYTES_KEY] += payload_size(data)

    def snapshot(self) -> dict[str, int]:
        return dict(self.counts)


def payload_size(data: Sequence[Any]) -> int:
    """Bytes of an event's arguments as compact JSON (UTF-8); 0 for no arguments."""
    if not data:
        return 0
    value = data[0] if len(data) == 1 else list(data)
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return len(text.encode())


def add_tallies(tallies: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Several clients' (or processes') counts summed by event name."""
    total: Counter[str] = Counter()
    for tally in tallies:
        total.update(tally)
    return dict(total)


def messages_between(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """Events received between two snapshots of cumulative counts, by name (zeros left out).

    ValueError if a count went down: the snapshots are not of the same witness, in order."""
    delta: dict[str, int] = {}
    for event in sorted(set(before) | set(after)):
        gained = after.get(event, 0) - before.get(event, 0)
        if gained < 0:
            raise ValueError(f"count of {event!r} went down: {before} → {after}")
        if gained:
            delta[event] = gained
    return delta


def message_figures(delta: Mapping[str, int], witnesses: int = 1) -> dict[str, float]:
    """`messages_per_existing_listener` (the total), `messages_per_existing_listener.<event>`
    for each event and `bytes_per_existing_listener` (when the tallies weighed them), per
    witness. Empty when there is no witness."""
    if witnesses <= 0:
        return {}
    events = {event: n for event, n in delta.items() if event != BYTES_KEY}
    figures = {FIGURE: sum(events.values()) / witnesses}
    figures.update({f"{FIGURE}.{event}": n / witnesses for event, n in sorted(events.items())})
    if BYTES_KEY in delta:
        figures[BYTES_FIGURE] = delta[BYTES_KEY] / witnesses
    return figures


def background_rate(*rates: float | None) -> float | None:
    """The server's CPU rate without joins (CPU seconds per second), from the rates of quiet
    windows, e.g. just before and just after a join phase: the mean of those measured
    (None and non-finite rates left out), None if none was."""
    measured = [r for r in rates if r is not None and math.isfinite(r)]
    return sum(measured) / len(measured) if measured else None


def cpu_ms_per_join(
    cpu_seconds: float | None,
    seconds: float,
    joins: int,
    background: float | None = None,
) -> tuple[float | None, float | None]:
    """(gross, net) server CPU milliseconds per join over a join phase.

    `cpu_seconds`: the server's CPU time used during the phase (utime + stime, or the
    difference of `process_cpu_seconds_total`); `seconds`: the phase's wall-clock length;
    `joins`: the joins sent in it; `background`: the server's CPU rate without joins (CPU
    seconds per second, `background_rate`), subtracted over the phase's length for the net
    figure (None when not known; never below zero). (None, None) without CPU or joins."""
    if cpu_seconds is None or joins <= 0 or not math.isfinite(cpu_seconds):
        return None, None
    gross = 1000 * cpu_seconds / joins
    if background is None:
        return gross, None
    net = 1000 * max(0.0, cpu_seconds - background * max(0.0, seconds)) / joins
    return gross, net
