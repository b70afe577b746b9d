"""What a scenario is: a name, documented parameters with defaults, and a run function."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.results import RunResult
    from benchmarks.scenarios.bench import Bench


@dataclass(frozen=True)
class Param:
    """One scenario parameter: `--<name with dashes>` on the command line."""

    name: str  # the Python name, e.g. "room_size" (flag --room-size)
    kind: type  # int | float | str, or bool: a switch (`--stage`), False unless given
    default: Any
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


RunFunction = Callable[["Bench", dict[str, Any]], Awaitable["RunResult"]]


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str  # one paragraph: what it loads and what it measures
    params: tuple[Param, ...]
    run: RunFunction
    # Scenario-specific rules (ValueError, one line), checked before any server or bot starts.
    check: Callable[[dict[str, Any]], None] | None = None

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def validate(self, values: dict[str, Any]) -> None:
        """ValueError (one line) for a parameter out of range."""
        for param in self.params:
            value = values[param.name]
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{param.flag} must be a finite number")
            if isinstance(value, int | float) and value < 0:
                raise ValueError(f"{param.flag} must not be negative")
        if self.check is not None:
            self.check(values)
