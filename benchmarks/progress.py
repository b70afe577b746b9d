"""Live progress of a run: phase, participants joined, packets/s, loss, server and bot CPU.

On a terminal: a rich `Live` panel redrawn 4 times a second. With --json, or when stdout
is not a TTY (CI logs, pipes): one plain line on stderr every few seconds instead, so
stdout holds only the result.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, fields
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table

PLAIN_EVERY_SECONDS = 5.0


@dataclass
class Status:
    phase: str = "starting"
    joined: int = 0
    target: int = 0
    failed: int = 0
    failures: str = ""  # by code, e.g. "timeout 3, room_full 1"
    packets_per_second: float | None = None
    loss_percent: float | None = None
    server_cpu_percent: float | None = None
    bot_cpu_percent: float | None = None
    witness: str = ""  # what the witness listener has received, e.g. "42 (speakers 30, ...)"


def _number(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}{unit}"


class Progress:
    """`with Progress(live=...) as p: p.update(phase=..., joined=...)`."""

    def __init__(self, *, live: bool) -> None:
        self.status = Status()
        self.live = live
        self._live: Live | None = None
        self._last_plain = 0.0
        self._started = time.monotonic()

    def __enter__(self) -> Progress:
        if self.live:
            self._live = Live(self._render(), console=Console(), refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(kind, error, trace)
            self._live = None

    def update(self, **changes: float | int | str | None) -> None:
        names = {f.name for f in fields(Status)}
        phase_changed = "phase" in changes and changes["phase"] != self.status.phase
        for name, value in changes.items():
            if name not in names:
                raise ValueError(f"unknown progress field {name!r}")
            setattr(self.status, name, value)
        if self._live is not None:
            self._live.update(self._render())
            return
        now = time.monotonic()
        if phase_changed or now - self._last_plain >= PLAIN_EVERY_SECONDS:
            self._last_plain = now
            print(self.line(), file=sys.stderr, flush=True)

    def line(self) -> str:
        s = self.status
        return (
            f"[{time.monotonic() - self._started:6.1f} s] {s.phase}: "
            f"{s.joined}/{s.target} joined, {s.failed} failed"
            + (f" ({s.failures})" if s.failures else "")
            + ", "
            f"{_number(s.packets_per_second)} packets/s, "
            f"loss {_number(s.loss_percent, ' %', 2)}, "
            f"server CPU {_number(s.server_cpu_percent, ' %')}, "
            f"bot CPU {_number(s.bot_cpu_percent, ' %')}"
            + (f", witness received {s.witness}" if s.witness else "")
        )

    def _render(self) -> Table:
        s = self.status
        table = Table(title=f"gethory-bench — {s.phase}", show_header=False, min_width=50)
        table.add_column("what")
        table.add_column("value", justify="right")
        table.add_row("participants joined", f"{s.joined:,} / {s.target:,}")
        table.add_row("failed joins", f"{s.failed:,}" + (f" ({s.failures})" if s.failures else ""))
        table.add_row("packets/s received", _number(s.packets_per_second))
        table.add_row("loss", _number(s.loss_percent, " %", 2))
        table.add_row("server CPU (% of one core)", _number(s.server_cpu_percent, " %"))
        table.add_row("bot CPU (% of one core)", _number(s.bot_cpu_percent, " %"))
        if s.witness:
            table.add_row("messages to the witness", s.witness)
        table.add_row("elapsed", f"{time.monotonic() - self._started:,.0f} s")
        return table
