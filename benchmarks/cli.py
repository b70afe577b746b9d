"""gethory-bench: load a Gethory server with cheap bots and measure it.

    gethory-bench [--server URL] [--scenario NAME] [scenario parameters] [--duration S]
                  [--out DIR] [--json] [--processes N] [--bots-file FILE]
                  [--metrics-token T] [--relay-only]
    gethory-bench report DIR_OR_FILE...
    gethory-bench scenarios            (every scenario, its parameters and defaults)

Without --server it starts a local server itself (development, RATE_LIMITS=off, loopback
only). With --server it loads that deployment: the bots' accounts come from --bots-file
(`gethory admin create-bots` run where the server runs), their ICE servers (TURN) from the
server, its CPU and memory from its /metrics (--metrics-token in production).

Each run writes its result JSON and PNG plots to --out (default bench-results/) and prints a
summary table (with --json: the result JSON on stdout instead). A mistake the user can fix
(a bad or unreachable URL, a wrong bots file, a server refusing joins) is one line on stderr
and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.scenarios import SCENARIOS, Param, Scenario
from benchmarks.targets import BenchError

DEFAULT_OUT = Path("bench-results")
EXIT_USAGE = 2


def _all_params() -> dict[str, Param]:
    """Every scenario parameter by name (the same name means the same thing everywhere)."""
    params: dict[str, Param] = {}
    for scenario in SCENARIOS.values():
        for param in scenario.params:
            params.setdefault(param.name, param)
    return params


def _scenario_help() -> str:
    lines = ["scenarios (parameter defaults per scenario):"]
    for scenario in SCENARIOS.values():
        flags = ", ".join(f"{p.flag} {p.default}" for p in scenario.params)
        lines.append(f"  {scenario.name}: {flags}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gethory-bench",
        description="Load a Gethory server with bots; write JSON results and PNG plots.",
        epilog=_scenario_help() + "\n\nAlso: gethory-bench report DIR...; gethory-bench "
        "scenarios (each scenario explained).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--server", metavar="URL", help="a running Gethory server (default: start one here)"
    )
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="fanout")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the JSON and PNGs go")
    parser.add_argument(
        "--json", action="store_true", help="print the result JSON on stdout (no live display)"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 1,
        help="bot processes (default: one per core)",
    )
    parser.add_argument(
        "--bots-file",
        type=Path,
        help="accounts from `gethory admin create-bots --out FILE` (needed with --server)",
    )
    parser.add_argument("--metrics-token", help="the server's METRICS_TOKEN, to read its /metrics")
    parser.add_argument(
        "--relay-only", action="store_true", help="bots use TURN relay candidates only"
    )
    parser.add_argument(
        "--media-port",
        action="store_true",
        help="the server started here takes all media on one UDP port (RTC_UDP_PORT), as the "
        "Compose stack runs it (default: a socket per connection)",
    )
    for param in _all_params().values():
        if param.kind is bool:  # a switch: given or not (None: the scenario's default)
            parser.add_argument(
                param.flag, dest=param.name, action="store_true", default=None, help=param.help
            )
            continue
        parser.add_argument(
            param.flag,
            dest=param.name,
            type=param.kind,
            default=None,
            metavar=param.kind.__name__.upper(),
            help=f"{param.help} (default per scenario)".replace("%", "%%"),
        )
    return parser


def scenario_values(scenario: Scenario, args: argparse.Namespace) -> dict[str, Any]:
    """The scenario's parameters: its defaults, overridden by the flags given."""
    values = scenario.defaults()
    for param in scenario.params:
        given = getattr(args, param.name, None)
        if given is not None:
            values[param.name] = given
    scenario.validate(values)
    return values


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:
        raise SystemExit(_report(argv[1:]))
    if argv[:1] == ["scenarios"]:
        print(describe_scenarios())
        return
    parser = build_parser()
    args = parser.parse_args(argv)
    scenario = SCENARIOS[args.scenario]
    try:
        values = scenario_values(scenario, args)
    except ValueError as error:
        parser.error(str(error))
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    # Before the run, not after it: a result that cannot be written is a run lost.
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        parser.error(f"--out {args.out}: {error.strerror}")
    if not os.access(args.out, os.W_OK | os.X_OK):
        parser.error(f"--out {args.out}: not writable")
    ignored = sorted(
        p.flag
        for p in _all_params().values()
        if getattr(args, p.name) is not None and p.name not in values
    )
    if ignored:
        print(f"gethory-bench: {args.scenario} ignores {', '.join(ignored)}", file=sys.stderr)
    # SIGTERM (`timeout`, a CI job cancelled, systemd) ends a run the way Ctrl-C does: bots
    # leave, then the local server is stopped and its temporary directory removed. Its default
    # action would kill this process alone, leaving the server draining without us.
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        from benchmarks.scenarios.runner import run

        result = run(scenario, values, args)
    except BenchError as error:
        print(f"gethory-bench: {error}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    except Terminated:
        print("gethory-bench: terminated; bots and server stopped", file=sys.stderr)
        raise SystemExit(128 + signal.SIGTERM) from None
    except KeyboardInterrupt:
        print("gethory-bench: interrupted; bots and server stopped", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=2)
        print()


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be, so the same clean-up runs."""


def _terminated(signum: int, frame: object) -> None:
    raise Terminated


def _report(argv: Sequence[str]) -> int:
    """`report [--out DIR] PATH...`: the comparison table on stdout; comparison.png in --out
    (default: the first directory given, or the first file's directory)."""
    parser = argparse.ArgumentParser(
        prog="gethory-bench report", description="Compare gethory-bench runs side by side."
    )
    parser.add_argument("paths", nargs="*", metavar="DIR_OR_FILE")
    parser.add_argument("--out", type=Path, help="where comparison.png goes")
    args = parser.parse_args(argv)
    if not args.paths:
        print("gethory-bench report: give result files or directories", file=sys.stderr)
        return EXIT_USAGE
    from benchmarks.report import report

    # Directories as they are: benchmarks.report skips (and names) a JSON file in one that
    # is not a result; only a file named on the command line must be one.
    paths = [Path(name) for name in args.paths]
    first = paths[0]
    out_dir: Path = args.out or (first if first.is_dir() else first.parent)
    try:
        print(report(paths, out_dir))
    except (ValueError, OSError) as error:
        print(f"gethory-bench report: {error}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def describe_scenarios() -> str:
    blocks = []
    for scenario in SCENARIOS.values():
        lines = [f"{scenario.name}: {scenario.summary}"]
        lines += [f"    {p.flag} (default {p.default}): {p.help}" for p in scenario.params]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main()
