"""gethory-bench as a user runs it: the real CLI in a subprocess, against a local server.

A short `fanout` (1 speaker, 6 listeners, 2 bot processes, 5 s window) must write a result
file with every figure, consistent numbers (what the server forwarded = what the listeners
received, ± the packets in flight), no loss, join times and the bots' cost, and its PNGs.
Mistakes a user can make give one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bots import development_server_environment, free_port, server_process
from benchmarks.results import FIGURE_NAMES
from benchmarks.targets import BenchError, check_url

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
    env = development_server_environment(port, tmp_path / "data", rate_limits=True)
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


def test_malformed_url_is_one_line(tmp_path: Path) -> None:
    bots = tmp_path / "bots.json"
    bots.write_text(json.dumps({"password": "x", "accounts": [{"email": "a@bots.example"}]}))
    line = one_error_line(bench("--server", "http://[::1", "--bots-file", str(bots), cwd=tmp_path))
    assert "not an http" in line


async def _bench_against(
    handler: Any, tmp_path: Path, *args: str, accounts: int = 1
) -> subprocess.CompletedProcess[str]:
    """Run gethory-bench --server against an aiohttp app answering every path with
    `handler` (a web server that is not a Gethory server, or a failing one)."""
    from aiohttp import web

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    bots = tmp_path / "bots.json"
    emails = [{"email": f"bot-{n}@bots.example"} for n in range(accounts)]
    bots.write_text(json.dumps({"password": "x", "accounts": emails}))
    try:
        return await asyncio.to_thread(
            bench,
            "--server", f"http://127.0.0.1:{port}", "--bots-file", str(bots), *args,
            cwd=tmp_path, timeout=60,
        )  # fmt: skip
    finally:
        await runner.cleanup()


async def test_a_web_server_that_is_not_gethory_is_one_line(tmp_path: Path) -> None:
    """A site answering 200 to everything (an SPA catch-all, another service) passes the
    health check; its sign-in answer has no access token."""
    from aiohttp import web

    async def everything(request: web.Request) -> web.Response:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    line = one_error_line(await _bench_against(everything, tmp_path))
    assert "access token" in line


async def test_failing_sign_in_is_not_called_wrong_credentials(tmp_path: Path) -> None:
    from aiohttp import web

    async def failing(request: web.Request) -> web.Response:
        if request.path == "/api/health":
            return web.json_response({"ok": True})
        return web.Response(status=502, text="<html>bad gateway</html>", content_type="text/html")

    line = one_error_line(await _bench_against(failing, tmp_path))
    assert "502" in line and "credentials" not in line


async def test_rate_limited_sign_in_with_a_date_is_one_line(tmp_path: Path) -> None:
    """Retry-After may be an HTTP date (RFC 9110 §10.2.3), not only seconds."""
    from aiohttp import web

    async def limited(request: web.Request) -> web.Response:
        if request.path == "/api/health":
            return web.json_response({"ok": True})
        retry = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
        return web.json_response({"error": {"code": "rate_limited"}}, status=429, headers=retry)

    line = one_error_line(await _bench_against(limited, tmp_path))
    assert "rate limited" in line


def test_report_of_a_directory_skips_files_that_are_not_results(tmp_path: Path) -> None:
    """`report DIR` on a directory that also holds other JSON (or a damaged file) shows the
    results it finds and names the rest, as benchmarks.report.load_results promises."""
    from benchmarks.results import RunResult

    result = RunResult(
        scenario="fanout",
        parameters={"listeners": 4},
        target={"kind": "gethory-local", "url": "http://127.0.0.1:1"},
        machine={"cpu_model": "x", "logical_cores": 2},
        versions={"gethory": "abc"},
        started_at="2026-01-01T00:00:00Z",
        duration_seconds=1.0,
        figures={"loss_percent": 0.5},
        series={},
        distributions={},
        points=[],
        errors={},
        limit="none",
    )
    written = result.write(tmp_path)
    (tmp_path / "package.json").write_text('{"name": "x"}')
    (tmp_path / "broken.json").write_text("{")
    done = bench("report", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "fanout" in done.stdout and "0.50" in done.stdout
    assert "broken.json" in done.stdout and "package.json" in done.stdout
    assert written.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    done = bench("report", str(empty), cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip() == f"gethory-bench report: no gethory-bench results in {empty}"


@pytest.mark.timeout(150)
@pytest.mark.parametrize(
    ("signum", "whole_group", "status"),
    [
        (2, True, 130),  # Ctrl-C: the terminal signals its whole foreground process group
        (15, False, 143),  # SIGTERM to the run alone: `timeout`, a cancelled CI job
    ],
)
def test_interrupted_run_stops_everything_quickly(
    tmp_path: Path, signum: int, whole_group: bool, status: int
) -> None:
    """The run must end within seconds, with its status, no traceback, and nothing left: no
    bot process, no server, no embedded database, no temporary directory."""
    import signal
    import time

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    err_path = tmp_path / "stderr"
    with err_path.open("w") as err:
        process = subprocess.Popen(
            [*BENCH, "--listeners", "4", "--duration", "60", "--out", str(tmp_path / "out")],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,  # its own group, as a terminal's foreground job
        )
    try:
        deadline = time.monotonic() + 90
        while "measuring" not in err_path.read_text():
            assert process.poll() is None, err_path.read_text()
            assert time.monotonic() < deadline, err_path.read_text()
            time.sleep(0.1)
        # The local server is not in the terminal's group: it must answer while the bots
        # leave, and get one SIGINT (from the run) after them.
        server_pid = _local_server_pid(process.pid)
        workdir = Path(os.readlink(f"/proc/{server_pid}/cwd"))
        database_pid = int((workdir / "data" / "mongo" / "server.pid").read_text())
        group = subprocess.run(
            ["ps", "-o", "pid=", "-g", str(process.pid)], capture_output=True, text=True
        ).stdout.split()
        assert str(server_pid) not in group
        if whole_group:
            os.killpg(process.pid, signum)
        else:
            os.kill(process.pid, signum)
        interrupted = time.monotonic()
        code = process.wait(timeout=60)
        took = time.monotonic() - interrupted
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    stderr = err_path.read_text()
    assert code == status, stderr
    assert "Traceback" not in stderr, stderr
    assert took < 15, (took, stderr)
    # Orphans (multiprocessing's resource tracker exits when the coordinator has) are reaped
    # by init a moment later: wait for the group to empty.
    deadline = time.monotonic() + 10
    while True:
        left = subprocess.run(
            ["ps", "-o", "pid=,stat=,args=", "-g", str(process.pid)],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert left == "", left
    assert not _runs_in(server_pid, workdir) and not _runs_in(database_pid, workdir)
    assert not workdir.exists()


def _runs_in(pid: int, workdir: Path) -> bool:
    """Whether process `pid` is alive and belongs to the run in `workdir`."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return str(workdir).encode() in cmdline or cwd.startswith(str(workdir))


