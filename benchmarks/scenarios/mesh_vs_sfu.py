"""mesh-vs-sfu: what one participant sends, receives and spends in rooms of 2..8, both modes.

For each room size n of --sizes, one mesh room and one sfu room of n bots, everyone talking
(the same looped clips). Mesh: each bot holds a peer connection to every other (the seed's
`add-peer`/`relay-sdp` events; the newcomer offers) and sends its clip on each: n-1
uplinks, n-1 downlinks. Sfu: one connection to the server, one uplink, n-1 slots down
(at most 8). Measured over --duration: uplink and downlink kbit/s per client (SRTP datagram
bytes sent, RTP bytes received), client CPU (the bots' process CPU / n, % of one core), the
server's CPU, loss. One point per (size, mode); the figures are the largest sfu room's,
with the mesh room's beside them (mesh_* figures).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.results import RunResult
from benchmarks.scenarios.base import Param, Scenario
from benchmarks.scenarios.bench import Bench, Window
from benchmarks.workers import BotSpec

MESH_MAX = 8  # mesh rooms hold at most 8 (api/rooms/service.py)
CONNECT_SECONDS = 30.0  # for every peer connection of a room to come up

PARAMS = (
    Param("sizes", str, "2,4,8", "room sizes to compare, 2..8"),
    Param("duration", float, 10.0, "measurement window per room, seconds"),
    Param("warmup", float, 2.0, "seconds after everyone connects before the window"),
)


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--sizes {text!r}: give room sizes separated by commas") from None
    if not sizes or min(sizes) < 2 or max(sizes) > MESH_MAX:
        raise ValueError(f"--sizes: room sizes from 2 to {MESH_MAX}")
    return sizes


def client_figures(window: Window, n: int) -> dict[str, float]:
    """Per-client uplink/downlink kbit/s and CPU % (all clients live in bot process 0)."""
    seconds = window.seconds
    sent = window.end.sent_bytes - window.start.sent_bytes
    received = window.counter("bytes")
    cpu = window.end.workers[0].cpu_seconds - window.start.workers[0].cpu_seconds
    return {
        "uplink_kbps_per_client": sent * 8 / 1000 / seconds / n,
        "downlink_kbps_per_client": received * 8 / 1000 / seconds / n,
        "client_cpu_percent": 100 * cpu / seconds / n,
    }


async def _connected(bench: Bench, mode: str, n: int) -> None:
    """Until every peer connection is up (mesh) or everyone receives (sfu)."""
    deadline = time.monotonic() + CONNECT_SECONDS
    start = await bench.poll()
    while time.monotonic() < deadline:
        stats = await bench.poll()
        if mode == "mesh" and stats.mesh_peers >= n * (n - 1):
            return
        if mode == "sfu" and stats.received - start.received >= 5 * n:
            return
        await asyncio.sleep(0.2)


async def _room(bench: Bench, tokens: list[str], n: int, mode: str, p: dict[str, Any]) -> Window:
    bench.progress.update(phase=f"{mode} room of {n}")
    room = await bench.room(
        tokens[0], media=mode, slots=min(n - 1, 8) if mode == "sfu" else None, size=n
    )
    specs = [
        BotSpec(
            f"{mode}{n}-{i}",
            "speaker",
            tokens[i],
            room,
            signaling=mode,
            speaker_index=i,
            slots=n - 1,
        )
        for i in range(n)
    ]
    joined: dict[str, list[str]] = {}
    for spec in specs:  # one by one: each newcomer offers to everyone present (mesh)
        for worker, names in (await bench.join([spec])).items():
            joined.setdefault(worker, []).extend(names)
    bench.check_joined(joined, n)
    await _connected(bench, mode, n)
    await bench.measure(float(p["warmup"]), phase=f"{mode} room of {n}: warming up")
    window = await bench.measure(float(p["duration"]), phase=f"{mode} room of {n}: measuring")
    await bench.leave(joined)
    return window


def check(p: dict[str, Any]) -> None:
    """ValueError (one line) for a --sizes that does not parse."""
    parse_sizes(str(p["sizes"]))


async def run(bench: Bench, p: dict[str, Any]) -> RunResult:
    sizes = parse_sizes(str(p["sizes"]))
    largest = max(sizes)
    bench.target_participants = largest
    bench.processes = 1  # every client in one process, so CPU per client compares
    tokens = await bench.tokens(largest)
    await bench.start(speakers=largest)
    points: list[dict[str, float]] = []
    figures: dict[str, Any] = {}
    for n in sizes:
        for mode in ("sfu", "mesh"):
            window = await _room(bench, tokens, n, mode, p)
            measured = bench.figures(window)
            clients = client_figures(window, n)
            point = {"participants": float(n), "mesh": float(mode == "mesh")}
            for name in ("server_cpu_percent", "loss_percent", "bot_cpu_percent"):
                value = measured.get(name)
                if isinstance(value, int | float):
                    point[name] = float(value)
            point.update(clients)
            points.append(point)
            if n == largest and mode == "sfu":
                figures = {**measured, **clients}
            elif n == largest:
                figures.update({f"mesh_{k}": v for k, v in clients.items()})
                figures["mesh_loss_percent"] = measured.get("loss_percent")
    figures["participants"] = largest
    return bench.result(
        "mesh-vs-sfu",
        p,
        figures,
        limit=("none", "a comparison, not a ramp"),
        window=None,
        points=points,
    )


SCENARIO = Scenario(
    name="mesh-vs-sfu",
    summary=(
        "Rooms of 2..8 (--sizes), each size once in mesh and once in sfu mode, everyone "
        "talking: uplink and downlink kbit/s and CPU per client, server CPU, loss. Shows "
        "what the SFU saves a participant (one uplink instead of n-1) and costs the server."
    ),
    params=PARAMS,
    run=run,
    check=check,
)
