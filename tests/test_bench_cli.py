"""gethory-bench as a user runs it: the real CLI in a subprocess, against a local server.

A short `fanout` (1 speaker, 6 listeners, 2 bot processes, 5 s window) must write a result
file with every figure, consistent numbers (what the server forwarded = what the listeners
received, ± the packets in flight), no loss, join times and the bots' cost, and its PNGs.
Mistakes a user can make give one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bots import free_port, server_environment, server_process
from benchmarks.results import FIGURE_NAMES

ROOT = Path(__file__).resolve().parent.parent
BENCH = [sys.executable, "-m", "benchmarks"]


def bench(*args: str, cwd: Path, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [*BENCH, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("gethory-bench: "), lines
    return lines[0]


@pytest.mark.timeout(180)
def test_fanout_run_writes_consistent_figures_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "results"
    done = bench(
        "--scenario", "fanout", "--speakers", "1", "--listeners", "6", "--processes", "2",
        "--duration", "5", "--warmup", "1", "--out", str(out), "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    printed: dict[str, Any] = json.loads(done.stdout)
    files = sorted(out.glob("fanout-*.json"))
    assert len(files) == 1
    written = json.loads(files[0].read_text())
    assert written == printed

    figures = written["figures"]
    assert set(FIGURE_NAMES) <= set(figures)
    assert figures["participants"] == 7
    assert figures["joins_failed"] == 0 and figures["joins_ok"] == 7
    assert written["errors"] == {}
    # 6 listeners × 50 packets/s for 5 s.
    forwarded, received = figures["forwarded_packets"], figures["received_packets"]
    assert received > 6 * 50 * 5 * 0.3  # the clips pause (DTX) between talk spurts
    difference = forwarded - received
    assert difference == figures["forwarded_minus_received_packets"]
    assert abs(difference) <= figures["in_flight_allowance_packets"], (forwarded, received)
    assert figures["lost_packets"] == 0 and figures["loss_percent"] == 0
    for name in ("join_ms_p50", "join_ms_p95", "join_ms_p99"):
        assert figures[name] is not None and figures[name] > 0
    assert len(written["distributions"]["join_ms"]) == 6
    assert figures["bot_cpu_us_per_received_packet"] is not None
    assert figures["server_cpu_us_per_forwarded_packet"] is not None
    assert figures["bot_processes"] == 2
    assert written["series"]["participants"]
    assert written["limit"] in ("none", "server", "bots", "machine")
    pngs = sorted(out.glob("fanout-*.png"))
    assert pngs, list(out.iterdir())
    assert all(p.stat().st_size > 1000 for p in pngs)


def test_unreachable_server_is_one_line(tmp_path: Path) -> None:
    bots = tmp_path / "bots.json"
    bots.write_text(json.dumps({"password": "x", "accounts": [{"email": "a@bots.example"}]}))
    line = one_error_line(
        bench("--server", f"http://127.0.0.1:{free_port()}", "--bots-file", str(bots), cwd=tmp_path)
    )
    assert "cannot reach" in line


def test_bad_url_and_missing_bots_file_are_one_line(tmp_path: Path) -> None:
    assert "not an http" in one_error_line(bench("--server", "ftp://x", cwd=tmp_path))
    line = one_error_line(bench("--server", "http://127.0.0.1:9", cwd=tmp_path))
    assert "--bots-file" in line


@pytest.mark.timeout(90)
def test_wrong_credentials_are_one_line(tmp_path: Path) -> None:
    port = free_port()
    env = server_environment(
        PORT=str(port),
        APP_ORIGIN=f"http://127.0.0.1:{port}",
        DATA_DIR=str(tmp_path / "data"),
        GETHORY_ENV="development",
        RTC_HOST_ADDRESSES="127.0.0.1",
    )
    bots = tmp_path / "bots.json"
    accounts = [{"email": "bench-00000@bots.gethory.example", "name": "x", "userId": "x"}]
    bots.write_text(
        json.dumps(
            {"prefix": "bench", "count": 1, "password": "wrong password", "accounts": accounts}
        )
    )
    with server_process("api", env, port, tmp_path) as server:
        asyncio.run(server.wait_healthy("/api/health"))
        done = bench("--server", server.base_url, "--bots-file", str(bots), cwd=tmp_path)
    line = one_error_line(done)
    assert "refused the bots file's credentials" in line and "401" in line
