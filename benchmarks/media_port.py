"""Receive-path CPU per datagram: one shared media port (RTC_UDP_PORT) vs a socket per
connection.

    .venv/bin/python -m benchmarks.media_port [--datagrams 100000] [--rate 20000]
                                              [--rounds 3] [--loop uvloop|asyncio|both]

Each run installs the SFU's process-wide hooks (`sfu.aiortc_hooks.install`, consent policy
included, so the address-checked `datagram_received` is on the path) with or without
`udp_port`, connects one aioice pair over 127.0.0.1 (the server side controlled, as every SFU
connection is: on the shared port when there is one), then closes the client and binds a
plain socket at the client's address. A sender subprocess sends `--datagrams` 172-byte
datagrams whose first byte is 0x80 (SRTP by RFC 7983) from that address to the server's
selected local address at `--rate` per second, and the server awaits `Connection.recv()`
for each, as aiortc's DTLS transport does. The figure is this process's CPU time
(`time.process_time`, the sender is another process) from the first datagram to the last,
divided by the datagrams received: readiness, recvfrom, routing (the demultiplexer's
address lookup, or the per-connection transport), the consent address check, aioice's queue
and the awaiting coroutine. Consent checks are set 10 minutes apart so none runs meanwhile.
Modes alternate within each round so both share the machine's state; everything stays on
127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import time
from collections.abc import Callable

import uvloop

from benchmarks.bots import LOOPBACK
from sfu import aiortc_hooks
from sfu.config import RtcConfig, SfuConfig
from tests.ice_pairs import loopback_pair

PAYLOAD = b"\x80" + bytes(171)  # an SRTP packet's size for 20 ms of Opus at ~48 kbit/s
SENDER = """
import socket, sys, time
host = sys.argv[1]
port, target_port, count = (int(value) for value in sys.argv[2:5])
rate = float(sys.argv[5])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((host, port))
data = b"\\x80" + bytes(171)
start = time.monotonic()
for n in range(count):
    if n % 100 == 0:
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    sock.sendto(data, (host, target_port))
"""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
    return port


async def one_run(shared: bool, datagrams: int, rate: float) -> tuple[float, int]:
    """(µs of CPU per datagram received, datagrams received)."""
    rtc = RtcConfig(host_addresses=(LOOPBACK,), udp_port=free_udp_port() if shared else None)
    config = SfuConfig(rtc=rtc, consent_interval_seconds=600.0, consent_expiry_seconds=6000.0)
    restore = aiortc_hooks.install(config)
    try:
        client, server = await loopback_pair()
        # aioice's selected pair (private, read by the benchmark only): where each end is.
        pair = server._nominated[1]
        client_port = pair.remote_addr[1]
        server_port = pair.local_candidate.port
        assert (server_port == rtc.udp_port) == shared
        await client.close()  # frees the client's port for the sender; the server keeps its pair
        arguments = (LOOPBACK, client_port, server_port, datagrams, rate)
        sender = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SENDER, *(str(value) for value in arguments)
        )
        received = 0
        try:
            await asyncio.wait_for(server.recv(), 10)  # the first one starts the clock
            received = 1
            started = time.process_time()
            while received < datagrams:
                try:
                    await asyncio.wait_for(server.recv(), 1.0)
                except TimeoutError:
                    break  # the sender is done; the rest were lost (socket buffer full)
                received += 1
            cpu = time.process_time() - started
        finally:
            await sender.wait()
        await server.close()
    finally:
        restore()
    return cpu / (received - 1) * 1e6, received


async def main(datagrams: int, rate: float, rounds: int) -> dict[str, list[tuple[float, int]]]:
    results: dict[str, list[tuple[float, int]]] = {"own socket": [], "shared port": []}
    await one_run(False, 2000, rate)  # warm up: imports, caches
    for _ in range(rounds):
        results["own socket"].append(await one_run(False, datagrams, rate))
        results["shared port"].append(await one_run(True, datagrams, rate))
    return results


def report(loop_name: str, results: dict[str, list[tuple[float, int]]], datagrams: int) -> None:
    print(f"\n{loop_name}:\n")
    print("| mode | µs / datagram, each round | median | received |")
    print("|---|---|---:|---:|")
    for mode, runs in results.items():
        each = ", ".join(f"{cost:.2f}" for cost, _ in runs)
        median = statistics.median(cost for cost, _ in runs)
        lowest = min(count for _, count in runs)
        print(f"| {mode} | {each} | {median:.2f} | ≥ {lowest}/{datagrams} |")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datagrams", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=20_000.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop", choices=("uvloop", "asyncio", "both"), default="both")
    args = parser.parse_args()
    loops: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "uvloop": uvloop.new_event_loop,
        "asyncio": asyncio.new_event_loop,
    }
    for name, factory in loops.items():
        if args.loop in (name, "both"):
            with asyncio.Runner(loop_factory=factory) as runner:
                results = runner.run(main(args.datagrams, args.rate, args.rounds))
            report(name, results, args.datagrams)


if __name__ == "__main__":
    run()