def _local_server_pid(bench_pid: int) -> int:
    """The pid of the `python -m api` that gethory-bench (`bench_pid`) started."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == bench_pid and cmdline[1:3] == [b"-m", b"api"]:
            return int(entry.name)
    raise AssertionError("gethory-bench started no local server")


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--scenario", "large-room", "--rate", "0"], "--rate > 0"),
        (["--scenario", "churn", "--swap-rate", "0"], "--swap-rate > 0"),
        (["--scenario", "rooms", "--room-size", "1"], "--room-size ≥ 2"),
        (["--scenario", "join-storm", "--rates", "5,x"], "--rates"),
        (["--scenario", "mesh-vs-sfu", "--sizes", "1,9"], "--sizes"),
        (["--duration", "nan"], "--duration must be a finite number"),
        (["--duration", "inf"], "--duration must be a finite number"),
    ],
)
def test_parameters_out_of_range_are_refused_before_anything_starts(
    arguments: list[str], complaint: str, tmp_path: Path
) -> None:
    done = bench(*arguments, "--out", str(tmp_path / "out"), cwd=tmp_path, timeout=30)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith(complaint) or complaint in done.stderr
    assert "signing in" not in done.stderr  # no server was started, no bot signed in
    assert not (tmp_path / "out").exists()


@pytest.mark.timeout(120)
def test_more_bots_than_create_bots_makes_is_one_line(tmp_path: Path) -> None:
    """A local run needing more accounts than `create-bots` makes (MAX_BOTS) says so, rather
    than falling back to signing thousands of accounts up one by one through REST."""
    from api.admin.bots import MAX_BOTS

    done = bench(
        "--listeners", str(MAX_BOTS), "--out", str(tmp_path / "out"), cwd=tmp_path, timeout=60
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if not line.startswith("[")]
    assert len(errors) == 1 and errors[0].startswith("gethory-bench: "), errors
    assert "create-bots" in errors[0] and str(MAX_BOTS) in errors[0]


async def test_a_deployment_without_ice_servers_is_one_line(tmp_path: Path) -> None:
    """Bots ask a deployment for its ICE servers; a server error there (here: an HTML 502 from
    a proxy) fails every join with the code `ice_servers`, one line, not a traceback."""
    from aiohttp import web

    async def deployment(request: web.Request) -> web.Response:
        if request.path == "/api/health":
            return web.json_response({"ok": True})
        if request.path == "/api/auth/login":
            return web.json_response({"accessToken": "token"})
        if request.path == "/api/rooms":
            return web.json_response({"id": "room"}, status=201)
        return web.Response(status=502, text="<html>bad gateway</html>", content_type="text/html")

    done = await _bench_against(
        deployment, tmp_path, "--listeners", "1", "--processes", "1", accounts=2
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("gethory-bench: the server refused every join"), last
    assert "ice_servers" in last and "502" in last


def test_an_out_that_cannot_hold_results_is_refused_before_the_run(tmp_path: Path) -> None:
    """`--out` naming a file: the run would end with a traceback and nothing written."""
    taken = tmp_path / "results"
    taken.write_text("not a directory")
    done = bench("--listeners", "1", "--out", str(taken), cwd=tmp_path, timeout=30)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].endswith(f"--out {taken}: File exists")
    assert "signing in" not in done.stderr


@pytest.mark.parametrize(
    "url",
    ["http://admin:s3cret@127.0.0.1:8000", "https://s3cret@voice.example.com", "ftp://u:s3cret@x"],
)
def test_a_password_in_the_server_url_is_refused_and_never_repeated(url: str) -> None:
    with pytest.raises(BenchError) as raised:
        check_url(url)
    assert "s3cret" not in str(raised.value)
