"""Instructions (and CPU) per forwarded packet on the SFU's per-packet path (issue 16):

    .venv/bin/python -m benchmarks.forwarding_instructions [--listeners 40,160]
        [--packets 200,1200] [--source DIR] [--sockets per-listener,shared] [--rounds 7]
        [--srtp sha1-80,gcm-256] [--no-callgrind] [--no-strace] [--no-cpu] [--json FILE]
        [--keep DIR] [--report FILE]

One "forwarded packet" is one copy of a received packet to one listener. The figure is user
space instructions per copy from `valgrind --tool=callgrind` (total Ir, deterministic, so
stable on these noisy 2-core VMs): a child process forwards N1 and then, in a second run, N2
packets to K listeners; setup cancels out of (Ir(N2) - Ir(N1)) / ((N2 - N1) x K). Each
received packet's own cost (the `RtpPacket` the loop builds as aiortc's parse would, the
speaker detector, the stats, one flush) is spread over its K copies; the slope between two
K values (`marginal`) is the cost of one more copy alone.

callgrind counts user-space instructions only: the kernel's share of `sendto`/`sendmmsg`
(and, over loopback, the delivery into the receiving socket) is not in Ir. So each
configuration also reports system calls per copy (`strace -f -c`, same differencing) and
µs of CPU per copy without valgrind (getrusage user + system of the child over the loop,
median of `--rounds` rounds of N2 packets; other work on the machine adds noise here).

The code under test is the tree's own: a real `sfu.room.Room` (joins, slot assignment,
`route`), real `sfu.slot.Slot`s and `sfu.rtp_stream.OutgoingRtpStream`s, real pylibsrtp
sessions (one per listener, with aiortc's tx policy: repeats allowed, a 1024-packet window;
`--srtp`: AES128_CM_SHA1_80 as tests/test_rtp_batch.py, or AEAD_AES_256_GCM, which aiortc
prefers and negotiates with aiortc, the load tester's bots), real UDP sockets on
127.0.0.1 made by uvloop (`--sockets per-listener`: one per listener, as aioice makes one per
connection) or one real `sfu.media_port.MediaPort` (`shared`: RTC_UDP_PORT). Only the sink
and the participants are the benchmark's own (in the child, benchmarks.forwarding_worker),
because `RtpOutput` takes its pieces from a connected aiortc `RTCRtpSender`:

- a tree with `sfu.rtp_batch` (cacc517 on): `BatchOutput` mirrors `RtpOutput.put` statement
  for statement on the public pieces (`sfu.aiortc_hooks.header_templates`,
  `sfu.rtp_batch.new_destination`), into `sfu._rtp_batch.RtpBatch` (`native`) or
  `sfu.rtp_batch.PyRtpBatch` (`python`), flushed by the room once per received packet;
- an older tree (85c3673): `PlainOutput` mirrors that tree's `RtpOutput.send`: aiortc's
  `RtpPacket.serialize` with the mid and audio-level ids, `Session.protect`, the transport's
  `sendto` (`plain`).

The listeners are sockets of this (parent) process, drained by a thread while the child runs,
so their reading costs the child nothing. Every callgrind and strace run is checked: each
listener must receive exactly the packets sent, every one SRTP-decryptable with its key, with
consecutive sequence numbers, its SSRC, payload and audio level (else DeliveryError).

The child is benchmarks.forwarding_worker; `run_worker(...)` runs one from code
(tests/test_bench_forwarding_instructions.py). benchmarks.profile_readers reads the callgrind
profiles and strace summaries.
"""

from __future__ import annotations

import argparse
import json
import secrets
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.forwarding_worker import (
    LEVEL,
    LOOPBACK,
    MID,
    PAYLOAD_TYPE,
    PROFILES,
    WARMUP_PACKETS,
    WorkerSpec,
    extensions_map,
    inbound_session,
    payloads,
)
from benchmarks.profile_readers import callgrind_self_costs, callgrind_total, strace_counts

ROOT = Path(__file__).resolve().parent.parent
RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024  # the kernel caps it at net.core.rmem_max
KINDS_WITH_BATCH = ("native", "python")
KINDS_WITHOUT_BATCH = ("plain",)
SOCKET_MODES = ("per-listener", "shared")
CHILD_TIMEOUT_SECONDS = 3600.0


class DeliveryError(RuntimeError):
    """A listener did not get exactly the packets the run forwarded, decryptable."""


# --- the parent: listeners, runs, checks ------------------------------------------------------


