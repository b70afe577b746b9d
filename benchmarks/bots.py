"""Benchmark bots and process plumbing: aiortc peers on loopback, CPU from /proc, servers.

A speaker bot sends a real-time 440 Hz tone (aiortc encodes it to Opus), the tests' own
`tests.rtc_audio.ToneTrack`. A listener bot
offers recvonly slots and only counts the RTP packets that arrive: its receivers are hooked
with `forward_received_rtp`, so it runs no jitter buffer and no decoder thread, which keeps
40 listeners cheap enough to share two cores with the server being measured.

Everything stays on 127.0.0.1: host candidates come from `use_host_addresses` and the
RTCConfiguration has an explicit, empty list of ICE servers (never aiortc's default STUN).
Pointed at a deployment, bots take their ICE servers from it instead (`deployment_rtc`: STUN
and TURN with credentials from `GET /api/rtc/ice-servers`), as its browsers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.rtp import RtpPacket

from sfu.aiortc_hooks import forward_received_rtp, use_host_addresses
from sfu.config import RtcConfig

LOOPBACK = "127.0.0.1"
TONE_HZ = 440.0
CONNECT_SECONDS = 15.0  # ICE + DTLS on loopback take well under a second
START_SECONDS = 30.0  # for a server process to answer its health check


def loopback_rtc() -> RTCConfiguration:
    """Gather on 127.0.0.1 only, with no STUN/TURN server at all, for this whole process."""
    use_host_addresses([LOOPBACK])
    return RtcConfig(host_addresses=(LOOPBACK,)).rtc_configuration()


async def deployment_rtc(
    http: aiohttp.ClientSession, token: str, *, relay_only: bool = False
) -> RTCConfiguration:
    """The RTCConfiguration a signed-in bot gets from the server `http` points at: the ICE
    servers of `GET /api/rtc/ice-servers` (STUN URLs, and TURN URLs with a credential for this
    account, valid TURN_CREDENTIAL_SECONDS). `relay_only`: gather TURN relay candidates only
    (`iceTransportPolicy: "relay"`), to load the TURN server or check that it works.

    aiortc uses the first STUN and the first TURN URL it can (UDP or TCP `turn:`, TCP `turns:`).
    Raises RuntimeError when the server refuses (401 without a valid token)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get("/api/rtc/ice-servers", headers=headers) as response:
        body = await response.json()
        if response.status != 200:
            raise RuntimeError(f"/api/rtc/ice-servers answered {response.status}: {body}")
    servers = [
        RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
        for s in body["iceServers"]
    ]
    policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
    # An explicit list, even empty: aiortc substitutes Google's STUN only for None.
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)


class Bot:
    """One peer connection: a speaker (one sendonly tone) or a listener (recvonly slots)."""

    def __init__(self, name: str, rtc: RTCConfiguration, *, speaks: bool, slots: int) -> None:
        self.name = name
        self.received = 0
        self.pc = RTCPeerConnection(rtc)
        self._connected = asyncio.Event()
        self._failed = False
        if speaks:
            # Imported here: only the old benchmark's bots (run from the repository root) use
            # the tests' tone; `gethory-bench` imports this module from anywhere.
            from tests.rtc_audio import ToneTrack

            self.pc.addTransceiver(ToneTrack(TONE_HZ), direction="sendonly")
        for _ in range(slots):
            transceiver = self.pc.addTransceiver("audio", direction="recvonly")
            # Before the answer is applied: that is when aiortc starts the receiver.
            forward_received_rtp(transceiver.receiver, self._count)
        self.pc.on("connectionstatechange", self._on_state)

    def _count(self, packet: RtpPacket) -> None:
        self.received += 1

    def _on_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected":
            self._connected.set()
        elif state in ("failed", "closed"):
            self._failed = True
            self._connected.set()

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer_sdp: str) -> None:
        """Apply the server's answer and wait until ICE and DTLS are up."""
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))
        async with asyncio.timeout(CONNECT_SECONDS):
            await self._connected.wait()
        if self._failed:
            raise RuntimeError(f"{self.name}: media connection {self.pc.connectionState}")

    async def close(self) -> None:
        await self.pc.close()


