"""One gethory-bench run as data: a `RunResult`, written to and read from a JSON file.

A result file is a JSON object (UTF-8, indent 2) named `<scenario>-<YYYYmmddTHHMMSSZ>.json`
(the run's start in UTC) with `"format": 1` and the `RunResult` fields. `figures` always
holds every name in `FIGURE_NAMES` (null where the run could not measure it), so runs of
different scenarios line up in `gethory-bench report`. Units are in the names: `_us` µs,
`_ms` ms, `_mb` MiB, `_kb` KiB, `_percent` percent of one core (CPU) or of expected packets
(loss), `_kbps` kbit/s.

This module imports only the standard library, so reading and reporting results does not
need aiortc or a server.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FORMAT = 1  # the `format` field of every result file; bumped when a field changes meaning

FIGURE_NAMES: tuple[str, ...] = (
    "server_cpu_us_per_forwarded_packet",
    "server_cpu_percent",
    "forwarded_packets",
    "forwarded_packets_per_second",
    "server_forwarding_delay_us_p50",
    "server_forwarding_delay_us_p95",
    "server_forwarding_delay_us_p99",
    "e2e_delay_ms_p50",
    "e2e_delay_ms_p95",
    "e2e_delay_ms_p99",
    "received_packets",
    "expected_packets",
    "lost_packets",
    "loss_percent",
    "duplicate_packets",
    "reordered_packets",
    "jitter_ms_p95",
    "slot_switches",
    "marker_packets",
    "join_ms_p50",
    "join_ms_p95",
    "join_ms_p99",
    "joins_ok",
    "joins_failed",
    "participants",
    "server_rss_mb_start",
    "server_rss_mb_peak",
    "server_rss_mb_end",
    "server_rss_kb_per_participant",
    "event_loop_lag_ms_p99",
    "event_loop_lag_ms_max",
    "bot_cpu_us_per_received_packet",
    "bot_cpu_percent",
    "bot_processes",
    "tones_checked",
    "tones_ok",
    "uplink_kbps_per_client",
    "downlink_kbps_per_client",
    "client_cpu_percent",
    "server_threads_start",
    "server_threads_end",
    "server_fds_start",
    "server_fds_end",
    "messages_per_existing_listener",
    "server_cpu_ms_per_join",
)

SERIES_NAMES: tuple[str, ...] = (
    "participants",
    "packets_per_second",
    "loss_percent",
    "server_cpu_percent",
    "server_rss_mb",
    "bot_cpu_percent",
)

Figure = float | int | None
Series = list[tuple[float, float]]

_STAMP = "%Y%m%dT%H%M%SZ"
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "scenario": str,
    "parameters": dict,
    "target": dict,
    "machine": dict,
    "versions": dict,
    "started_at": str,
    "duration_seconds": (int, float),
    "figures": dict,
    "series": dict,
    "distributions": dict,
    "points": list,
    "errors": dict,
    "limit": str,
}


def empty_figures() -> dict[str, Figure]:
    """Every name of `FIGURE_NAMES` mapped to None (not measured), in the documented order."""
    return dict.fromkeys(FIGURE_NAMES)


def make_figures(
    values: Mapping[str, Figure] | None = None, /, **more: Figure
) -> dict[str, Figure]:
    """The full figures dict: every `FIGURE_NAMES` key, None unless given in `values`/`more`.

    Raises ValueError for a name that is not in `FIGURE_NAMES` (a typo would otherwise write
    a figure that no report or plot ever shows). NaN and infinities become None.
    """
    given = {**(values or {}), **more}
    unknown = sorted(set(given) - set(FIGURE_NAMES))
    if unknown:
        raise ValueError(f"unknown figure name(s): {', '.join(unknown)}")
    figures = empty_figures()
    figures.update({name: _finite_or_none(value) for name, value in given.items()})
    return figures


def utc_now() -> str:
    """The current time as ISO 8601 UTC with second precision, e.g. `2026-12-01T10:02:07Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RunResult:
    """Everything one run measured; see the module docstring and benchmarks/README.md.

    `series` values are (seconds since the run started, value) pairs; `distributions` are
    raw samples (e.g. "e2e_delay_ms", "join_ms") for CDF plots; `points` holds one dict of
    figures per step of a sweep (e.g. {"listeners": 100, "server_cpu_percent": 31.0}, or
    {"join_rate_per_second": 20, "join_ms_p50": ..., "join_ms_p95": ...} for join-storm);
    `errors` counts failed joins by error code; `limit` says what ran out first ("server",
    "bots", "none", "join-deadline", ...).
    """

    scenario: str
    parameters: dict[str, Any]
    target: dict[str, Any]
    machine: dict[str, Any]
    versions: dict[str, str]
    started_at: str
    duration_seconds: float
    figures: dict[str, float | int | None] = field(default_factory=empty_figures)
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    distributions: dict[str, list[float]] = field(default_factory=dict)
    points: list[dict[str, float]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    limit: str = "none"

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the result file (strict JSON: non-finite numbers are dropped).

        Figures missing from `figures` are written as null; extra names are kept. NaN and
        infinite figures and point values become null; non-finite samples and series points
        are left out.
        """
        figures = empty_figures()
        figures.update({k: _finite_or_none(v) for k, v in self.figures.items()})
        return {
            "format": FORMAT,
            "scenario": self.scenario,
            "parameters": self.parameters,
            "target": self.target,
            "machine": self.machine,
            "versions": self.versions,
            "started_at": self.started_at,
            "duration_seconds": self.duration_seconds,
            "figures": figures,
            "series": {
                name: [[t, v] for t, v in pairs if math.isfinite(t) and math.isfinite(v)]
                for name, pairs in self.series.items()
            },
            "distributions": {
                name: [s for s in samples if math.isfinite(s)]
                for name, samples in self.distributions.items()
            },
            "points": [{k: _finite_or_none(v) for k, v in p.items()} for p in self.points],
            "errors": self.errors,
            "limit": self.limit,
        }

    def file_stem(self) -> str:
        """`<scenario>-<YYYYmmddTHHMMSSZ>` from `started_at` (now, if it does not parse)."""
        try:
            started = _parse_time(self.started_at)
        except ValueError:
            started = datetime.now(UTC)
        return f"{self.scenario}-{started.strftime(_STAMP)}"

    def write(self, out_dir: Path) -> Path:
        """Write `out_dir/<scenario>-<UTC stamp>.json` (creating out_dir); return its path.

        A file of that name already there (two runs in one second) is not overwritten: the
        new one gets a `-2`, `-3`... suffix.
        """
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = self.file_stem()
        path = out_dir / f"{stem}.json"
        n = 1
        while path.exists():
            n += 1
            path = out_dir / f"{stem}-{n}.json"
        text = json.dumps(self.to_json(), indent=2, allow_nan=False)
        path.write_text(text + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_json(cls, data: Any, source: str = "<json>") -> RunResult:
        """A RunResult from a parsed result object; ValueError names `source` and the field."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: not a gethory-bench result (not a JSON object)")
        if "format" not in data:
            raise ValueError(f"{source}: not a gethory-bench result (no 'format' field)")
        if data["format"] != FORMAT:
            raise ValueError(
                f"{source}: unsupported gethory-bench result format {data['format']!r} "
                f"(field 'format'; this version reads {FORMAT})"
            )
        for name, kind in _REQUIRED.items():
            if name not in data:
                raise ValueError(f"{source}: not a gethory-bench result (no '{name}' field)")
            value = data[name]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(
                    f"{source}: field '{name}' has the wrong type ({type(value).__name__})"
                )
        figures = empty_figures()
        for name, value in data["figures"].items():
            figures[name] = _optional_number(value, source, f"figures.{name}")
        return cls(
            scenario=data["scenario"],
            parameters=data["parameters"],
            target=data["target"],
            machine=data["machine"],
            versions={str(k): str(v) for k, v in data["versions"].items()},
            started_at=data["started_at"],
            duration_seconds=float(data["duration_seconds"]),
            figures=figures,
            series={
                name: _pairs(pairs, source, f"series.{name}")
                for name, pairs in data["series"].items()
            },
            distributions={
                name: _samples(samples, source, f"distributions.{name}")
                for name, samples in data["distributions"].items()
            },
            points=[_point(p, source, f"points[{i}]") for i, p in enumerate(data["points"])],
            errors={
                str(code): int(_number(n, source, f"errors.{code}"))
                for code, n in data["errors"].items()
            },
            limit=data["limit"],
        )

    @classmethod
    def read(cls, path: Path) -> RunResult:
        """Read and validate a result file written by `write`.

        Raises ValueError naming the file (and the field, where one is wrong) when it is not
        JSON or not a gethory-bench result; OSError when it cannot be read.
        """
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not a gethory-bench result (not JSON: {error})") from None
        return cls.from_json(data, str(path))


def percentiles(samples: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    """(p50, p95, p99) of `samples` by the nearest-rank method; (None, None, None) if empty.

    Nearest rank: the p-th percentile is the smallest sample with at least p % of the samples
    at or below it, i.e. sorted[ceil(p/100 * n) - 1]. Every percentile is therefore a value
    that was actually measured (no interpolation); for n < 100 the p99 is the maximum.
    NaN samples are ignored.
    """
    ordered = sorted(s for s in samples if not math.isnan(s))
    if not ordered:
        return (None, None, None)
    n = len(ordered)

    def rank(p: float) -> float:
        return ordered[max(1, math.ceil(p / 100 * n)) - 1]

    return (rank(50), rank(95), rank(99))


def percentile_figures(name: str, samples: Sequence[float]) -> dict[str, Figure]:
    """{"<name>_p50", "<name>_p95", "<name>_p99"} from `percentiles(samples)`, for make_figures.

    E.g. `make_figures(**percentile_figures("e2e_delay_ms", delays))`; the names exist for
    e2e_delay_ms, join_ms and server_forwarding_delay_us.
    """
    p50, p95, p99 = percentiles(samples)
    return {f"{name}_p50": p50, f"{name}_p95": p95, f"{name}_p99": p99}


def machine_description() -> dict[str, Any]:
    """The machine a run was made on: {"cpu_model", "logical_cores", "memory_total_mb",
    "kernel", "hostname", "python", "os", "arch"}.

    cpu_model is /proc/cpuinfo's first `model name` ("unknown" elsewhere), memory_total_mb
    /proc/meminfo's MemTotal in MiB (None elsewhere), kernel `uname -r` (platform.release()).
    """
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "memory_total_mb": _memory_total_mb(),
        "kernel": platform.release(),
        "hostname": socket.gethostname(),
        "python": platform.python_version(),
        "os": platform.system(),
        "arch": platform.machine(),
    }


_PACKAGES = {
    "aiortc": "aiortc",
    "aioice": "aioice",
    "av": "av",
    "aiohttp": "aiohttp",
    "python-socketio": "python-socketio",
}


def versions() -> dict[str, str]:
    """{"python", "aiortc", "aioice", "av", "aiohttp", "python-socketio", "gethory"}.

    Package versions come from the installed distributions ("not installed" if absent).
    gethory is `git rev-parse --short HEAD` with a `+dirty` suffix when the checkout has
    uncommitted changes (`git status --porcelain`), or the installed package version when
    this code does not run from a git checkout.
    """
    found = {"python": platform.python_version()}
    for key, dist in _PACKAGES.items():
        found[key] = _dist_version(dist)
    found["gethory"] = _gethory_version()
    return found


# --- helpers --------------------------------------------------------------------------------


def _finite_or_none(value: Figure) -> Figure:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _optional_number(value: Any, source: str, where: str) -> Figure:
    return None if value is None else _number(value, source, where)


def _number(value: Any, source: str, where: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{source}: field '{where}' is not a number ({value!r:.40})")
    return value


def _pairs(value: Any, source: str, where: str) -> Series:
    if not isinstance(value, list):
        raise ValueError(f"{source}: field '{where}' is not a list of [seconds, value] pairs")
    pairs: Series = []
    for i, pair in enumerate(value):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError(f"{source}: field '{where}[{i}]' is not a [seconds, value] pair")
        t = _number(pair[0], source, f"{where}[{i}]")
        v = _number(pair[1], source, f"{where}[{i}]")
        pairs.append((float(t), float(v)))
    return pairs


def _samples(value: Any, source: str, where: str) -> list[float]:
    if not isinstance(value, list):
        raise ValueError(f"{source}: field '{where}' is not a list of numbers")
    return [float(_number(s, source, f"{where}[{i}]")) for i, s in enumerate(value)]


def _point(value: Any, source: str, where: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ValueError(f"{source}: field '{where}' is not an object")
    point: dict[str, float] = {}
    for key, number in value.items():
        checked = _optional_number(number, source, f"{where}.{key}")
        if checked is not None:  # null (not measured at that step) reads as absent
            point[str(key)] = float(checked)
    return point


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or "unknown"
    for line in lines:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_total_mb() -> float | None:
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        match = re.match(r"MemTotal:\s+(\d+)\s*kB", line)
        if match:
            return round(int(match.group(1)) / 1024, 1)
    return None


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git(args: Iterable[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _gethory_version() -> str:
    tree = Path(__file__).resolve().parent.parent
    rev = _git(["rev-parse", "--short", "HEAD"], tree) if (tree / ".git").exists() else None
    if rev:
        status = _git(["status", "--porcelain", "--untracked-files=no"], tree)
        return f"{rev}+dirty" if status else rev
    return f"{_dist_version('gethory')} (package)"


if __name__ == "__main__":  # a quick look at what a run would record about this machine
    json.dump({"machine": machine_description(), "versions": versions()}, sys.stdout, indent=2)
    print()
