"""Measuring a server process over a window, and printing the results as a table."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from benchmarks.bots import (
    Bot,
    ProcessSample,
    ServerProcess,
    machine_busy_seconds,
    sample_process,
)

TARGET_RATIO = 15.0
HEARD_SECONDS = 20.0  # for every listener to hear the speaker


async def wait_until_heard(listeners: Sequence[Bot]) -> int:
    """Wait until every listener has received a packet; how many never did."""
    deadline = time.monotonic() + HEARD_SECONDS
    while time.monotonic() < deadline:
        if all(bot.received for bot in listeners):
            return 0
        await asyncio.sleep(0.1)
    return sum(1 for bot in listeners if not bot.received)


@dataclass(frozen=True)
class Measurement:
    mode: str
    listeners: int
    heard_by: int  # listeners that received audio before the window
    window_seconds: float
    server_cpu_seconds: float
    server_system_seconds: float  # the kernel's share of server_cpu_seconds
    server_forwarded: int | None  # from the server's own counter, where it has one
    bots_received: int
    bot_cpu_seconds: float
    machine_busy_seconds: float  # every process on the machine, these two included
    server_threads: int
    server_rss_bytes: int

    @property
    def forwarded(self) -> int:
        return self.bots_received if self.server_forwarded is None else self.server_forwarded

    @property
    def us_per_packet(self) -> float:
        return self.server_cpu_seconds / self.forwarded * 1e6 if self.forwarded else float("inf")

    @property
    def core_percent(self) -> float:
        return self.percent_of_core(self.server_cpu_seconds)

    @property
    def others_cpu_seconds(self) -> float:
        """What the rest of the machine used meanwhile: should be near 0 for a clean run."""
        return self.machine_busy_seconds - self.server_cpu_seconds - self.bot_cpu_seconds

    def percent_of_core(self, cpu_seconds: float) -> float:
        return 100 * cpu_seconds / self.window_seconds

    @property
    def packets_per_second(self) -> float:
        return self.forwarded / self.window_seconds


async def measure(
    mode: str,
    server: ServerProcess,
    listeners: Sequence[Bot],
    seconds: float,
    warmup: float,
    server_counter: Callable[[], Awaitable[int]] | None = None,
) -> Measurement:
    silent = await wait_until_heard(listeners)
    if silent:
        print(f"  warning: {silent} of {len(listeners)} listeners never received audio")
    await asyncio.sleep(warmup)

    # Scrape before the CPU sample at the start and after it at the end: no scrape is billed.
    forwarded_0 = await server_counter() if server_counter else None
    start = Snapshot.take(server.pid, listeners)
    await asyncio.sleep(seconds)
    end = Snapshot.take(server.pid, listeners)
    forwarded_1 = await server_counter() if server_counter else None

    forwarded = None
    if forwarded_0 is not None and forwarded_1 is not None:
        forwarded = forwarded_1 - forwarded_0
    return Measurement(
        mode=mode,
        listeners=len(listeners),
        heard_by=len(listeners) - silent,
        window_seconds=end.wall - start.wall,
        server_cpu_seconds=end.server.cpu_seconds - start.server.cpu_seconds,
        server_system_seconds=end.server.system_seconds - start.server.system_seconds,
        server_forwarded=forwarded,
        bots_received=end.received - start.received,
        bot_cpu_seconds=end.bot_cpu - start.bot_cpu,
        machine_busy_seconds=end.machine_busy - start.machine_busy,
        server_threads=end.server.threads,
        server_rss_bytes=end.server.rss_bytes,
    )


@dataclass(frozen=True)
class Snapshot:
    """Every clock and counter the window needs, read at one moment."""

    wall: float
    server: ProcessSample
    bot_cpu: float  # this process, all threads
    machine_busy: float
    received: int

    @classmethod
    def take(cls, server_pid: int, listeners: Sequence[Bot]) -> Snapshot:
        return cls(
            wall=time.monotonic(),
            server=sample_process(server_pid),
            bot_cpu=time.process_time(),
            machine_busy=machine_busy_seconds(),
            received=sum(bot.received for bot in listeners),
        )


def print_table(results: Sequence[Measurement]) -> None:
    """A Markdown table, ready for RESULTS.md."""
    rows = [
        (
            "mode",
            "listeners heard",
            "window s",
            "server CPU s (sys)",
            "% of a core",
            "forwarded pkt/s",
            "µs CPU / packet",
            "forwarded (server count)",
            "received (bots)",
            "server threads",
            "server RSS MB",
            "bots % core",
            "others % core",
        )
    ]
    for m in results:
        rows.append(
            (
                m.mode,
                f"{m.heard_by}/{m.listeners}",
                f"{m.window_seconds:.1f}",
                f"{m.server_cpu_seconds:.2f} ({m.server_system_seconds:.2f})",
                f"{m.core_percent:.1f}",
                f"{m.packets_per_second:.0f}",
                f"{m.us_per_packet:.1f}",
                "-" if m.server_forwarded is None else str(m.server_forwarded),
                str(m.bots_received),
                str(m.server_threads),
                f"{m.server_rss_bytes / 2**20:.0f}",
                f"{m.percent_of_core(m.bot_cpu_seconds):.1f}",
                f"{m.percent_of_core(m.others_cpu_seconds):.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
        print("| " + " | ".join(cells) + " |")
        if n == 0:
            rule = [":" + "-" * (widths[0] + 1)] + ["-" * (w + 1) + ":" for w in widths[1:]]
            print("|" + "|".join(rule) + "|")
    by_mode = {m.mode: m for m in results}
    if "gethory" in by_mode and "stock" in by_mode:
        ratio = by_mode["stock"].us_per_packet / by_mode["gethory"].us_per_packet
        verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
        print(f"\nstock / gethory CPU per forwarded packet: {ratio:.1f}×")
        print(f"target ≥ {TARGET_RATIO:.0f}×: {verdict}")