# --- CPU and memory of a process, from /proc ---------------------------------------------


@dataclass(frozen=True)
class ProcessSample:
    user_seconds: float  # utime of every thread
    system_seconds: float  # stime: on loopback this includes delivering what it sends
    threads: int
    rss_bytes: int

    @property
    def cpu_seconds(self) -> float:
        return self.user_seconds + self.system_seconds


def sample_process(pid: int) -> ProcessSample:
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces or parentheses; fields resume after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    threads = int(fields[17])  # field 20
    rss_pages = int(fields[21])  # field 24
    ticks = os.sysconf("SC_CLK_TCK")
    return ProcessSample(
        user_seconds=utime / ticks,
        system_seconds=stime / ticks,
        threads=threads,
        rss_bytes=rss_pages * os.sysconf("SC_PAGE_SIZE"),
    )


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat: all but idle, iowait)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, iowait = ticks[3], ticks[4]
    # guest time is already counted in user: the first 8 fields are the whole.
    return (sum(ticks[:8]) - idle - iowait) / os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


# --- server subprocesses ---------------------------------------------------------------


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 free for `kind` (TCP by default) at the time of asking."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child: get SIGTERM if the benchmark dies without cleaning up (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class ServerProcess:
    """A server started with `python -m <module>`; its output goes to `log_path`."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def wait_healthy(self, path: str) -> None:
        deadline = time.monotonic() + START_SECONDS
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited during start-up:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(self.base_url + path) as response:
                        if response.status == 200:
                            return
                # A separate process gives no other readiness signal.
                await asyncio.sleep(0.05)
        raise RuntimeError(
            f"the server was not healthy within {START_SECONDS} s:\n{self.log_tail()}"
        )


@contextlib.contextmanager
def server_process(
    module: str, env: Mapping[str, str], port: int, workdir: Path
) -> Iterator[ServerProcess]:
    """Run `python -m module` until the block ends: then SIGINT, and SIGKILL after 20 s."""
    log_path = workdir / f"{module.replace('.', '_')}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", module],
            env=dict(env),
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    try:
        yield ServerProcess(process, f"http://{LOOPBACK}:{port}", log_path)
    finally:
        stop_process(process, 20.0)


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """SIGINT (a server's graceful stop), then SIGKILL once `timeout` seconds have passed;
    returns True when it had to be killed. Nothing to do for a process that already ended."""
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return True
    return False


def development_server_environment(
    port: int,
    data_dir: Path,
    *,
    host_address: str = LOOPBACK,
    tree: Path | None = None,
    rate_limits: bool = False,
    **extra: str,
) -> dict[str, str]:
    """`server_environment` of a Gethory server for a benchmark or a test: development mode on
    127.0.0.1:`port` (its origin there too), data (embedded database, outbox) in `data_dir`,
    media candidates on `host_address`, rate limits off unless `rate_limits`."""
    limits = {} if rate_limits else {"RATE_LIMITS": "off"}
    return server_environment(
        tree,
        PORT=str(port),
        APP_ORIGIN=f"http://{LOOPBACK}:{port}",
        DATA_DIR=str(data_dir),
        GETHORY_ENV="development",
        RTC_HOST_ADDRESSES=host_address,
        **limits,
        **extra,
    )


def server_environment(tree: Path | None = None, **extra: str) -> dict[str, str]:
    """The current environment without SMTP, database or ICE settings, plus `extra`.

    `tree`: a checkout whose `api`/`sfu` the server imports first (default: this one)."""
    dropped = ("SMTP_", "DATABASE_", "ICE_SERVERS", "RTC_", "TURN_", "JWT_", "HOST", "PORT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    # The repository root, so `-m api` and `-m benchmarks.*` import from any working dir.
    root = str(Path(__file__).resolve().parent.parent)
    first = str(tree) if tree is not None else None
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (first, root, env.get("PYTHONPATH"))))
    return env | extra
