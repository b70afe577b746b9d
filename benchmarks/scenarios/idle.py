"""idle: what an idle listener costs the server (issue 16, "listener upkeep").

N listener bots join one sfu room with full media (Socket.IO `join`, `sfu-join`, ICE and
DTLS-SRTP: the bots of benchmarks.media_bots) and nobody speaks, so the server forwards
nothing. What it still spends per listener is upkeep: its ICE consent checks (RFC 7675, one
a second, sfu.aiortc_hooks), the RTCP of the listener's `--slots` (aiortc sent a sender
report and SDES per slot every 0.5–1.5 s; sfu.rtcp_schedule sends one compound packet per
connection every 5 s), Engine.IO pings (every `api.app.PING_INTERVAL_SECONDS`, 5 s), the
room's periodic slot reassignment, and the asyncio timers and tasks behind them all.

1. `--baseline` seconds with no listener: the server at rest (the bench's own `/metrics`
   read once a second is in both windows, so it cancels out).
2. The listeners join at `--rate` a second; the run goes on once the server counts them all
   as media participants (`gethory_sfu_participants`).
3. `--warmup` seconds (40 by default: past python-engineio's default ping interval of 25 s,
   so every connection's pings, consent checks and RTCP timers run at their steady rate).
4. `--duration` seconds: the server's CPU with N idle listeners.

Figures, beside the window's usual ones (`server_cpu_percent` with the listeners,
`bot_cpu_percent`, event-loop lag, RSS, `server_rss_kb_per_participant`):

- `server_cpu_percent_baseline`: the server's CPU in the window without listeners.
- `idle_listeners`: N, the server's media participants at the window's start (the bots'
  count when /metrics cannot be read); `idle_listeners_end` at its end.
- `upkeep_percent_per_listener`: (server_cpu_percent − baseline) ÷ N, % of one core; the
  issue's target is ≤ 0.05 (`parameters.upkeep_target_percent_per_listener`).
- `upkeep_us_per_listener_second`: the same in µs of server CPU per second (× 10⁴).
- `udp_datagrams_per_second` (`_baseline`), `udp_datagrams_per_listener_second`: UDP
  datagrams sent in this network namespace (/proc/net/snmp `Udp: OutDatagrams`: the
  server's and the bots' together), only when the namespace holds nothing but loopback
  (`scripts/isolated`); elsewhere other processes' traffic would count, and they are null.
- `load_average_1m_baseline`, `load_average_1m`: the machine's 1-minute load average at the
  end of each window (other work on the machine shows here).

`points` holds the two windows (listeners 0 and N). The limit is `bench.limit`'s, or
`listeners-dropped` when the server lost media participants during the window.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.results import RunResult, percentile_figures
from benchmarks.scenarios.base import Param, Scenario
from benchmarks.scenarios.bench import Bench, Window, window_points
from benchmarks.scenarios.fanout import MAX_SLOTS
from benchmarks.scenarios.large_room import MAX_ROOM
from benchmarks.server_probe import parse_metrics
from benchmarks.workers import BotSpec

TARGET_PERCENT = 0.05  # issue 16: an idle listener costs at most this % of one core
COUNT_SECONDS = 30.0  # for the server to count every joined listener as a media participant
SFU_PARTICIPANTS = "gethory_sfu_participants"

PARAMS = (
    Param("listeners", int, 500, "idle listener bots (connected, nobody speaking)"),
    Param("slots", int, 3, "the room's slots: recvonly transceivers per listener (rooms: 3)"),
    Param("rate", float, 20.0, "listener joins per second"),
    Param("baseline", float, 30.0, "seconds measured before any listener joins"),
    Param("warmup", float, 40.0, "seconds after the last join before the window"),
    Param("duration", float, 60.0, "measurement window with every listener in, seconds"),
)


@dataclass(frozen=True)
class IdleWindow:
    """One measured window and what the bench adds to it for this scenario."""

    window: Window
    figures: dict[str, Any]
    udp_sent: float | None  # datagrams sent in the namespace during the window
    load_1m: float  # the 1-minute load average at the window's end
    participants_start: float | None  # the server's media participants at both ends
    participants_end: float | None

    @property
    def udp_per_second(self) -> float | None:
        return None if self.udp_sent is None else self.udp_sent / self.window.seconds


def check(p: dict[str, Any]) -> None:
    """ValueError unless 1 ≤ listeners < MAX_ROOM, 1 ≤ slots ≤ MAX_SLOTS, and rate,
    baseline and duration are positive."""
    if not 1 <= int(p["listeners"]) < MAX_ROOM or not 1 <= int(p["slots"]) <= MAX_SLOTS:
        raise ValueError(f"1 ≤ --listeners < {MAX_ROOM}, 1 ≤ --slots ≤ {MAX_SLOTS}")
    if min(float(p["rate"]), float(p["baseline"]), float(p["duration"])) <= 0:
        raise ValueError("--rate, --baseline and --duration must be positive")


async def run(bench: Bench, p: dict[str, Any]) -> RunResult:
    check(p)
    listeners, slots = int(p["listeners"]), int(p["slots"])
    bench.target_participants = listeners
    tokens = await bench.tokens(listeners)
    await bench.start(speakers=0)
    room = await bench.room(tokens[0], slots=slots, size=max(2, listeners))
    rest = await measure_idle(bench, float(p["baseline"]), "measuring the server at rest")
    bench.progress.update(phase=f"{listeners} listeners joining")
    specs = [
        BotSpec(f"listener-{n}", "listener", tokens[n], room, speaker_index=-1, slots=slots)
        for n in range(listeners)
    ]
    joined = await bench.join_paced(specs, float(p["rate"]))
    bench.check_joined(joined, listeners)
    ok = sum(len(names) for names in joined.values())
    await wait_counted(bench, ok)
    await bench.measure(float(p["warmup"]), phase="warming up")
    busy = await measure_idle(bench, float(p["duration"]), f"measuring {ok} idle listeners")
    figures = dict(busy.figures)
    counted = busy.participants_start or float(busy.window.start.listeners)
    figures.update(upkeep_figures(rest, busy, counted))
    figures["joins_ok"] = ok  # media listeners' join records wait for audio that never comes
    connected = [ms for _, ms in bench.connect_records]
    figures.update(percentile_figures("join_connected_ms", connected))
    limit = bench.limit(busy.window, figures)
    end = busy.participants_end
    if end is not None and end < counted:
        limit = ("listeners-dropped", f"{counted - end:.0f} of {counted:.0f} left in the window")
    points = [
        window_points(rest.window, rest.figures, listeners=0.0),
        window_points(busy.window, figures, listeners=counted),
    ]
    parameters = {**p, "upkeep_target_percent_per_listener": TARGET_PERCENT}
    return bench.result("idle", parameters, figures, limit=limit, window=busy.window, points=points)


async def measure_idle(bench: Bench, seconds: float, phase: str) -> IdleWindow:
    """`bench.measure` over `seconds`, with the namespace's UDP datagrams sent, the load
    average and the server's media participants at its ends."""
    before, sent_before = await sfu_participants(bench.target.http), udp_datagrams_sent()
    window = await bench.measure(seconds, phase=phase)
    after, sent_after = await sfu_participants(bench.target.http), udp_datagrams_sent()
    sent = None if sent_before is None or sent_after is None else sent_after - sent_before
    return IdleWindow(window, dict(bench.figures(window)), sent, os.getloadavg()[0], before, after)


