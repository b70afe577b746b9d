"""The Janus side by side: its pieces, and a short run against Janus and Gethory.

The run needs root (it makes its own network namespace with `ip netns`) and the Debian
package `janus`; without either it is skipped, saying which. Everything it starts stays in
that namespace: Janus and the Gethory server on 10.200.0.1, the bots on 10.200.0.2.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks.janus.fanout import bucket_quantile
from benchmarks.janus.legacy_bots import PayloadClock
from benchmarks.janus.netns import (
    BOT_ADDRESS,
    SERVER_ADDRESS,
    Namespace,
    NamespaceUnavailable,
    bench_namespace,
)
from benchmarks.janus.server import JanusSettings, write_config
from benchmarks.results import FIGURE_NAMES, RunResult
from benchmarks.scenarios.vs_janus import compare, run_vs_janus

ROOT = Path(__file__).resolve().parent.parent

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="ip netns needs root")
needs_janus = pytest.mark.skipif(
    shutil.which("janus") is None, reason="Janus is not installed (apt-get install janus)"
)


def rtp(payload: bytes, *, csrcs: int = 0, extension_words: int = 0) -> bytes:
    """A plain RTP packet (RFC 3550 §5.1) with optional CSRCs and a header extension."""
    first = 0x80 | csrcs | (0x10 if extension_words else 0)
    header = bytes([first, 96]) + bytes(10) + bytes(4 * csrcs)
    if extension_words:
        header += b"\xbe\xde" + extension_words.to_bytes(2, "big") + bytes(4 * extension_words)
    return header + payload


def test_payload_clock_finds_the_payload_past_csrcs_and_extension() -> None:
    clock = PayloadClock()
    clock.record(rtp(b"opus-1", csrcs=2, extension_words=1))
    clock.record(rtp(b"opus-2"))
    clock.record(bytes([0x80, 200]) + bytes(30))  # RTCP sender report: not a payload
    assert clock.sent_at(b"opus-1") is not None
    assert clock.sent_at(b"opus-2") is not None
    assert clock.sent_packets == 2


def test_bucket_quantile_uses_only_the_window() -> None:
    start = {100.0: 10.0, 200.0: 10.0, 400.0: 10.0, math.inf: 10.0}
    end = {100.0: 15.0, 200.0: 100.0, 400.0: 110.0, math.inf: 110.0}  # 100 new observations
    assert bucket_quantile(0.5, start, end) == 200.0
    assert bucket_quantile(0.99, start, end) == 400.0
    assert bucket_quantile(0.5, end, end) is None  # nothing observed in between


def test_janus_config_keeps_only_videoroom_and_http(tmp_path: Path) -> None:
    config = write_config(tmp_path, JanusSettings(http_port=8123, event_loops=2))
    text = config.read_text()
    assert "event_loops = 2" in text
    assert f'ice_enforce_list = "{SERVER_ADDRESS}"' in text
    assert "libjanus_videoroom.so" not in text.split("plugins: {")[1].split("}")[0]
    assert "libjanus_http.so" not in text.split("transports: {")[1].split("}")[0]
    assert "stun_server" not in text
    stock = write_config(tmp_path / "stock", JanusSettings(http_port=8123)).read_text()
    assert "event_loops" not in stock
    room = (tmp_path / "janus.plugin.videoroom.jcfg").read_text()
    assert 'audiocodec = "opus"' in room and "audiolevel_ext = true" in room


def test_namespace_command_runs_inside_by_name() -> None:
    namespace = Namespace("gethory-bench-1", "/usr/sbin/ip")
    command = namespace.command(["python", "-V"])
    assert command[:4] == ["/usr/sbin/ip", "netns", "exec", "gethory-bench-1"]
    assert command[-2:] == ["python", "-V"]


def test_comparison_divides_janus_by_gethory() -> None:
    def result(server: str, cost: float) -> RunResult:
        return RunResult(
            "vs-janus", {"server": server}, {}, {}, {}, "2026-12-01T10:00:00Z", 1.0,
            figures={"server_cpu_us_per_forwarded_packet": cost},
        )  # fmt: skip

    ratios = compare([result("janus-stock", 30.0), result("gethory", 20.0), result("gethory", 10)])
    assert ratios["janus-stock/gethory server_cpu_us_per_forwarded_packet"] == 2.0  # median 15
    assert ratios["janus-stock/gethory loss_percent"] is None


@needs_root
def test_namespace_has_both_addresses_and_nothing_else() -> None:
    with bench_namespace() as namespace:
        done = subprocess.run(
            namespace.command(["ip", "-o", "-4", "addr"]), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        addresses = {line.split()[3].split("/")[0] for line in done.stdout.splitlines()}
        assert addresses == {"127.0.0.1", SERVER_ADDRESS, BOT_ADDRESS}
        routes = subprocess.run(
            namespace.command(["ip", "route", "show", "default"]), capture_output=True, text=True
        )
        assert routes.stdout.strip() == ""  # no way out
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert namespace.name not in listed


def test_namespace_refuses_clearly_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(NamespaceUnavailable, match="needs root"), bench_namespace():
        pass


@needs_root
@needs_janus
def test_short_run_against_janus_and_gethory(tmp_path: Path) -> None:
    run = run_vs_janus(
        listeners=3,
        seconds=3.0,
        warmup=0.5,
        servers=("janus-loops2", "gethory"),
        out_dir=tmp_path,
    )
    janus, gethory = run.results
    assert [r.parameters["server"] for r in run.results] == ["janus-loops2", "gethory"]
    for result in run.results:
        assert set(FIGURE_NAMES) <= set(result.figures)
        figures = result.figures
        assert figures["listeners_never_heard"] == 0
        assert figures["joins_failed"] == 0 and result.errors == {}
        assert (figures["received_packets"] or 0) > 3 * 3 * 20  # ≥ 20 packets/s per listener
        assert figures["loss_percent"] == 0
        assert (figures["server_cpu_us_per_forwarded_packet"] or 0) > 0
        assert (figures["e2e_delay_ms_p50"] or 0) > 0
    # Janus has no counter: forwarded is what arrived. Gethory's counter (scaled from the span
    # between its scrapes to the window) says the same, ± the packets in flight.
    assert janus.figures["forwarded_minus_received_packets"] == 0
    in_flight = gethory.figures["forwarded_minus_received_packets"]
    assert in_flight is not None and abs(in_flight) <= 3 * 50 * 0.25
    assert run.comparison["janus-loops2/gethory server_cpu_us_per_forwarded_packet"]
    assert len(list(tmp_path.glob("vs-janus-*.json"))) == 2
