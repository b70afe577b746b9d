"""`gethory-bench report DIR...`: runs side by side, one table and one comparison plot.

Each column is one run (labelled scenario, target kind, start time, in start order); each
row a figure that at least one of the runs measured ("-" where a run did not), then the
failed joins by error code. With an output directory, `comparison.png` holds bar charts of
the figures that compare servers best: server CPU per forwarded packet, end-to-end delay
p95, loss %, join time p95 (and forwarding delay p95 inside the server, bots' CPU per
received packet, when measured).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich import box
from rich.console import Console
from rich.table import Table

from benchmarks.plots import axis_label
from benchmarks.results import FIGURE_NAMES, RunResult

COMPARISON_FILE = "comparison.png"
COMPARED = (
    "server_cpu_us_per_forwarded_packet",
    "e2e_delay_ms_p95",
    "loss_percent",
    "join_ms_p95",
    "server_forwarding_delay_us_p95",
    "bot_cpu_us_per_received_packet",
)
TABLE_WIDTH = 200  # wide enough for a few runs side by side; rich wraps beyond


def report(paths: Sequence[Path], out_dir: Path | None) -> str:
    """The comparison table of the runs at `paths`, as text; the PNG too when out_dir is set.

    `paths` are result files or directories (every `*.json` directly inside a directory; a
    JSON file there that is not a gethory-bench result is skipped and named under the
    table). Raises ValueError when an explicitly named file is not a result or when no
    result is found at all; FileNotFoundError for a path that does not exist. The returned
    text ends with the comparison PNG's path when one was written.
    """
    results, skipped = load_results(paths)
    text = render_table(results)
    if skipped:
        text += "\nskipped (not gethory-bench results):\n" + "".join(
            f"  {line}\n" for line in skipped
        )
    if out_dir is not None:
        png = plot_comparison(results, out_dir)
        if png is not None:
            text += f"\ncomparison plot: {png}\n"
    return text


def load_results(paths: Sequence[Path]) -> tuple[list[RunResult], list[str]]:
    """The results at `paths` in start order, and one line per skipped file in directories."""
    results: list[RunResult] = []
    skipped: list[str] = []
    for path in paths:
        if path.is_dir():
            for file in sorted(path.glob("*.json")):
                try:
                    results.append(RunResult.read(file))
                except (ValueError, OSError) as error:
                    skipped.append(str(error))
        elif path.exists():
            results.append(RunResult.read(path))
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    if not results:
        where = ", ".join(str(p) for p in paths) or "(no paths)"
        raise ValueError(f"no gethory-bench results in {where}")
    results.sort(key=lambda r: r.started_at)
    return results, skipped


def run_label(result: RunResult) -> str:
    """`scenario` / `target kind` / `started_at`, one per line (the column heading)."""
    return f"{result.scenario}\n{result.target.get('kind', '?')}\n{result.started_at}"


def render_table(results: Sequence[RunResult]) -> str:
    """The side-by-side table as plain text (rich, box-drawn, no colour codes)."""
    table = Table(box=box.SIMPLE_HEAD, show_lines=False, pad_edge=False)
    table.add_column("figure", no_wrap=True)
    for result in results:
        table.add_column(run_label(result), justify="right")
    for label, cells in _rows(results):
        table.add_row(label, *cells)
    buffer = io.StringIO()
    console = Console(file=buffer, width=TABLE_WIDTH, color_system=None, highlight=False)
    console.print(table)
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def _rows(results: Sequence[RunResult]) -> list[tuple[str, list[str]]]:
    rows: list[tuple[str, list[str]]] = [
        ("target url", [str(r.target.get("url") or "-") for r in results]),
        ("machine", [_machine(r) for r in results]),
        ("gethory", [r.versions.get("gethory", "-") for r in results]),
        ("parameters", [_parameters(r) for r in results]),
        ("duration (s)", [format_value(r.duration_seconds) for r in results]),
        ("limit", [r.limit for r in results]),
    ]
    names = list(FIGURE_NAMES)
    names += sorted({n for r in results for n in r.figures} - set(FIGURE_NAMES))
    for name in names:
        values = [r.figures.get(name) for r in results]
        if any(v is not None for v in values):
            rows.append((name, [format_value(v) for v in values]))
    codes = sorted({code for r in results for code in r.errors})
    rows += [
        (f"failed joins: {code}", [str(r.errors.get(code, 0)) for r in results]) for code in codes
    ]
    return rows


def format_value(value: float | int | None) -> str:
    """A figure for the table: "-" for None, integers whole, floats to ~3 significant digits."""
    if value is None:
        return "-"
    if isinstance(value, int) or (abs(value) >= 1000 and float(value).is_integer()):
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.01 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.2g}"


def _machine(result: RunResult) -> str:
    machine = result.machine
    return f"{machine.get('cpu_model', '?')} ×{machine.get('logical_cores', '?')}"


def _parameters(result: RunResult) -> str:
    return " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(result.parameters.items())) or "-"


def plot_comparison(results: Sequence[RunResult], out_dir: Path) -> Path | None:
    """Bar charts of `COMPARED` across runs in `out_dir/comparison.png` (out_dir created).

    Only figures that at least one run measured get a panel; None (no file) when none did.
    """
    names = [n for n in COMPARED if any(r.figures.get(n) is not None for r in results)]
    if not names:
        return None
    columns = 2 if len(names) > 1 else 1
    rows = (len(names) + columns - 1) // columns
    width = max(8.0, 1.3 * len(results) * columns + 2)
    figure = Figure(figsize=(width, 3.2 * rows + 0.8), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False).flatten()
    labels = [run_label(r) for r in results]
    for ax, name in zip(axes, names, strict=False):
        values = [r.figures.get(name) for r in results]
        heights = [float(v) if v is not None else 0.0 for v in values]
        bars = ax.bar(range(len(results)), heights, color="tab:blue")
        ax.bar_label(bars, labels=[format_value(v) for v in values], fontsize=7)
        ax.set_xticks(range(len(results)), labels, fontsize=7)
        ax.set_title(axis_label(name), fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    figure.suptitle('gethory-bench: runs side by side ("-" = not measured)', fontsize=10)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / COMPARISON_FILE
    figure.savefig(path)
    return path
