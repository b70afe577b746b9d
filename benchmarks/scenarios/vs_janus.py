"""vs-janus: the same bots and the same fanout against Janus and Gethory, in one run.

    sudo .venv/bin/python -m benchmarks.scenarios.vs_janus [--listeners 40] [--seconds 20]
        [--warmup 3] [--servers janus-stock,janus-loops2,gethory] [--bots media|legacy]
        [--rounds 1] [--out DIR]

1 speaker → L listeners, audio only, for a fixed window, against each server in turn:
- `janus-stock`: Janus 1.1.2 (Debian `janus`), VideoRoom, stock threading (a thread and
  event loop per handle);
- `janus-loops2`: the same with `event_loops = 2` (two shared loops: this machine's cores);
- `gethory`: this checkout's server (`python -m api`, development, RATE_LIMITS=off) with
  RTC_HOST_ADDRESSES=10.200.0.1, its bots signed up and joined through the front door
  (REST sign-up, Socket.IO `join` and `sfu-join`, a public sfu room with one slot).

Janus never pairs loopback candidates, so everything (servers, bots, signaling) runs inside a
network namespace made for the run (benchmarks.janus.netns; needs root): the servers gather
on 10.200.0.1, the bots on 10.200.0.2, HTTP signaling stays on the namespace's 127.0.0.1, and
nothing leaves the namespace. Called from outside, `run_vs_janus` makes the namespace and runs
this module inside it (`ip netns exec`), reading the results back from a JSON file.

The bots (benchmarks.janus.fanout.bot_kit: gethory-bench's media bots by default, or the old
benchmark's aiortc bots) live in the one process that drives the run, the same for every
server. Gethory's listeners offer (`sfu-join`); Janus's answer Janus's offer.

Measured per server (benchmarks.janus.fanout): server CPU per forwarded packet, where
forwarded packets are what the listeners received for Janus (it exports no counter, as for
the old benchmark's stock relay) and `gethory_sfu_forwarded_packets_total` of /metrics for
Gethory (cross-checked with what its listeners received); server CPU %, RSS, threads;
end-to-end delay p50/p95/p99; loss; join time (join request → first packet); the bots' own
CPU. One RunResult per server (scenario "vs-janus", the server in `target` and
parameters["server"]), plus ratios Janus / Gethory in `VsJanusRun.comparison`. With an output
directory, each result is written there as `vs-janus-<UTC stamp>.json` (read them side by
side with `gethory-bench report DIR`), and the table with the ratios as
`vs-janus-<UTC stamp>.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import uvloop

from benchmarks.accounts import GethoryAccounts
from benchmarks.bots import development_server_environment, free_port, server_process
from benchmarks.janus.fanout import (
    SETUP_SECONDS,
    Round,
    bot_kit,
    fanout_round,
    gethory_counters,
)
from benchmarks.janus.netns import BOT_ADDRESS, SERVER_ADDRESS, Namespace, bench_namespace
from benchmarks.janus.server import JanusSettings, janus_server
from benchmarks.janus.signaling import JanusVideoRoomSignaling, unlimited_http
from benchmarks.results import RunResult, machine_description, versions
from benchmarks.scenarios.base import Param, Scenario
from benchmarks.signaling import GethorySfuSignaling

if TYPE_CHECKING:
    from benchmarks.scenarios.bench import Bench

NAME = "vs-janus"  # the scenario, in every RunResult and in gethory-bench --scenario
SERVERS = ("janus-stock", "janus-loops2", "gethory", "gethory-port")
GETHORY_SERVERS = ("gethory", "gethory-port")
BOTS = ("media", "legacy")
ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass
class VsJanusRun:
    """The results, one per server in run order, and the ratios Janus / Gethory:
    `comparison["<janus server>/gethory <figure>"]` for CPU per forwarded packet, CPU %,
    end-to-end delay p50/p99 and loss (None where a side is missing or zero)."""

    results: list[RunResult]
    comparison: dict[str, float | None] = field(default_factory=dict)


def run_vs_janus(
    listeners: int = 40,
    seconds: float = 20.0,
    warmup: float = 3.0,
    servers: Sequence[str] = SERVERS,
    bots: str = "media",
    out_dir: Path | None = None,
    rounds: int = 1,
) -> VsJanusRun:
    """Run the fanout against each of `servers` in turn, inside a fresh network namespace.

    listeners: listener bots (≥ 1), one speaker besides; seconds: measurement window per
    server; warmup: seconds after every listener hears before the window; servers: any of
    SERVERS, run in the order given; bots: "media" (benchmarks.media_bots) or "legacy"
    (benchmarks.janus.legacy_bots); out_dir: where each RunResult is written
    (`RunResult.write`) with the Markdown table (`table`), None for nowhere; rounds: how
    many times the servers take turns (the comparison then uses each server's median).
    Blocking: it runs its own event loop, or (outside the namespace) a subprocess inside it.

    Raises benchmarks.janus.netns.NamespaceUnavailable (not root, no `ip`),
    benchmarks.janus.server.JanusUnavailable (Janus not installed), ValueError (bad
    parameters), RuntimeError (a server failed to start, or the run failed)."""
    unknown = [s for s in servers if s not in SERVERS]
    if unknown or not servers or bots not in BOTS:
        raise ValueError(f"servers from {', '.join(SERVERS)}; bots media or legacy")
    if listeners < 1 or seconds <= 0 or warmup < 0 or rounds < 1:
        raise ValueError("listeners ≥ 1, seconds > 0, warmup ≥ 0, rounds ≥ 1")
    if Namespace.inside() is None:
        return _run_in_namespace(listeners, seconds, warmup, servers, bots, out_dir, rounds)
    from benchmarks.media_bots import collect_less_often

    collect_less_often()  # this process runs the bots (inside the namespace)
    run = uvloop.run(_run_all(listeners, seconds, warmup, servers, bots, rounds))
    if out_dir is not None:
        for result in run.results:
            result.write(out_dir)
        (out_dir / f"{run.results[0].file_stem()}.md").write_text(table(run) + "\n")
    return run


def _run_in_namespace(
    listeners: int,
    seconds: float,
    warmup: float,
    servers: Sequence[str],
    bots: str,
    out_dir: Path | None,
    rounds: int,
) -> VsJanusRun:
    """Make the namespace and run this module inside it; its results come back as JSON."""
    with bench_namespace() as namespace, tempfile.TemporaryDirectory() as tmp:
        results_file = Path(tmp) / "vs-janus.json"
        argv = [sys.executable, "-m", "benchmarks.scenarios.vs_janus"]
        argv += ["--listeners", str(listeners), "--seconds", str(seconds)]
        argv += ["--warmup", str(warmup), "--servers", ",".join(servers), "--bots", bots]
        argv += ["--rounds", str(rounds), "--results-json", str(results_file)]
        if out_dir is not None:
            argv += ["--out", str(out_dir.resolve())]
        path = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
        env = dict(os.environ, PYTHONPATH=path)
        done = subprocess.run(namespace.command(argv), cwd=ROOT, env=env, check=False)
        if done.returncode != 0 or not results_file.exists():
            raise RuntimeError(f"the run inside {namespace.name} failed (exit {done.returncode})")
        data = json.loads(results_file.read_text())
    results = [RunResult.from_json(r, "vs-janus run") for r in data["results"]]
    return VsJanusRun(results, data["comparison"])


async def _run_all(
    listeners: int, seconds: float, warmup: float, servers: Sequence[str], bots: str, rounds: int
) -> VsJanusRun:
    results: list[RunResult] = []
    parameters = {"listeners": listeners, "speakers": 1, "seconds": seconds, "warmup": warmup}
    with tempfile.TemporaryDirectory(prefix="gethory-vs-janus-") as tmp:
        for round_, server in ((r, s) for r in range(1, rounds + 1) for s in servers):
            print(
                f"\n[{server}, round {round_}] 1 speaker → {listeners} listeners ({bots} bots)",
                flush=True,
            )
            workdir = Path(tmp) / f"{server}-{round_}"
            workdir.mkdir()
            started_at, started = _utc_now(), time.monotonic()
            if server in GETHORY_SERVERS:
                shared_port = server == "gethory-port"
                target, measured = await _gethory_round(parameters, bots, workdir, shared_port)
            else:
                loops = None if server == "janus-stock" else 2
                target, measured = await _janus_round(server, loops, parameters, bots, workdir)
            cost = measured.figures["server_cpu_us_per_forwarded_packet"]
            print(
                f"  server CPU {measured.figures['server_cpu_percent']:.1f} % of a core, "
                f"{'-' if cost is None else f'{cost:.1f}'} µs per forwarded packet",
                flush=True,
            )
            p = parameters | {"round": round_, "rounds": rounds}
            results.append(_result(server, bots, p, target, measured, started_at, started))
    return VsJanusRun(results, compare(results))


def _result(
    server: str,
    bots: str,
    parameters: dict[str, Any],
    target: dict[str, Any],
    measured: Round,
    started_at: str,
    started: float,
) -> RunResult:
    return RunResult(
        scenario=NAME,
        parameters={
            **parameters,
            "server": server,
            "bots": bots,
            "bot_processes": 1,
            "network": f"own namespace: servers on {SERVER_ADDRESS}, bots on {BOT_ADDRESS}",
            "forwarded_from": "server /metrics" if server in GETHORY_SERVERS else "listeners",
        },
        target=target,
        machine=machine_description(),
        versions=versions(),
        started_at=started_at,
        duration_seconds=round(time.monotonic() - started, 3),
        figures=measured.figures,
        series=measured.series,
        distributions=measured.distributions,
        errors=measured.errors,
        limit=measured.limit,
    )


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# --- the two kinds of server ---------------------------------------------------------------


async def _janus_round(
    label: str, loops: int | None, p: dict[str, Any], bots: str, workdir: Path
) -> tuple[dict[str, Any], Round]:
    settings = JanusSettings(http_port=free_port(), event_loops=loops, publishers=4)
    with janus_server(workdir, settings) as janus:
        await janus.wait_ready()
        target = {
            "kind": "janus",
            "url": janus.api_url,
            "server": label,
            "event_loops": loops,
            "janus_version": janus.version,
            "media_address": SERVER_ADDRESS,
        }
        kit = bot_kit(bots)
        async with unlimited_http() as http:

            def signaling(publisher: bool, name: str) -> JanusVideoRoomSignaling:
                return JanusVideoRoomSignaling(
                    janus.api_url, settings.room_id, publisher=publisher, display=name, http=http
                )

            try:
                measured = await fanout_round(
                    janus.server,
                    signaling,
                    kit,
                    listeners=p["listeners"],
                    seconds=p["seconds"],
                    warmup=p["warmup"],
                    listener_slots=0,  # Janus offers, the listeners answer
                )
            except Exception:
                print(f"--- janus log (tail) ---\n{janus.server.log_tail()}")
                raise
            finally:
                kit.close()
        return target, measured


async def _gethory_round(
    p: dict[str, Any], bots: str, workdir: Path, shared_port: bool
) -> tuple[dict[str, Any], Round]:
    """`shared_port`: all media on one UDP port (RTC_UDP_PORT), as the Compose stack runs;
    else a socket per connection (the development default)."""
    port = free_port()
    data_dir = workdir / "gethory-data"
    env = development_server_environment(port, data_dir, host_address=SERVER_ADDRESS)
    if shared_port:
        env["RTC_UDP_PORT"] = str(free_port())
    with server_process("api", env, port, workdir) as server:
        jar = aiohttp.DummyCookieJar()  # bearer tokens only: the sign-ins share no cookies
        async with aiohttp.ClientSession(base_url=server.base_url, cookie_jar=jar) as http:
            kit = bot_kit(bots)
            try:
                await server.wait_healthy("/api/health")
                accounts = GethoryAccounts(http, data_dir / "outbox")
                async with asyncio.timeout(SETUP_SECONDS):
                    tokens = await accounts.sign_up(1 + p["listeners"])
                    room_id = await accounts.create_sfu_room(tokens[0])
                unused = iter(tokens)

                def signaling(publisher: bool, name: str) -> GethorySfuSignaling:
                    return GethorySfuSignaling(server.base_url, next(unused), room_id)

                measured = await fanout_round(
                    server,
                    signaling,
                    kit,
                    listeners=p["listeners"],
                    seconds=p["seconds"],
                    warmup=p["warmup"],
                    listener_slots=1,  # the room's one slot
                    counters=partial(gethory_counters, http),
                )
            except Exception:
                print(f"--- gethory server log (tail) ---\n{server.log_tail()}")
                raise
            finally:
                kit.close()
    name = "gethory-port" if shared_port else "gethory"
    target = {"kind": "gethory-local", "url": server.base_url, "server": name}
    return target | {"media_address": SERVER_ADDRESS}, measured


# --- comparison and report -----------------------------------------------------------------

COMPARED = (
    "server_cpu_us_per_forwarded_packet",
    "server_cpu_percent",
    "e2e_delay_ms_p50",
    "e2e_delay_ms_p99",
    "loss_percent",
)


def compare(results: Sequence[RunResult]) -> dict[str, float | None]:
    """`"<server>/<gethory variant> <figure>"`: each Janus server's figure divided by each
    Gethory variant's, the median over its rounds of each side (None where a side has no
    value or Gethory's is 0)."""
    by_server: dict[str, list[RunResult]] = {}
    for result in results:
        by_server.setdefault(str(result.parameters.get("server")), []).append(result)
    ratios: dict[str, float | None] = {}
    for gethory in (g for g in GETHORY_SERVERS if g in by_server):
        for server, runs in by_server.items():
            if server in GETHORY_SERVERS:
                continue
            for name in COMPARED:
                ours = _median(by_server[gethory], name)
                theirs = _median(runs, name)
                ratio = theirs / ours if ours and theirs is not None else None
                ratios[f"{server}/{gethory} {name}"] = ratio
    return ratios


def _median(runs: Sequence[RunResult], name: str) -> float | None:
    values = [float(v) for r in runs if (v := r.figures.get(name)) is not None]
    return statistics.median(values) if values else None


ROWS = (
    ("listeners heard", None),
    ("server CPU % of a core", "server_cpu_percent"),
    ("forwarded packets/s", "forwarded_packets_per_second"),
    ("µs CPU / forwarded packet", "server_cpu_us_per_forwarded_packet"),
    ("forwarded − received", "forwarded_minus_received_packets"),
    ("e2e delay p50 ms", "e2e_delay_ms_p50"),
    ("e2e delay p99 ms", "e2e_delay_ms_p99"),
    ("loss %", "loss_percent"),
    ("join p50 ms", "join_ms_p50"),
    ("server RSS MB (end)", "server_rss_mb_end"),
    ("server threads", "server_threads_end"),
    ("bots % core", "bot_cpu_percent"),
    ("bots µs / received packet", "bot_cpu_us_per_received_packet"),
    ("machine busy % (of 1 core)", "machine_busy_percent"),
)


def table(run: VsJanusRun) -> str:
    """A Markdown table, one column per server, then the ratios."""
    rounds = max(int(r.parameters.get("round", 1)) for r in run.results)
    names = [
        str(r.parameters.get("server")) + (f" #{r.parameters.get('round')}" if rounds > 1 else "")
        for r in run.results
    ]
    lines = ["| figure | " + " | ".join(names) + " |", "|:--|" + "--:|" * len(names)]
    for label, name in ROWS:
        cells = []
        for r in run.results:
            if name is None:
                heard = int(r.parameters["listeners"]) - int(
                    r.figures.get("listeners_never_heard") or 0
                )
                cells.append(f"{heard}/{r.parameters['listeners']}")
                continue
            value = r.figures.get(name)
            cells.append("-" if value is None else f"{value:,.1f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if run.comparison:
        lines.append("")
    for key, ratio in run.comparison.items():
        lines.append(f"{key}: {'-' if ratio is None else f'{ratio:.2f}×'}")
    return "\n".join(lines)


# --- as a gethory-bench scenario (benchmarks.scenarios.SCENARIOS) -----------------------------

PARAMS = (
    Param("listeners", int, 40, "listener bots (one speaker besides)"),
    Param("duration", float, 20.0, "measurement window per server, seconds"),
    Param("warmup", float, 3.0, "seconds after every listener hears before the window"),
    Param("servers", str, ",".join(SERVERS), "comma-separated, run in this order"),
    Param("bots", str, "media", "media (gethory-bench's bots) or legacy (the old aiortc bots)"),
    Param("rounds", int, 1, "turns of every server; ratios from each server's median"),
)


async def run_scenario(bench: Bench, p: dict[str, Any]) -> RunResult:
    """`gethory-bench --scenario vs-janus`: `run_vs_janus` in its own namespace (the bench's
    own target is not used: the run starts its own Janus and Gethory servers there). Returns
    the (last) Gethory result with the comparison and every Janus result (their JSON) in
    parameters["comparison"] and parameters["janus_results"]; the table is printed."""
    bench.progress.update(phase="vs-janus (servers take turns in their namespace)")
    run = await asyncio.to_thread(
        run_vs_janus,
        listeners=int(p["listeners"]),
        seconds=float(p["duration"]),
        warmup=float(p["warmup"]),
        servers=[s.strip() for s in str(p["servers"]).split(",") if s.strip()],
        bots=str(p["bots"]),
        rounds=int(p["rounds"]),
    )
    print(table(run))
    gethory = [r for r in run.results if r.parameters.get("server") == "gethory"]
    others = [r for r in run.results if r.parameters.get("server") != "gethory"]
    main_result = gethory[-1] if gethory else run.results[-1]
    main_result.parameters["comparison"] = run.comparison
    main_result.parameters["janus_results"] = [r.to_json() for r in others]
    return main_result


SCENARIO = Scenario(
    name=NAME,
    summary=(
        "The same bots and fanout (1 speaker, L listeners) against Janus 1.1.2 (VideoRoom, "
        "stock and event_loops=2) and Gethory in turn, inside a network namespace made for "
        "the run (root needed): server CPU per forwarded packet, delay and loss, and the "
        "ratios Janus / Gethory."
    ),
    params=PARAMS,
    run=run_scenario,
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--listeners", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the window")
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help=f"comma-separated, of {', '.join(SERVERS)}"
    )
    parser.add_argument(
        "--bots", choices=BOTS, default="media", help="gethory-bench's media bots or the old ones"
    )
    parser.add_argument("--rounds", type=int, default=1, help="turns of every server")
    parser.add_argument("--out", type=Path, help="write one RunResult JSON per server here")
    parser.add_argument("--results-json", type=Path, help=argparse.SUPPRESS)  # inner run
    args = parser.parse_args(argv)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    try:
        run = run_vs_janus(
            args.listeners, args.seconds, args.warmup, servers, args.bots, args.out, args.rounds
        )
    except (ValueError, RuntimeError) as error:  # NamespaceUnavailable, JanusUnavailable too
        raise SystemExit(f"vs-janus: {error}") from None
    if args.results_json is not None:  # inside the namespace, for the process outside
        data = {"results": [r.to_json() for r in run.results], "comparison": run.comparison}
        args.results_json.write_text(json.dumps(data))
    if Namespace.inside() is not None:  # the run happened in this process: print it here
        print()
        print(table(run))


if __name__ == "__main__":
    main()