def upkeep_figures(rest: IdleWindow, busy: IdleWindow, listeners: float) -> dict[str, Any]:
    """The per-listener upkeep (see the module docstring) from the window at rest and the
    one with `listeners` idle listeners; None where the server's CPU was not measured."""
    base, loaded = rest.figures.get("server_cpu_percent"), busy.figures.get("server_cpu_percent")
    per = None
    if isinstance(base, int | float) and isinstance(loaded, int | float) and listeners > 0:
        per = (loaded - base) / listeners
    udp_rest, udp_busy = rest.udp_per_second, busy.udp_per_second
    return {
        "server_cpu_percent_baseline": base,
        "idle_listeners": listeners,
        "idle_listeners_end": busy.participants_end,
        "upkeep_percent_per_listener": per,
        "upkeep_us_per_listener_second": None if per is None else per * 1e4,
        "udp_datagrams_per_second_baseline": udp_rest,
        "udp_datagrams_per_second": udp_busy,
        "udp_datagrams_per_listener_second": (
            (udp_busy - udp_rest) / listeners
            if udp_rest is not None and udp_busy is not None and listeners > 0
            else None
        ),
        "bot_cpu_percent_baseline": rest.figures.get("bot_cpu_percent"),
        "load_average_1m_baseline": rest.load_1m,
        "load_average_1m": busy.load_1m,
    }


async def wait_counted(bench: Bench, listeners: int, within: float = COUNT_SECONDS) -> None:
    """Wait until the server counts `listeners` media participants (at most `within` s; not
    at all when its /metrics cannot be read)."""
    deadline = time.monotonic() + within
    bench.progress.update(phase="waiting for the server to count every listener")
    while True:
        counted = await sfu_participants(bench.target.http)
        if counted is None or counted >= listeners or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.5)  # polling period of /metrics


async def sfu_participants(http: aiohttp.ClientSession) -> float | None:
    """`gethory_sfu_participants` from the server's /metrics; None when it cannot be read
    (a remote server's /metrics wants its token: the bots' count is used instead)."""
    try:
        async with http.get("/metrics") as response:
            if response.status != 200:
                return None
            value = parse_metrics(await response.text()).get(SFU_PARTICIPANTS)
    except (aiohttp.ClientError, TimeoutError):
        return None
    return value if isinstance(value, float) else None


def udp_datagrams_sent(root: Path = Path("/proc/net")) -> float | None:
    """UDP datagrams sent in this network namespace so far (/proc/net/snmp, the `Udp:`
    header and value lines, field OutDatagrams), or None unless the namespace's only
    interface is loopback (/proc/net/dev), i.e. unless every datagram counted is the run's."""
    try:
        interfaces = [line.split(":", 1)[0].strip() for line in _lines(root / "dev")[2:]]
        udp = [line.split()[1:] for line in _lines(root / "snmp") if line.startswith("Udp:")]
    except OSError:
        return None
    if interfaces != ["lo"] or len(udp) < 2 or "OutDatagrams" not in udp[0]:
        return None
    return float(udp[1][udp[0].index("OutDatagrams")])


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


SCENARIO = Scenario(
    name="idle",
    summary=(
        "Listener upkeep (issue 16): the server's CPU at rest, then with --listeners idle "
        "listeners (full media: ICE, DTLS, --slots recvonly slots each; nobody speaking) "
        "after --warmup; the difference per listener in % of one core and µs per second "
        "(target ≤ 0.05 %), UDP datagrams per second in the namespace (scripts/isolated), "
        "the bots' CPU and the load average."
    ),
    params=PARAMS,
    run=run,
    check=check,
)