class Listeners:
    """One receiving UDP socket per listener on 127.0.0.1 with its SRTP key and SSRC; a
    thread drains them all while a child forwards (`keep`: the datagrams are kept to check)."""

    def __init__(self, count: int, keep: bool, srtp: str = "sha1-80") -> None:
        self.srtp = srtp
        self.keys = [secrets.token_bytes(PROFILES[srtp][1]) for _ in range(count)]
        self.ssrcs = [secrets.randbits(32) for _ in range(count)]
        self.sockets: list[socket.socket] = []
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            sock.bind((LOOPBACK, 0))
            sock.setblocking(False)
            self.sockets.append(sock)
        self.counts = [0] * count
        self.datagrams: list[list[bytes]] = [[] for _ in range(count)]
        self._keep = keep
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain_until_stopped, daemon=True)

    @property
    def ports(self) -> list[int]:
        return [sock.getsockname()[1] for sock in self.sockets]

    def __enter__(self) -> Listeners:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._drain_all()  # over loopback, everything sent is queued by now
        for sock in self.sockets:
            sock.close()

    def _drain_until_stopped(self) -> None:
        with selectors.DefaultSelector() as selector:
            for index, sock in enumerate(self.sockets):
                selector.register(sock, selectors.EVENT_READ, index)
            while not self._stop.is_set():
                for key, _ in selector.select(0.05):
                    self._drain(key.data)

    def _drain_all(self) -> None:
        for index in range(len(self.sockets)):
            self._drain(index)

    def _drain(self, index: int) -> None:
        recv = self.sockets[index].recv
        kept = self.datagrams[index]
        while True:
            try:
                data = recv(2048)
            except BlockingIOError:
                return
            self.counts[index] += 1
            if self._keep:
                kept.append(data)

    def check(self, expected: int) -> None:
        """Raises DeliveryError unless every listener got `expected` datagrams that decrypt
        with its key into its SSRC, consecutive sequence numbers, the payload sent, the mid
        and the level."""
        from aiortc.rtp import RtpPacket

        extensions = extensions_map()
        sent_payloads = set(payloads())
        for index, datagrams in enumerate(self.datagrams):
            if len(datagrams) != expected or self.counts[index] != expected:
                raise DeliveryError(f"listener {index}: {self.counts[index]} of {expected}")
            session = inbound_session(self.keys[index], self.srtp)
            previous: int | None = None
            for datagram in datagrams:
                packet = RtpPacket.parse(session.unprotect(datagram), extensions)
                if previous is not None and packet.sequence_number != (previous + 1) & 0xFFFF:
                    raise DeliveryError(f"listener {index}: gap after {previous}")
                previous = packet.sequence_number
                good = (
                    packet.ssrc == self.ssrcs[index]
                    and packet.payload_type == PAYLOAD_TYPE
                    and packet.payload in sent_payloads
                    and packet.extensions.mid == MID
                    and packet.extensions.audio_level == LEVEL
                )
                if not good:
                    raise DeliveryError(f"listener {index}: unexpected packet {packet}")


@dataclass(frozen=True)
class WorkerRun:
    """One child's outcome: its result JSON, what each listener received, and the
    wrapper's own output file (callgrind profile or strace summary) if any."""

    result: dict[str, Any]
    received: list[int]
    profile: Path | None


