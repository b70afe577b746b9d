"""PNG plots of one gethory-bench run (matplotlib, no display needed).

`plot_run` draws the plots whose data the run has and skips the others:

| file (`<scenario>-<stamp>-…png`) | drawn from                                          |
|----------------------------------|-----------------------------------------------------|
| `cpu-vs-listeners`               | `points` with "listeners" (or "participants") and    |
|                                  | server_cpu_us_per_forwarded_packet / server_cpu_percent |
| `cdf-<distribution>`             | each non-empty `distributions` entry (e2e_delay_ms,  |
|                                  | join_ms, ...): the fraction of samples ≤ x           |
| `join-vs-rate`                   | `points` with "join_rate_per_second" and join_ms_p50 |
|                                  | / join_ms_p95 (join-storm)                           |
| `rss-vs-participants`            | `points` with participants/listeners and             |
|                                  | server_rss_mb_peak (or server_rss_mb), else the      |
|                                  | `server_rss_mb` and `participants` series together   |
| `over-time`                      | every non-empty `series`, one panel each (packets/s, |
|                                  | loss %, participants, CPU %, RSS) against seconds    |
| `storm-vs-listeners`             | `points` with "listeners" and                        |
|                                  | messages_per_existing_listener (issue 15): messages  |
|                                  | to the witness, server CPU per join, join p95        |

Figures are built with matplotlib's object API (`matplotlib.figure.Figure`, rendered by the
Agg canvas on `savefig`), never pyplot, so nothing needs a display and no global figure
state survives a call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from benchmarks.results import RunResult

SWEEP_KEYS = ("listeners", "participants")  # x of the CPU and RSS sweeps, first one present
JOIN_RATE_KEY = "join_rate_per_second"  # x of the join-storm steps
DPI = 110

# Axis labels for names that carry their unit as a suffix.
_UNITS = {"ms": "ms", "us": "µs", "mb": "MiB", "kb": "KiB", "percent": "%", "kbps": "kbit/s"}
_WORDS = {"cpu": "CPU", "rss": "RSS", "fds": "fds", "e2e": "end-to-end", "join": "join time"}
_SERIES_LABELS = {
    "packets_per_second": "packets received by listeners (/s)",
    "loss_percent": "loss (% of expected packets)",
    "participants": "participants joined",
    "server_cpu_percent": "server CPU (% of one core)",
    "bot_cpu_percent": "bots' CPU (% of one core)",
    "server_rss_mb": "server RSS (MiB)",
}
_SERIES_ORDER = tuple(_SERIES_LABELS)
_LINE_LABELS = {"server_cpu_percent": "server", "bot_cpu_percent": "bots"}
_DISTRIBUTION_LABELS = {
    "e2e_delay_ms": "end-to-end delay: speaker send → listener receive (ms)",
    "join_ms": "join time: join sent → first audio packet (ms)",
    "server_forwarding_delay_us": "forwarding delay inside the server (µs)",
}


def plot_run(result: RunResult, out_dir: Path) -> list[Path]:
    """Write the PNGs that apply to `result` into `out_dir` (created); return their paths.

    Files are named `<scenario>-<YYYYmmddTHHMMSSZ>-<plot>.png` (the stem of the run's JSON
    file). A plot whose data the run lacks is skipped, so a run with no points, series or
    distributions yields an empty list.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = result.file_stem()
    written: list[Path] = []
    plotters: list[tuple[str, str, Callable[[RunResult, Figure], bool]]] = [
        ("cpu-vs-listeners", "Server CPU vs room size", _cpu_vs_listeners),
        ("join-vs-rate", "Join time vs join rate", _join_vs_rate),
        ("rss-vs-participants", "Server memory vs participants", _rss_vs_participants),
        ("over-time", "Over time", _over_time),
        ("storm-vs-listeners", "Join storm vs room size", _storm_vs_listeners),
    ]
    plotters += [
        (f"cdf-{name.replace('_', '-')}", f"CDF of {_distribution_label(name)}", _cdf_plotter(name))
        for name, samples in sorted(result.distributions.items())
        if samples
    ]
    for suffix, what, draw in plotters:
        figure = Figure(figsize=(9, 5.5), dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        if not draw(result, figure):
            continue
        figure.suptitle(title(result, what), fontsize=10)
        path = out_dir / f"{stem}-{suffix}.png"
        figure.savefig(path)
        written.append(path)
    return written


def title(result: RunResult, what: str) -> str:
    """`what — scenario → target kind (url)` over `machine: cpu ×cores, kernel · started_at`."""
    target = str(result.target.get("kind", "?"))
    url = result.target.get("url")
    if url:
        target += f" ({url})"
    machine = result.machine
    host = f"{machine.get('cpu_model', '?')} ×{machine.get('logical_cores', '?')}"
    return (
        f"{what} — {result.scenario} → {target}\n"
        f"{host}, Linux {machine.get('kernel', '?')} · {result.started_at}"
    )


def axis_label(name: str) -> str:
    """A figure name made readable, its unit word moved to the end in parentheses.

    `e2e_delay_ms_p95` → `end-to-end delay p95 (ms)`, `server_cpu_us_per_forwarded_packet`
    → `server CPU per forwarded packet (µs)`, `forwarded_packets_per_second` →
    `forwarded packets (/s)`.
    """
    words = name.split("_")
    unit = None
    if words[-2:] == ["per", "second"]:
        words, unit = words[:-2], "/s"
    else:
        for i, word in enumerate(words):
            if word in _UNITS:
                unit = _UNITS[word]
                del words[i]
                break
    text = " ".join(_WORDS.get(w, w) for w in words)
    return f"{text} ({unit})" if unit else text


# --- the plots (each returns False when its data is absent) ---------------------------------


def _sweep_key(points: Sequence[dict[str, float]]) -> str | None:
    for key in SWEEP_KEYS:
        if any(key in point for point in points):
            return key
    return None


def _xy(points: Sequence[dict[str, float]], x: str, y: str) -> tuple[list[float], list[float]]:
    """The (x, y) pairs of the points that have both, sorted by x."""
    pairs = sorted((p[x], p[y]) for p in points if x in p and y in p)
    return [a for a, _ in pairs], [b for _, b in pairs]


def _cpu_vs_listeners(result: RunResult, figure: Figure) -> bool:
    key = _sweep_key(result.points)
    if key is None:
        return False
    panels = [
        (["server_cpu_us_per_forwarded_packet"], "server CPU per forwarded packet (µs)"),
        (["server_cpu_percent", "bot_cpu_percent"], "CPU (% of one core)"),
    ]
    drawn = [(names, label) for names, label in panels if _xy(result.points, key, names[0])[0]]
    if not drawn:
        return False
    axes = figure.subplots(1, len(drawn), squeeze=False)[0]
    for ax, (names, label) in zip(axes, drawn, strict=True):
        for name in names:
            xs, ys = _xy(result.points, key, name)
            if xs:
                ax.plot(xs, ys, marker="o", label=_LINE_LABELS.get(name, name))
        _finish(ax, key, label, legend=len(names) > 1)
        ax.set_ylim(bottom=0)
    return True


_STORM_PANELS = (
    (
        ("messages_per_existing_listener",),
        "messages to an existing listener",
    ),
    (("server_cpu_ms_per_join", "server_cpu_ms_per_join_gross"), "server CPU per join (ms)"),
    (("join_ms_p95", "join_connected_ms_p95"), "join time p95 (ms)"),
)
_STORM_LINES = {
    "server_cpu_ms_per_join": "net of the background",
    "server_cpu_ms_per_join_gross": "gross",
    "join_ms_p95": "join → first packet (signaling only: → ack)",
    "join_connected_ms_p95": "join → media up",
}


def _storm_vs_listeners(result: RunResult, figure: Figure) -> bool:
    """Issue 15's three figures against the listeners in the room (large-room points)."""
    if not _xy(result.points, "listeners", "messages_per_existing_listener")[0]:
        return False
    axes = figure.subplots(1, len(_STORM_PANELS), squeeze=False)[0]
    for ax, (names, label) in zip(axes, _STORM_PANELS, strict=True):
        for name in names:
            xs, ys = _xy(result.points, "listeners", name)
            if xs:
                ax.plot(xs, ys, marker="o", label=_STORM_LINES.get(name, name))
        _finish(ax, "listeners", label, legend=len(names) > 1)
        ax.set_ylim(bottom=0)
    return True


def _join_vs_rate(result: RunResult, figure: Figure) -> bool:
    lines = [
        (name, _xy(result.points, JOIN_RATE_KEY, name))
        for name in ("join_ms_p50", "join_ms_p95", "join_ms_p99")
    ]
    lines = [(name, xy) for name, xy in lines if xy[0]]
    if not lines:
        return False
    ax = figure.subplots()
    for name, (xs, ys) in lines:
        ax.plot(xs, ys, marker="o", label=name.rsplit("_", 1)[1])
    _finish(ax, "join rate (joins/s)", "join time: join sent → first audio packet (ms)")
    ax.set_ylim(bottom=0)
    return True


def _rss_vs_participants(result: RunResult, figure: Figure) -> bool:
    key = _sweep_key(result.points)
    xs: list[float] = []
    ys: list[float] = []
    if key is not None:
        for name in ("server_rss_mb_peak", "server_rss_mb_end", "server_rss_mb"):
            xs, ys = _xy(result.points, key, name)
            if xs:
                break
    if not xs:
        key = "participants"
        xs, ys = _rss_from_series(result)
    if not xs:
        return False
    ax = figure.subplots()
    ax.plot(xs, ys, marker="o" if len(xs) < 50 else None)
    _finish(ax, f"{key} joined", "server RSS (MiB)")
    return True


def _rss_from_series(result: RunResult) -> tuple[list[float], list[float]]:
    """RSS against participants from the two time series (participants interpolated)."""
    rss = result.series.get("server_rss_mb") or []
    people = result.series.get("participants") or []
    if not rss or not people:
        return [], []
    at = np.interp([t for t, _ in rss], [t for t, _ in people], [v for _, v in people])
    return [float(x) for x in at], [v for _, v in rss]


def _over_time(result: RunResult, figure: Figure) -> bool:
    names = [n for n in _SERIES_ORDER if result.series.get(n)]
    names += sorted(n for n, s in result.series.items() if s and n not in _SERIES_LABELS)
    if not names:
        return False
    figure.set_size_inches(9, 1.0 + 1.9 * len(names))
    axes = figure.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, names, strict=True):
        pairs = result.series[name]
        ax.plot([t for t, _ in pairs], [v for _, v in pairs], linewidth=1.2)
        _finish(ax, "", _SERIES_LABELS.get(name, axis_label(name)))
        ax.set_ylim(bottom=0)
    axes[-1].set_xlabel("time since start (s)")
    return True


def _cdf_plotter(name: str) -> Callable[[RunResult, Figure], bool]:
    def draw(result: RunResult, figure: Figure) -> bool:
        samples = np.sort(np.asarray(result.distributions.get(name) or [], dtype=float))
        if samples.size == 0:
            return False
        ax = figure.subplots()
        fraction = np.arange(1, samples.size + 1) / samples.size
        ax.step(samples, fraction, where="post")
        for p, style in ((50, ":"), (95, "--"), (99, "-.")):
            value = samples[max(1, int(np.ceil(p / 100 * samples.size))) - 1]
            ax.axvline(value, color="grey", linestyle=style, linewidth=0.8)
            ax.annotate(
                f"p{p} {value:.3g}",
                (value, p / 100),
                fontsize=8,
                xytext=(4, -10),
                textcoords="offset points",
            )
        _finish(ax, _distribution_label(name), f"fraction of samples ≤ x (n = {samples.size})")
        ax.set_ylim(0, 1.02)
        return True

    return draw


def _distribution_label(name: str) -> str:
    return _DISTRIBUTION_LABELS.get(name, axis_label(name))


def _finish(ax: Axes, xlabel: str, ylabel: str, *, legend: bool = True) -> None:
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
