"""gethory-bench's join-storm figures for issue 15: the witness's message counts, CPU per join,
the `--stage` and `--signaling-only` switches, and one real storm into a stage room.

The pure parts (benchmarks.witness, the marks of benchmarks.scenarios.stage) are checked
with numbers; the last test runs the real CLI against a local server (loopback only): 60
signaling-only listeners join a stage room, and the witness who was there first must have
been told about them in coalesced `audience-update`s (at most one a second), never one
`participant-joined` per join.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.cli import build_parser, scenario_values
from benchmarks.scenarios import SCENARIOS
from benchmarks.scenarios.stage import Mark, rate_between
from benchmarks.server_probe import ProbeSample
from benchmarks.witness import (
    BYTES_FIGURE,
    BYTES_KEY,
    FIGURE,
    MessageTally,
    add_tallies,
    background_rate,
    cpu_ms_per_join,
    message_figures,
    messages_between,
    payload_size,
)

ROOT = Path(__file__).resolve().parent.parent


def test_tally_counts_events_by_name_but_not_the_connection_itself() -> None:
    tally = MessageTally()
    for event in ("connect", "room-state", "audience-update", "audience-update", "disconnect"):
        tally.count(event)
    tally.count("connect_error", {"message": "no"})
    assert tally.snapshot() == {"room-state": 1, "audience-update": 2, BYTES_KEY: 0}


def test_tally_weighs_payloads_as_compact_json() -> None:
    tally = MessageTally()
    tally.count("audience-update", {"roomId": "r", "count": 2})  # {"roomId":"r","count":2}
    tally.count("speakers", {"slots": ["é"]})  # {"slots":["é"]}: é is 2 bytes in UTF-8
    assert payload_size(({"roomId": "r", "count": 2},)) == 24
    assert tally.snapshot()[BYTES_KEY] == 24 + 16
    assert message_figures(messages_between({}, tally.snapshot()))[BYTES_FIGURE] == 40


def test_tallies_of_several_witnesses_add_up_by_event() -> None:
    total = add_tallies([{"speakers": 2, "audience-update": 1}, {"speakers": 3}, {}])
    assert total == {"speakers": 5, "audience-update": 1}


def test_messages_between_two_snapshots_leave_out_what_did_not_change() -> None:
    before = {"room-state": 1, "speakers": 4}
    after = {"room-state": 1, "speakers": 6, "audience-update": 3}
    assert messages_between(before, after) == {"audience-update": 3, "speakers": 2}
    assert messages_between(after, after) == {}


def test_a_count_that_goes_down_is_refused() -> None:
    with pytest.raises(ValueError, match="went down"):
        messages_between({"speakers": 3}, {"speakers": 2})


def test_message_figures_are_per_witness_with_the_total_and_each_event() -> None:
    figures = message_figures({"audience-update": 10, "speakers": 4}, witnesses=2)
    assert figures == {
        FIGURE: 7.0,
        f"{FIGURE}.audience-update": 5.0,
        f"{FIGURE}.speakers": 2.0,
    }
    assert message_figures({}, witnesses=1) == {FIGURE: 0.0}
    assert message_figures({"speakers": 1}, witnesses=0) == {}


def test_background_rate_is_the_mean_of_the_windows_measured() -> None:
    assert background_rate(0.10, 0.30) == pytest.approx(0.20)
    assert background_rate(None, 0.30) == pytest.approx(0.30)
    assert background_rate(None, math.nan) is None
    assert background_rate() is None


def test_cpu_per_join_gross_and_net_of_the_background() -> None:
    # 100 joins in 5 s cost the server 0.6 s of CPU; at rest it uses 0.02 s per second.
    gross, net = cpu_ms_per_join(0.6, 5.0, 100, background=0.02)
    assert gross == pytest.approx(6.0)
    assert net == pytest.approx(5.0)  # (0.6 - 0.02 × 5) / 100 s
    gross, net = cpu_ms_per_join(0.6, 5.0, 100)
    assert gross == pytest.approx(6.0) and net is None
    # A busier background than the phase itself (noise): never below zero.
    gross, net = cpu_ms_per_join(0.05, 5.0, 10, background=0.5)
    assert gross == pytest.approx(5.0) and net == 0.0
    assert cpu_ms_per_join(None, 5.0, 10) == (None, None)
    assert cpu_ms_per_join(0.5, 5.0, 0) == (None, None)


def test_rate_between_two_marks_is_cpu_seconds_per_second() -> None:
    start = Mark(10.0, ProbeSample(10.0, cpu_seconds=3.0), {}, 1)
    end = Mark(14.0, ProbeSample(14.0, cpu_seconds=3.5), {}, 1)
    assert rate_between(start, end) == pytest.approx(0.125)
    unknown = Mark(14.0, ProbeSample(14.0), {}, 1)
    assert rate_between(start, unknown) is None
    assert rate_between(start, start) is None


@pytest.mark.parametrize("scenario", ["large-room", "join-storm"])
def test_stage_and_signaling_only_are_switches_off_by_default(scenario: str) -> None:
    parser = build_parser()
    plain = scenario_values(SCENARIOS[scenario], parser.parse_args(["--scenario", scenario]))
    assert plain["stage"] is False and plain["signaling_only"] is False
    args = parser.parse_args(["--scenario", scenario, "--stage", "--signaling-only"])
    given = scenario_values(SCENARIOS[scenario], args)
    assert given["stage"] is True and given["signaling_only"] is True


def bench(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.timeout(300)
def test_a_stage_storm_tells_the_existing_listener_once_a_second_not_once_a_join(
    tmp_path: Path,
) -> None:
    out = tmp_path / "results"
    joins = 60
    done = bench(
        "--scenario", "large-room", "--stage", "--signaling-only",
        "--listeners", str(joins), "--speakers", "2", "--rate", "30",
        "--step-listeners", "30", "--step-window", "0", "--duration", "0",
        "--processes", "2", "--out", str(out), "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    figures = result["figures"]
    assert figures["joins_failed"] == 0, result["errors"]
    assert result["parameters"]["stage"] is True
    seconds = figures["storm_seconds"]
    assert seconds >= (joins - 1) / 30
    # One audience update a second at most (plus the one that may straddle the start),
    # never a participant-joined per listener.
    updates = figures.get(f"{FIGURE}.audience-update", 0)
    assert 1 <= updates <= math.ceil(seconds) + 1, figures
    assert f"{FIGURE}.participant-joined" not in figures
    assert figures[FIGURE] < joins / 3, figures
    assert figures["bytes_per_existing_listener"] > 0
    assert figures["server_cpu_ms_per_join"] is not None and figures["server_cpu_ms_per_join"] > 0
    points = result["points"]
    assert [p["listeners"] for p in points] == [30.0, 60.0]
    for point in points:
        assert point["joins"] == 30
        assert point["join_ms_p95"] > 0
        assert point["join_connected_ms_p95"] >= point["join_ms_p95"]  # ack, then returned
        assert point["server_cpu_ms_per_join_gross"] > 0
        assert FIGURE in point
    assert points[0][FIGURE] <= points[1][FIGURE]  # cumulative since the storm began