def run_worker(
    source: Path,
    kind: str,
    sockets: str,
    listeners: int,
    packets: int,
    rounds: int = 1,
    wrapper: str | None = None,
    workdir: Path | None = None,
    check: bool = True,
    srtp: str = "sha1-80",
) -> WorkerRun:
    """Run one child forwarding `rounds` x `packets` packets (after the warm-up) from the tree
    at `source` to `listeners` sockets of this process. `wrapper`: None, "callgrind" or
    "strace" (its output file is `WorkerRun.profile`). `check`: every datagram is kept and
    checked (DeliveryError) rather than only counted. `srtp`: a PROFILES key. Raises
    RuntimeError if the child fails."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="fwd-instr-"))
    tag = f"{source.name}-{kind}-{sockets}-{srtp}-{listeners}x{packets}x{rounds}"
    out = workdir / f"{tag}.json"
    with Listeners(listeners, keep=check, srtp=srtp) as receivers:
        spec = WorkerSpec(
            source=str(source),
            kind=kind,
            sockets=sockets,
            packets=packets,
            rounds=rounds,
            ports=tuple(receivers.ports),
            keys=tuple(key.hex() for key in receivers.keys),
            ssrcs=tuple(receivers.ssrcs),
            out=str(out),
            srtp=srtp,
        )
        command = [sys.executable, "-m", "benchmarks.forwarding_worker"]
        command.append(json.dumps(asdict(spec)))
        profile: Path | None = None
        if wrapper == "callgrind":
            profile = workdir / f"{tag}.callgrind"
            command = [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={profile}",
                f"--log-file={workdir / tag}.valgrind.log",
                *command,
            ]
        elif wrapper == "strace":
            profile = workdir / f"{tag}.strace"
            command = ["strace", "-f", "-c", "-o", str(profile), *command]
        completed = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=CHILD_TIMEOUT_SECONDS
        )
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])}… failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    expected = WARMUP_PACKETS + rounds * packets
    if check:
        receivers.check(expected)
        if result["forwarded"] != expected * listeners:
            raise DeliveryError(f"the room counted {result['forwarded']} copies")
    return WorkerRun(result, receivers.counts, profile)


# --- the measurement -------------------------------------------------------------------------


@dataclass
class Configuration:
    """One tree x sink x socket mode x K, and what was measured of it."""

    tree: str
    kind: str
    sockets: str
    listeners: int
    srtp: str = "sha1-80"
    ir: dict[int, int] = field(default_factory=dict)  # packets -> total Ir
    syscalls: dict[int, dict[str, int]] = field(default_factory=dict)
    cpu_rounds: list[tuple[float, float]] = field(default_factory=list)  # (user, sys) s
    cpu_packets: int = 0
    received_in_cpu_runs: float = 0.0  # fraction of copies the listeners got
    profile_delta: dict[str, float] = field(default_factory=dict)  # "obj:fn" -> Ir per copy

    def copies(self, packets: int) -> int:
        return packets * self.listeners

    def ir_per_copy(self) -> float | None:
        if len(self.ir) < 2:
            return None
        low, high = sorted(self.ir)
        return (self.ir[high] - self.ir[low]) / self.copies(high - low)

    def ir_per_received(self) -> float | None:
        per_copy = self.ir_per_copy()
        return None if per_copy is None else per_copy * self.listeners

    def syscalls_per_copy(self) -> dict[str, float]:
        if len(self.syscalls) < 2:
            return {}
        low, high = sorted(self.syscalls)
        names = set(self.syscalls[low]) | set(self.syscalls[high])
        delta = {n: self.syscalls[high].get(n, 0) - self.syscalls[low].get(n, 0) for n in names}
        copies = self.copies(high - low)
        per_copy = {name: count / copies for name, count in delta.items() if count}
        per_copy["total"] = sum(delta.values()) / copies
        return per_copy

    def cpu_us_per_copy(self) -> tuple[float, float, float] | None:
        """Median over rounds of (user + system, user, system) µs per copy."""
        if not self.cpu_rounds:
            return None
        copies = self.copies(self.cpu_packets)
        total = statistics.median(u + s for u, s in self.cpu_rounds) * 1e6 / copies
        user = statistics.median(u for u, _ in self.cpu_rounds) * 1e6 / copies
        system = statistics.median(s for _, s in self.cpu_rounds) * 1e6 / copies
        return total, user, system


def kinds_of(tree: Path) -> tuple[str, ...]:
    """The sinks a tree supports: the batch (native and its Python twin) or the plain one."""
    if (tree / "sfu" / "rtp_batch.py").exists():
        if list((tree / "sfu").glob("_rtp_batch*.so")):
            return KINDS_WITH_BATCH
        return ("python",)
    return KINDS_WITHOUT_BATCH


def measure(
    config: Configuration,
    source: Path,
    packets: Sequence[int],
    rounds: int,
    workdir: Path,
    callgrind: bool,
    strace: bool,
    cpu: bool,
) -> None:
    profiles: dict[int, Path] = {}
    for count in packets:
        if callgrind:
            run = run_worker(
                source, config.kind, config.sockets, config.listeners, count, 1,
                "callgrind", workdir, srtp=config.srtp,
            )  # fmt: skip
            assert run.profile is not None
            config.ir[count] = callgrind_total(run.profile)
            profiles[count] = run.profile
        if strace:
            run = run_worker(
                source, config.kind, config.sockets, config.listeners, count, 1,
                "strace", workdir, srtp=config.srtp,
            )  # fmt: skip
            assert run.profile is not None
            config.syscalls[count] = dict(strace_counts(run.profile))
    if len(profiles) >= 2:
        low, high = sorted(profiles)[0], sorted(profiles)[-1]
        before, after = callgrind_self_costs(profiles[low]), callgrind_self_costs(profiles[high])
        copies = config.copies(high - low)
        config.profile_delta = {
            f"{Path(obj).name}:{fn}": (after[(obj, fn)] - before.get((obj, fn), 0)) / copies
            for obj, fn in after
            if after[(obj, fn)] != before.get((obj, fn), 0)
        }
    if cpu:
        count = max(packets)
        run = run_worker(
            source, config.kind, config.sockets, config.listeners, count, rounds, None, workdir,
            check=False, srtp=config.srtp,
        )  # fmt: skip
        config.cpu_rounds = [(u, s) for u, s in run.result["cpu"]]
        config.cpu_packets = count
        config.received_in_cpu_runs = sum(run.received) / (
            config.listeners * (WARMUP_PACKETS + rounds * count)
        )


def by_object(delta: dict[str, float]) -> list[tuple[str, float]]:
    """Ir per copy per object file (the part of "obj:function" before the first colon),
    largest first."""
    totals: dict[str, float] = {}
    for key, value in delta.items():
        obj = key.split(":", 1)[0]
        totals[obj] = totals.get(obj, 0.0) + value
    return sorted(totals.items(), key=lambda item: -item[1])


def marginal(
    configs: Sequence[Configuration],
    per_received: Callable[[Configuration], float | None] = lambda c: c.ir_per_received(),
) -> dict[tuple[str, str, str, str], float]:
    """The cost of one more copy: the slope of a cost per received packet (default: Ir)
    between the smallest and the largest K of each (tree, kind, sockets) measured."""
    slopes: dict[tuple[str, str, str, str], float] = {}
    groups: dict[tuple[str, str, str, str], list[Configuration]] = {}
    for config in configs:
        groups.setdefault(_group(config), []).append(config)
    for key, group in groups.items():
        done = sorted((c for c in group if per_received(c) is not None), key=lambda c: c.listeners)
        if len(done) >= 2:
            low, high = done[0], done[-1]
            rise = (per_received(high) or 0.0) - (per_received(low) or 0.0)
            slopes[key] = rise / (high.listeners - low.listeners)
    return slopes


def _group(config: Configuration) -> tuple[str, str, str, str]:
    return (config.tree, config.kind, config.sockets, config.srtp)


def cpu_us_per_received(config: Configuration) -> float | None:
    us = config.cpu_us_per_copy()
    return None if us is None else us[0] * config.listeners


def report(configs: Sequence[Configuration], top: int = 14) -> str:
    """A markdown table of every configuration, then where one copy's Ir go at the largest K."""
    slopes = marginal(configs)
    cpu_slopes = marginal(configs, cpu_us_per_received)
    lines = [
        "tree | sink | sockets | SRTP | K | Ir/copy | marginal Ir/copy | syscalls/copy (send*) "
        "| µs CPU/copy (user+sys, user, sys) | marginal µs/copy | received in CPU runs",
        "---|---|---|---|---|---|---|---|---|---|---",
    ]
    for c in configs:
        ir = c.ir_per_copy()
        slope = slopes.get(_group(c))
        cpu_slope = cpu_slopes.get(_group(c))
        calls = c.syscalls_per_copy()
        sends = {n: v for n, v in calls.items() if n.startswith("send")}
        send_text = ", ".join(f"{n} {v:.3f}" for n, v in sorted(sends.items()))
        cpu_text = "–"
        us = c.cpu_us_per_copy()
        if us is not None:
            cpu_text = f"{us[0]:.2f} ({us[1]:.2f} + {us[2]:.2f})"
        lines.append(
            f"{c.tree} | {c.kind} | {c.sockets} | {c.srtp} | {c.listeners} | "
            f"{'–' if ir is None else f'{ir:,.0f}'} | "
            f"{'–' if slope is None else f'{slope:,.0f}'} | "
            f"{calls.get('total', float('nan')):.3f} ({send_text}) | {cpu_text} | "
            f"{'–' if cpu_slope is None else f'{cpu_slope:.2f}'} | {c.received_in_cpu_runs:.1%}"
        )
    for c in configs:
        if not c.profile_delta or c.listeners != max(x.listeners for x in configs):
            continue
        lines.append(
            f"\nwhere the Ir of one copy go: {c.tree} {c.kind} {c.sockets} {c.srtp} K={c.listeners}"
        )
        per_copy = sum(c.profile_delta.values())
        for obj, value in by_object(c.profile_delta):
            if abs(value) >= 0.005 * per_copy:
                lines.append(f"  {value:10,.0f} {value / per_copy:6.1%}  {obj}")
        lines.append("  top functions (self):")
        ranked = sorted(c.profile_delta.items(), key=lambda item: -item[1])[:top]
        for name, value in ranked:
            lines.append(f"  {value:10,.0f} {value / per_copy:6.1%}  {name[:110]}")
    return "\n".join(lines)


