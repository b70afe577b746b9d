"""Running one scenario from the command line: target, bots, progress, files, summary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import uvloop
from rich.console import Console
from rich.table import Table

from benchmarks.progress import Progress
from benchmarks.results import RunResult
from benchmarks.scenarios.base import Scenario
from benchmarks.scenarios.bench import Bench
from benchmarks.server_probe import ServerProbe
from benchmarks.targets import BenchError, local_target, remote_target

SUMMARY = (
    ("participants", "participants", ""),
    ("joins_failed", "failed joins", ""),
    ("join_ms_p50", "join time p50", "ms"),
    ("join_ms_p95", "join time p95", "ms"),
    ("messages_per_existing_listener", "messages per existing listener", ""),
    ("bytes_per_existing_listener", "bytes per existing listener", "B"),
    ("server_cpu_ms_per_join", "server CPU per join (net)", "ms"),
    ("forwarded_packets_per_second", "forwarded packets/s", ""),
    ("server_cpu_percent", "server CPU", "% of one core"),
    ("server_cpu_us_per_forwarded_packet", "server CPU per forwarded packet", "µs"),
    ("server_forwarding_delay_us_p50", "forwarding delay p50", "µs"),
    ("server_forwarding_delay_us_p99", "forwarding delay p99", "µs"),
    ("e2e_delay_ms_p50", "end-to-end delay p50", "ms"),
    ("e2e_delay_ms_p99", "end-to-end delay p99", "ms"),
    ("received_packets", "received packets", ""),
    ("forwarded_minus_received_packets", "forwarded − received", "packets"),
    ("loss_percent", "loss", "%"),
    ("jitter_ms_p95", "jitter p95", "ms"),
    ("server_rss_mb_end", "server RSS", "MiB"),
    ("server_rss_kb_per_participant", "server RSS per participant", "KiB"),
    ("event_loop_lag_ms_p99", "event-loop lag p99", "ms"),
    ("bot_cpu_us_per_received_packet", "bot CPU per received packet", "µs"),
    ("bot_cpu_percent", "bot CPU", "% of one core"),
    ("tones_ok", "tones heard right", ""),
    ("uplink_kbps_per_client", "uplink per client", "kbit/s"),
    ("downlink_kbps_per_client", "downlink per client", "kbit/s"),
    ("client_cpu_percent", "client CPU", "% of one core"),
    ("server_threads_end", "server threads", ""),
    ("server_fds_end", "server fds", ""),
)


def run(scenario: Scenario, values: dict[str, Any], args: argparse.Namespace) -> RunResult:
    """Run `scenario` with `values`; write its JSON and PNGs to args.out; print a summary.

    Raises BenchError for mistakes the user can fix (see benchmarks.targets)."""
    live = not args.json and sys.stdout.isatty()
    result = uvloop.run(_run(scenario, values, args, live))
    out: Path = args.out
    path = result.write(out)
    from benchmarks.plots import plot_run

    pngs = plot_run(result, out)
    console = Console(file=sys.stderr if args.json else sys.stdout, width=100, highlight=False)
    console.print(summary_table(result))
    storm = storm_table(result)
    if storm is not None:
        console.print(storm)
    console.print(f"limit: {result.limit} ({result.parameters.get('limit_detail', '')})")
    for code, message in (result.parameters.get("error_examples") or {}).items():
        console.print(f"failed joins, {code}: {message}")
    console.print(f"wrote {path}" + "".join(f"\n      {p}" for p in pngs))
    return result


async def _run(
    scenario: Scenario, values: dict[str, Any], args: argparse.Namespace, live: bool
) -> RunResult:
    if args.server is None:
        target_context = local_target(media_port=args.media_port)
    else:
        target_context = remote_target(args.server, args.bots_file)
    # The target first: a wrong URL or bots file is one line on stderr, before any display.
    async with target_context as target:
        with Progress(live=live) as progress:
            probe = ServerProbe(target.http, pid=target.pid, metrics_token=args.metrics_token)
            bench = Bench(
                target, probe, progress, processes=args.processes, relay_only=args.relay_only
            )
            try:
                result = await scenario.run(bench, values)
            except BenchError:
                raise
            except Exception:
                if target.log_tail is not None:
                    print(f"--- server log (tail) ---\n{target.log_tail()}", file=sys.stderr)
                raise
            finally:
                await bench.close()
            progress.update(phase="done")
            return result


STORM_COLUMNS = (
    ("listeners", "listeners", "{:,.0f}"),
    ("join_rate_per_second", "joins/s", "{:g}"),
    ("joins", "joins", "{:,.0f}"),
    ("messages_per_existing_listener", "messages / existing listener", "{:,.0f}"),
    ("bytes_per_existing_listener", "kB / existing listener", "{:,.0f}"),
    ("server_cpu_ms_per_join", "server CPU / join (net), ms", "{:.2f}"),
    ("server_cpu_ms_per_join_gross", "gross, ms", "{:.2f}"),
    ("join_ms_p95", "join p95, ms", "{:,.0f}"),
    ("join_connected_ms_p95", "to media up p95, ms", "{:,.0f}"),
)


def storm_table(result: RunResult) -> Table | None:
    """The sweep points' storm figures (issue 15), one row per point; None without them."""
    points = [pt for pt in result.points if "messages_per_existing_listener" in pt]
    if not points:
        return None
    columns = [c for c in STORM_COLUMNS if any(c[0] in pt for pt in points)]
    table = Table(title="join storm, per step (messages: since the storm began / in the step)")
    for _, label, _ in columns:
        table.add_column(label, justify="right")
    for pt in points:
        table.add_row(*(_cell(pt, k, fmt) for k, _, fmt in columns))
    events = sorted({k.split(".", 1)[1] for pt in points for k in pt if "." in k})
    if events:
        last = points[-1]
        by_event = ", ".join(
            f"{e} {last[key]:,.0f}"
            for e in events
            if last.get(key := "messages_per_existing_listener." + e)
        )
        table.caption = f"last step's messages by event: {by_event}"
    return table


def _cell(point: dict[str, float], name: str, fmt: str) -> str:
    if name not in point:
        return "–"
    return fmt.format(point[name] / 1000 if name.startswith("bytes_") else point[name])


def summary_table(result: RunResult) -> Table:
    table = Table(title=f"gethory-bench {result.scenario} — {result.target.get('url')}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for name, label, unit in SUMMARY:
        value = result.figures.get(name)
        if value is None:
            continue
        text = f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.2f}"
        table.add_row(label, text, unit)
    if result.errors:
        table.add_row(
            "failed joins by code", ", ".join(f"{k}: {v}" for k, v in result.errors.items()), ""
        )
    return table
