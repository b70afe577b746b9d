"""gethory-bench results, plots and report on synthetic runs (these units measure nothing).

Checks: a result survives a write/read round trip with every figure key present; reading a
file that is not a result names the file and the field; nearest-rank percentiles on known
samples; plot_run writes real PNGs for data that is there and none for data that is not;
report lists each run in its own column and writes the comparison PNG.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.plots import plot_run
from benchmarks.report import COMPARISON_FILE, report
from benchmarks.results import (
    FIGURE_NAMES,
    FORMAT,
    RunResult,
    machine_description,
    make_figures,
    percentile_figures,
    percentiles,
    versions,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def synthetic_run(
    *,
    kind: str = "gethory-local",
    started_at: str = "2026-12-01T10:00:00Z",
    data: bool = True,
    cpu_us: float = 21.5,
) -> RunResult:
    """A fanout run as the runner would record it; `data=False` leaves out every sample."""
    points: list[dict[str, float]] = []
    series: dict[str, list[tuple[float, float]]] = {}
    distributions: dict[str, list[float]] = {}
    if data:
        points = [
            {
                "listeners": float(n),
                "server_cpu_us_per_forwarded_packet": cpu_us + n / 100,
                "server_cpu_percent": n * 0.1,
                "bot_cpu_percent": n * 0.05,
                "server_rss_mb_peak": 80.0 + n / 5,
            }
            for n in (10, 50, 100)
        ] + [
            {"join_rate_per_second": float(r), "join_ms_p50": 100.0 + r, "join_ms_p95": 200.0 + r}
            for r in (5, 10, 20)
        ]
        series = {
            "participants": [(float(t), float(min(10 * t, 100))) for t in range(20)],
            "packets_per_second": [(float(t), float(min(500 * t, 5000))) for t in range(20)],
            "loss_percent": [(float(t), 0.1 * (t % 3)) for t in range(20)],
            "server_rss_mb": [(float(t), 80.0 + min(2 * t, 20)) for t in range(20)],
        }
        distributions = {
            "e2e_delay_ms": [10.0 + (i % 17) for i in range(500)],
            "join_ms": [150.0 + 3 * (i % 40) for i in range(100)],
        }
    return RunResult(
        scenario="fanout",
        parameters={"listeners": 100, "speakers": 1},
        target={"kind": kind, "url": "http://127.0.0.1:8000"},
        machine=machine_description(),
        versions=versions(),
        started_at=started_at,
        duration_seconds=20.0,
        figures=make_figures(
            server_cpu_us_per_forwarded_packet=cpu_us,
            e2e_delay_ms_p95=26.0,
            loss_percent=0.05,
            join_ms_p95=260.0,
            forwarded_packets=100_000,
        ),
        series=series,
        distributions=distributions,
        points=points,
        errors={"timeout": 1} if data else {},
        limit="none",
    )


def test_round_trip_keeps_every_field_and_every_figure_key(tmp_path: Path) -> None:
    run = synthetic_run()
    run.figures["jitter_ms_p95"] = math.nan  # not JSON: written as null
    path = run.write(tmp_path / "new" / "dir")

    assert path.name == "fanout-20261201T100000Z.json"
    data = json.loads(path.read_text())
    assert data["format"] == FORMAT
    assert list(data["figures"]) == list(FIGURE_NAMES)
    assert data["figures"]["jitter_ms_p95"] is None
    back = RunResult.read(path)
    run.figures["jitter_ms_p95"] = None
    assert back == run
    # A second run in the same second gets its own file.
    assert run.write(tmp_path / "new" / "dir").name == "fanout-20261201T100000Z-2.json"


def test_make_figures_rejects_an_unknown_name() -> None:
    with pytest.raises(ValueError, match="loss_percnt"):
        make_figures(loss_percnt=1.0)


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("not json at all", "not JSON"),
        ('{"scenario": "fanout"}', "'format'"),
        ('{"format": 99}', "'format'"),
        ("[1, 2]", "not a JSON object"),
    ],
)
def test_reading_a_file_that_is_not_a_result_names_file_and_field(
    tmp_path: Path, content: str, field: str
) -> None:
    path = tmp_path / "other.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"other\.json") as raised:
        RunResult.read(path)
    assert field in str(raised.value)


def test_reading_a_result_with_a_bad_field_names_it(tmp_path: Path) -> None:
    data = synthetic_run().to_json()
    data["figures"]["loss_percent"] = "lots"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"bad\.json.*figures\.loss_percent"):
        RunResult.read(path)
    del data["limit"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="'limit'"):
        RunResult.read(path)


def test_percentiles_by_nearest_rank() -> None:
    assert percentiles([]) == (None, None, None)
    assert percentiles([7.0]) == (7.0, 7.0, 7.0)
    samples = [float(n) for n in range(100, 0, -1)]  # 1..100, unsorted
    assert percentiles(samples) == (50.0, 95.0, 99.0)
    # n = 10: ceil(0.5*10)=5th, ceil(0.95*10)=10th, ceil(0.99*10)=10th smallest.
    assert percentiles([float(n) for n in range(1, 11)]) == (5.0, 10.0, 10.0)
    figures = make_figures(**percentile_figures("join_ms", samples))
    assert (figures["join_ms_p50"], figures["join_ms_p99"]) == (50.0, 99.0)


def test_machine_and_versions_describe_this_checkout() -> None:
    machine = machine_description()
    assert machine["logical_cores"] >= 1
    assert machine["kernel"]
    assert set(versions()) >= {"python", "aiortc", "aioice", "av", "aiohttp", "gethory"}


def test_plot_run_writes_a_png_for_each_kind_of_data(tmp_path: Path) -> None:
    written = plot_run(synthetic_run(), tmp_path / "plots")

    names = {p.name.removeprefix("fanout-20261201T100000Z-") for p in written}
    assert names == {
        "cpu-vs-listeners.png",
        "join-vs-rate.png",
        "rss-vs-participants.png",
        "over-time.png",
        "cdf-e2e-delay-ms.png",
        "cdf-join-ms.png",
    }
    for path in written:
        assert path.read_bytes().startswith(PNG_SIGNATURE)
        assert path.stat().st_size > 5_000


def test_plot_run_skips_absent_data(tmp_path: Path) -> None:
    assert plot_run(synthetic_run(data=False), tmp_path) == []
    run = synthetic_run()
    run.points = []
    run.distributions = {"e2e_delay_ms": []}
    names = {p.name for p in plot_run(run, tmp_path / "some")}
    # RSS vs participants now comes from the two series.
    assert names == {
        "fanout-20261201T100000Z-over-time.png",
        "fanout-20261201T100000Z-rss-vs-participants.png",
    }


def test_report_puts_runs_side_by_side(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    synthetic_run(kind="gethory-local", started_at="2026-12-01T10:00:00Z").write(runs)
    janus = synthetic_run(kind="janus", started_at="2026-12-01T10:05:00Z", cpu_us=17.0)
    janus.figures["join_ms_p95"] = None
    janus_path = janus.write(tmp_path / "elsewhere")
    (runs / "notes.json").write_text('{"hello": 1}')

    text = report([runs, janus_path], tmp_path / "out")

    header = text.splitlines()[:5]
    assert any("gethory-local" in line and "janus" in line for line in header), text
    assert any("10:00:00Z" in line and "10:05:00Z" in line for line in header), text
    cpu_row = next(line for line in text.splitlines() if "server_cpu_us_per_forward" in line)
    assert cpu_row.split()[1:] == ["21.5", "17.0"]
    join_row = next(line for line in text.splitlines() if "join_ms_p95" in line)
    assert join_row.split()[1:] == ["260", "-"]
    assert "jitter_ms_p95" not in text  # measured by neither run
    assert "notes.json" in text  # skipped, and said so
    png = tmp_path / "out" / COMPARISON_FILE
    assert f"comparison plot: {png}" in text
    assert png.read_bytes().startswith(PNG_SIGNATURE)


def test_report_refuses_a_named_file_that_is_not_a_result(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text("{}")
    with pytest.raises(ValueError, match=r"other\.json"):
        report([other], None)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no gethory-bench results"):
        report([empty], None)