def load_configurations(path: Path) -> list[Configuration]:
    """The configurations a `--json` file holds."""
    configs = []
    for item in json.loads(path.read_text()):
        config = Configuration(**item)
        config.ir = {int(n): ir for n, ir in item["ir"].items()}
        config.syscalls = {int(n): calls for n, calls in item["syscalls"].items()}
        config.cpu_rounds = [(u, s) for u, s in item["cpu_rounds"]]
        configs.append(config)
    return configs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.forwarding_instructions",
        description="Instructions and CPU per forwarded packet (see the module docstring).",
    )
    parser.add_argument("--listeners", default="40,160", help="K values, comma-separated")
    parser.add_argument("--packets", default="200,1200", help="N1,N2: packets per run")
    parser.add_argument("--source", type=Path, help="another checkout, measured too")
    parser.add_argument("--sockets", default=",".join(SOCKET_MODES), help="per-listener,shared")
    parser.add_argument("--kinds", help="sinks to run (default: what each tree has)")
    parser.add_argument(
        "--srtp", default="sha1-80", help=f"SRTP profiles, comma-separated: {', '.join(PROFILES)}"
    )
    parser.add_argument("--rounds", type=int, default=7, help="CPU rounds of N2 packets")
    parser.add_argument("--no-callgrind", action="store_true")
    parser.add_argument("--no-strace", action="store_true")
    parser.add_argument("--no-cpu", action="store_true")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--keep", type=Path, help="keep profiles here (default: a temp dir)")
    parser.add_argument("--report", type=Path, help="print the report of a --json file; no run")
    return parser


def _numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _plan(
    trees: Sequence[Path], args: argparse.Namespace, listeners: Sequence[int]
) -> list[tuple[Path, str, str, str, int]]:
    """(tree, SRTP profile, socket mode, sink, K) in the order they run."""
    plan = []
    for tree in trees:
        kinds = kinds_of(tree)
        if args.kinds:
            kinds = tuple(k for k in args.kinds.split(",") if k in kinds)
        for srtp in args.srtp.split(","):
            if srtp not in PROFILES:
                raise SystemExit(f"--srtp: {srtp} is not one of {', '.join(PROFILES)}")
            for sockets in args.sockets.split(","):
                for kind in kinds:
                    plan += [(tree, srtp, sockets, kind, count) for count in listeners]
    return plan


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.report:
        print(report(load_configurations(args.report)))
        return
    listeners, packets = _numbers(args.listeners), sorted(_numbers(args.packets))
    if args.rounds < 1 or min(listeners + packets) < 1:
        raise SystemExit("listeners, packets and rounds must be positive")
    if not args.no_callgrind and shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (or pass --no-callgrind)")
    if not args.no_strace and shutil.which("strace") is None:
        raise SystemExit("strace is not installed (or pass --no-strace)")
    trees = [ROOT] + ([args.source.resolve()] if args.source else [])
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="fwd-instr-"))
    workdir.mkdir(parents=True, exist_ok=True)
    configs: list[Configuration] = []
    with Path("/proc/loadavg").open() as loadavg:
        print(f"load before: {loadavg.read().strip()}", flush=True)
    for tree, srtp, sockets, kind, count in _plan(trees, args, listeners):
        config = Configuration(tree.name if tree != ROOT else "current", kind, sockets, count, srtp)
        started = time.monotonic()
        measure(
            config, tree, packets, args.rounds, workdir,
            not args.no_callgrind, not args.no_strace, not args.no_cpu,
        )  # fmt: skip
        configs.append(config)
        print(
            f"{config.tree} {kind} {sockets} {srtp} K={count}: Ir/copy {config.ir_per_copy()} "
            f"syscalls/copy {config.syscalls_per_copy().get('total')} "
            f"µs/copy {config.cpu_us_per_copy()} ({time.monotonic() - started:.0f} s)",
            flush=True,
        )
    with Path("/proc/loadavg").open() as loadavg:
        print(f"load after: {loadavg.read().strip()}")
    print(f"profiles and logs: {workdir}")
    print(report(configs))
    if args.json:
        args.json.write_text(json.dumps([asdict(c) for c in configs], indent=1, default=str))


if __name__ == "__main__":
    main()
