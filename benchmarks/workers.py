"""Bot processes: each runs many bots on its own uvloop, driven by the coordinator over a pipe.

The coordinator (`WorkerPool`) starts N processes with the multiprocessing *spawn* context
(a fresh interpreter: no forked event loop, sockets or aiortc state) and sends requests
`(request_id, op, payload)`; a worker answers each with `(request_id, ok, payload)`.
Requests run concurrently inside the worker, so a `stats` request is answered while a large
`join` is still under way.

Ops:
- `join` {bots: [BotSpec as dict]} → [{name, ok, code, message}]: connect, join, negotiate
  and wait for ICE+DTLS (benchmarks.signaling), up to `concurrency` at a time.
- `leave` {names} → {left}: leave the room and close the bots; their counters are kept.
- `talk` {name, talking} → {}: a speaker starts or stops its turn (large-room).
- `call` {name, event, data} → the ack: bot `name` sends one acknowledged Socket.IO event
  (stage rooms: the host's `invite-to-speak`, the invited bot's `accept-speak`); a refusal
  fails the request with the server's code.
- `stats` {} → WorkerStats as dict: listener counters summed (RtpReceiveStats snapshots,
  departed bots included), join records and end-to-end delay samples gathered since the
  previous `stats`, failures by code, tones heard, this process's CPU (/proc/self/stat),
  and the Socket.IO events its witnesses received, by name (cumulative).
- `stop` {} → {}: close every bot; the process exits.

Worker 0 hosts the speakers and the decoding listeners (the coordinator assigns them), so
the other workers run header-only listeners whose cost per packet is what is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from benchmarks.witness import MessageTally, add_tallies

COUNTERS = (
    "received",
    "bytes",
    "expected",
    "lost",
    "duplicates",
    "reordered",
    "marker_packets",
    "voiced_packets",
)
HEAR_SECONDS = 20.0  # a listener that has heard nothing this long after connecting counts so


@dataclass(frozen=True)
class BotSpec:
    """One bot to put in a room. `role`: "listener" | "speaker"; `signaling`: "sfu" |
    "mesh"; `slots`: recvonly transceivers (sfu listeners; speakers usually 0); `media`:
    False for signaling only (sfu: `join` and no peer connection; its join time is `join`
    sent → ack); `witness`: count every Socket.IO event it receives (benchmarks.witness)."""

    name: str
    role: str
    token: str
    room_id: str
    signaling: str = "sfu"
    speaker_index: int = 0
    slots: int = 1
    decode: bool = False
    sample_every: int = 50
    media: bool = True
    witness: bool = False


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker needs: the server, how to build its RTCConfiguration, the SendLog."""

    base_url: str
    rtc: str  # "loopback" (127.0.0.1 host candidates only) | "deployment" (the server's ICE)
    relay_only: bool = False
    send_log: str | None = None  # SendLog shared memory name
    speakers: int = 1
    frames: int = 0
    join_concurrency: int = 16  # joins in flight per worker (join-storm: no queueing)


@dataclass
class WorkerStats:
    """One worker's report (see the module docstring)."""

    worker: int
    cpu_seconds: float
    at: float = 0.0  # time.monotonic() of this report (one clock for every process)
    counters: dict[str, float] = field(default_factory=dict)
    jitter_ms: list[float] = field(default_factory=list)  # one per listener (max over SSRCs)
    listeners: int = 0  # in a room now
    speakers: int = 0
    sent_packets: int = 0
    sent_bytes: int = 0
    slot_switches: int = 0
    join_records: list[tuple[float, float | None, str | None]] = field(default_factory=list)
    # (join sent, ms until its media was up: ICE+DTLS, or the ack when signaling only), per
    # listener that joined, gathered since the previous report
    connect_records: list[tuple[float, float]] = field(default_factory=list)
    # (join sent at [monotonic s], ms to first audio or None, failure code or None)
    failures: dict[str, int] = field(default_factory=dict)
    failure_examples: dict[str, str] = field(default_factory=dict)  # first message per code
    delays_ms: list[float] = field(default_factory=list)
    tones: list[tuple[int, float | None]] = field(default_factory=list)  # (speaker, heard Hz)
    unheard: int = 0  # listeners connected for HEAR_SECONDS without a packet
    mesh_peers: int = 0  # connected peer connections of mesh participants
    messages: dict[str, int] = field(default_factory=dict)  # witnesses' events, cumulative
    witnesses: int = 0  # witnesses in a room now


def process_cpu_seconds() -> float:
    """utime + stime of this process, all threads (proc(5) /proc/self/stat 14, 15)."""
    with open("/proc/self/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_pipe(
    conn: Connection, loop: asyncio.AbstractEventLoop, deliver: Callable[[Any], None]
) -> threading.Thread:
    """Receive every message of `conn` on a daemon thread and hand it to `deliver` on `loop`;
    None after EOF. A daemon thread, because a blocked `recv` must not keep a process from
    exiting (an executor's threads are joined at interpreter exit)."""

    def run() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            loop.call_soon_threadsafe(deliver, message)
        with contextlib.suppress(RuntimeError):  # the loop already closed
            loop.call_soon_threadsafe(deliver, None)

    thread = threading.Thread(target=run, name="pipe-reader", daemon=True)
    thread.start()
    return thread


# --- inside a worker process ----------------------------------------------------------------


class _MeshStats:
    """A mesh participant's receive statistics: the sum over its peer connections."""

    def __init__(self, peers: dict[str, Any]) -> None:
        self._peers = peers

    @property
    def first_at(self) -> float | None:
        times = [b.stats.first_at for b in self._peers.values() if b.stats.first_at is not None]
        return min(times) if times else None

    def snapshot(self) -> dict[str, float]:
        total: Counter[str] = Counter()
        jitter = 0.0
        for bot in self._peers.values():
            snapshot = bot.stats.snapshot()
            total.update({k: snapshot.get(k, 0) for k in COUNTERS})
            jitter = max(jitter, float(snapshot.get("jitter_ms", 0.0)))
        return {**total, "jitter_ms": jitter}


class _MeshClient:
    """A mesh participant seen as one bot: a SpeakerBot per other member (sending its clip,
    reading the other's by header), made as `add-peer` and offers arrive."""

    def __init__(self, signaling: Any) -> None:
        self.signaling = signaling
        self.stats = _MeshStats(signaling.peers)
        self.delays_ms: list[float] = []  # not sampled in mesh rooms

    @property
    def sent_packets(self) -> int:
        return sum(int(b.sent_packets) for b in self.signaling.peers.values())

    @property
    def sent_bytes(self) -> int:
        return sum(int(b.sent_bytes) for b in self.signaling.peers.values())

    async def close(self) -> None:
        await self.signaling.leave()


class _NoMedia:
    """A signaling-only member seen as a bot: nothing sent, nothing received."""

    def __init__(self) -> None:
        from benchmarks.rtp_reader import RtpReceiveStats

        self.stats = RtpReceiveStats()
        self.delays_ms: list[float] = []
        self.tone_hz: float | None = None
        self.sent_packets = 0
        self.sent_bytes = 0

    def start_talking(self) -> None:
        pass

    def stop_talking(self) -> None:
        pass

    async def close(self) -> None:
        pass


def _mic_last(bot: Any) -> Any:
    """Put a SpeakerBot's recvonly slot before its microphone in the offer it makes.

    aiortc's answerer pairs each offered m-line with its first unpaired transceiver of that
    kind (RTCPeerConnection.setRemoteDescription): an offer [recvonly, sendonly] meets a
    SpeakerBot answerer's [sendonly microphone, recvonly slot] line by line, so both send and
    both receive; the SpeakerBot's own order would pair sendonly with sendonly (inactive).
    Uses aiortc's private transceiver list (aiortc is pinned). Every audio transceiver shares
    the first one's transport (bundle policy "balanced"): the one now first owns it, the
    others are marked bundled, as aiortc marks them at creation."""
    transceivers = bot.pc._RTCPeerConnection__transceivers
    transceivers.sort(key=lambda t: t.direction != "recvonly")
    for n, transceiver in enumerate(transceivers):
        transceiver._bundled = n > 0
    return bot


@dataclass
class _Member:
    spec: BotSpec
    bot: Any
    signaling: Any
    sent_at: float
    connected_at: float | None = None
    reported: bool = False  # its join record was sent
    delays_taken: int = 0
    factory: Any = None  # mesh: makes its peer connections


class _Worker:
    def __init__(self, index: int, conn: Connection, config: WorkerConfig) -> None:
        self.index = index
        self.conn = conn
        self.config = config
        self.members: dict[str, _Member] = {}
        self.departed: Counter[str] = Counter()
        self.departed_sent = [0, 0]
        self.departed_switches = 0
        self.departed_messages: Counter[str] = Counter()
        self.records: list[tuple[float, float | None, str | None]] = []
        self.connect_records: list[tuple[float, float]] = []
        self.failures: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.gate = asyncio.Semaphore(config.join_concurrency)
        self.rtc: Any = None
        self.send_log: Any = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = asyncio.Event()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        read_pipe(self.conn, loop, self._on_request)
        try:
            await self._setup()
            await self.stopping.wait()
        finally:
            await self._close_all()
            if self.send_log is not None:
                self.send_log.close()

    def _on_request(self, request: tuple[int, str, dict[str, Any]] | None) -> None:
        if request is None:  # the coordinator is gone
            self.stopping.set()
            return
        task = asyncio.get_running_loop().create_task(self._handle(*request))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _setup(self) -> None:
        if self.config.rtc == "loopback":
            from benchmarks.bots import loopback_rtc

            self.rtc = loopback_rtc()
        if self.config.send_log is not None:
            from benchmarks.send_log import SendLog

            self.send_log = SendLog.attach(
                self.config.send_log, self.config.speakers, self.config.frames
            )

    async def _handle(self, request_id: int, op: str, payload: dict[str, Any]) -> None:
        try:
            if op == "join":
                reply: Any = await self._join([BotSpec(**b) for b in payload["bots"]])
            elif op == "leave":
                reply = await self._leave(payload["names"])
            elif op == "talk":
                reply = self._talk(payload["name"], payload["talking"])
            elif op == "call":
                reply = await self._call(payload["name"], payload["event"], payload["data"])
            elif op == "stats":
                reply = asdict(self._stats())
            elif op == "stop":
                await self._close_all()
                self.stopping.set()
                reply = {}
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as error:  # the coordinator shows it; the worker keeps serving
            self.conn.send((request_id, False, f"{type(error).__name__}: {error}"))
            return
        self.conn.send((request_id, True, reply))

    async def _rtc_for(self, token: str) -> Any:
        """This process's RTCConfiguration; a deployment's ICE servers are asked once. Raises
        JoinFailed("ice_servers") when the deployment does not hand them out (a server
        error, a proxy's HTML page): the server's failure, not a bot's."""
        if self.rtc is None:
            import aiohttp

            from benchmarks.bots import deployment_rtc
            from benchmarks.signaling import JoinFailed

            try:
                async with aiohttp.ClientSession(base_url=self.config.base_url) as http:
                    self.rtc = await deployment_rtc(http, token, relay_only=self.config.relay_only)
            except (RuntimeError, ValueError, KeyError, TypeError, aiohttp.ClientError) as error:
                message = f"GET /api/rtc/ice-servers: {type(error).__name__}: {error}"
                raise JoinFailed("ice_servers", message[:300]) from None
        return self.rtc

    def _bot(self, spec: BotSpec, rtc: Any) -> Any:
        from benchmarks.media_bots import ListenerBot, SpeakerBot

        if spec.role == "speaker":
            return SpeakerBot(
                spec.name,
                rtc,
                speaker_index=spec.speaker_index,
                send_log=self.send_log,
                slots=spec.slots,
            )
        return ListenerBot(
            spec.name,
            rtc,
            slots=spec.slots,
            sample_every=spec.sample_every,
            decode=spec.decode,
            send_log=self.send_log,
        )

    async def _join(self, specs: Sequence[BotSpec]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self._join_one(spec) for spec in specs)))

    def _mesh_member(self, spec: BotSpec, rtc: Any, sent_at: float) -> _Member:
        from benchmarks.media_bots import SpeakerBot
        from benchmarks.signaling import GethoryMeshSignaling

        signaling = GethoryMeshSignaling(self.config.base_url, spec.token, spec.room_id)

        def peer(peer_id: str, *, offering: bool) -> Any:
            bot = SpeakerBot(
                f"{spec.name}>{peer_id}",
                rtc,
                speaker_index=spec.speaker_index,
                send_log=self.send_log,
                slots=1,
            )
            return _mic_last(bot) if offering else bot

        member = _Member(spec, _MeshClient(signaling), signaling, sent_at)
        member.factory = peer
        return member

    async def _join_one(self, spec: BotSpec) -> dict[str, Any]:
        from benchmarks.signaling import GethorySfuSignaling, JoinFailed

        async with self.gate:
            sent_at = time.monotonic()
            member: _Member | None = None
            try:
                rtc = await self._rtc_for(spec.token)
                if spec.signaling == "mesh":
                    member = self._mesh_member(spec, rtc, sent_at)
                    self.members[spec.name] = member
                    await member.signaling.enter(member.factory)
                else:
                    bot: Any = self._bot(spec, rtc) if spec.media else _NoMedia()
                    tally = MessageTally() if spec.witness else None
                    signaling = GethorySfuSignaling(
                        self.config.base_url,
                        spec.token,
                        spec.room_id,
                        media=spec.media,
                        tally=tally,
                    )
                    member = _Member(spec, bot, signaling, sent_at)
                    self.members[spec.name] = member
                    await signaling.enter(bot if spec.media else None)
                member.sent_at = member.signaling.join_sent_at or sent_at
                member.connected_at = time.monotonic()
            except JoinFailed as failure:
                return await self._failed(spec, member, sent_at, failure.code, failure.message)
            except Exception as error:  # a bot bug or an unexpected server answer
                return await self._failed(spec, member, sent_at, "error", repr(error))
        self._record_join(member)
        return {"name": spec.name, "ok": True, "code": None, "message": ""}

    def _record_join(self, member: _Member) -> None:
        """A successful join's records: a speaker's join ends at connected (it hears
        nothing); a listener's time to media up is recorded now, its join time (to the first
        packet) once it hears, or now, at the ack, when it joined for signaling only."""
        assert member.connected_at is not None
        if member.spec.role == "speaker":
            member.reported = True
            self.records.append((member.sent_at, None, None))
            return
        connected_ms = (member.connected_at - member.sent_at) * 1000
        self.connect_records.append((member.sent_at, connected_ms))
        if not member.spec.media:
            member.reported = True
            acked = member.signaling.join_acked_at or member.connected_at
            self.records.append((member.sent_at, (acked - member.sent_at) * 1000, None))

    async def _failed(
        self, spec: BotSpec, member: _Member | None, sent_at: float, code: str, message: str
    ) -> dict[str, Any]:
        self.failures[code] += 1
        if code not in self.examples:  # the first of its kind, as it happens
            self.examples[code] = message[:300]
            print(
                f"bot process {self.index}: a join failed, {code}: {message[:300]}", file=sys.stderr
            )
        self.records.append((sent_at, None, code))
        if member is not None:
            self.members.pop(spec.name, None)
            await self._close(member)
        return {"name": spec.name, "ok": False, "code": code, "message": message}

    async def _leave(self, names: Sequence[str]) -> dict[str, Any]:
        gone = [self.members.pop(name) for name in names if name in self.members]
        await asyncio.gather(*(self._depart(m) for m in gone))
        return {"left": len(gone)}

    async def _depart(self, member: _Member) -> None:
        self._collect_records()
        snapshot = member.bot.stats.snapshot()
        self.departed.update({k: snapshot.get(k, 0) for k in COUNTERS})
        if member.spec.role == "listener":
            self.delays_from(member)  # samples not yet reported are lost with the bot
        else:
            self.departed_sent[0] += member.bot.sent_packets
            self.departed_sent[1] += member.bot.sent_bytes
        self.departed_switches += member.signaling.slot_switches
        tally = getattr(member.signaling, "tally", None)
        if tally is not None:
            self.departed_messages.update(tally.counts)
        await self._close(member)

    @staticmethod
    async def _close(member: _Member) -> None:
        with contextlib.suppress(Exception):
            await member.signaling.leave()
        with contextlib.suppress(Exception):
            await member.bot.close()

    async def _call(self, name: str, event: str, data: dict[str, Any]) -> dict[str, Any]:
        from benchmarks.signaling import JoinFailed

        member = self.members.get(name)
        if member is None or member.connected_at is None:
            raise ValueError(f"no bot {name!r} in a room in this process")
        try:
            ack: dict[str, Any] = await member.signaling.call(event, data)
        except JoinFailed as refusal:
            raise RuntimeError(f"`{event}` by {name}: {refusal.code}: {refusal.message}") from None
        return ack

    def _talk(self, name: str, talking: bool) -> dict[str, Any]:
        bot = self.members[name].bot
        if talking:
            bot.start_talking()
        else:
            bot.stop_talking()
        return {}

    def delays_from(self, member: _Member) -> list[float]:
        delays: list[float] = member.bot.delays_ms
        fresh = delays[member.delays_taken :]
        member.delays_taken = len(delays)
        return list(fresh)

    def _collect_records(self) -> None:
        """Join records of listeners that have now heard their first packet."""
        for member in self.members.values():
            if member.reported or member.connected_at is None:
                continue
            first_at = member.bot.stats.first_at
            if first_at is not None:
                member.reported = True
                self.records.append((member.sent_at, (first_at - member.sent_at) * 1000, None))

    def _stats(self) -> WorkerStats:
        self._collect_records()
        stats = WorkerStats(self.index, process_cpu_seconds(), time.monotonic())
        counters: Counter[str] = Counter(self.departed)
        messages: Counter[str] = Counter(self.departed_messages)
        stats.sent_packets, stats.sent_bytes = self.departed_sent
        stats.slot_switches = self.departed_switches
        now = time.monotonic()
        for member in self.members.values():
            if member.connected_at is None:
                continue
            stats.slot_switches += member.signaling.slot_switches
            tally = getattr(member.signaling, "tally", None)
            if tally is not None:
                stats.witnesses += 1
                messages.update(tally.counts)
            stats.mesh_peers += getattr(member.signaling, "connected_peers", 0)
            if member.spec.role == "speaker":
                stats.speakers += 1
                stats.sent_packets += member.bot.sent_packets
                stats.sent_bytes += member.bot.sent_bytes
                snapshot = member.bot.stats.snapshot()  # what its slots received, if any
                counters.update({k: snapshot.get(k, 0) for k in COUNTERS})
                continue
            stats.listeners += 1
            snapshot = member.bot.stats.snapshot()
            counters.update({k: snapshot.get(k, 0) for k in COUNTERS})
            stats.jitter_ms.append(float(snapshot.get("jitter_ms", 0.0)))
            stats.delays_ms.extend(self.delays_from(member))
            if member.spec.decode:
                stats.tones.append((member.spec.speaker_index, member.bot.tone_hz))
            if (
                member.spec.media
                and member.bot.stats.first_at is None
                and now - member.connected_at > HEAR_SECONDS
            ):
                stats.unheard += 1
        stats.counters = dict(counters)
        stats.messages = dict(messages)
        stats.join_records, self.records = self.records, []
        stats.connect_records, self.connect_records = self.connect_records, []
        stats.failures = dict(self.failures)
        stats.failure_examples = dict(self.examples)
        return stats

    async def _close_all(self) -> None:
        members = list(self.members.values())
        self.members.clear()
        await asyncio.gather(*(self._close(m) for m in members))


def worker_main(index: int, conn: Connection, config: WorkerConfig) -> None:
    """A worker process's entry point (picklable for the spawn context)."""
    import signal

    import uvloop

    # Ctrl-C reaches the whole process group: the coordinator stops the workers in order.
    from benchmarks.media_bots import collect_less_often

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    collect_less_often()
    uvloop.run(_Worker(index, conn, config).serve())


# --- the coordinator's side ----------------------------------------------------------------


class WorkerError(RuntimeError):
    """A worker failed a request or died."""


class _WorkerHandle:
    def __init__(self, index: int, config: WorkerConfig) -> None:
        context = multiprocessing.get_context("spawn")
        self.index = index
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=worker_main, args=(index, child, config), name=f"bench-worker-{index}"
        )
        self.process.start()
        child.close()
        self._next = 0
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._gone = False

    def start_reading(self) -> None:
        read_pipe(self.conn, asyncio.get_running_loop(), self._on_reply)

    def _on_reply(self, reply: tuple[int, bool, Any] | None) -> None:
        if reply is None:
            self._gone = True
            for waiting in self._waiting.values():
                if not waiting.done():
                    waiting.set_exception(WorkerError(f"bot process {self.index} exited"))
            self._waiting.clear()
            return
        request_id, ok, payload = reply
        future: asyncio.Future[Any] | None = self._waiting.pop(request_id, None)
        if future is None or future.done():
            return
        if ok:
            future.set_result(payload)
        else:
            future.set_exception(WorkerError(f"bot process {self.index}: {payload}"))

    async def call(self, op: str, payload: dict[str, Any] | None = None) -> Any:
        if self._gone:
            raise WorkerError(f"bot process {self.index} exited")
        self._next += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = future
        self.conn.send((self._next, op, payload or {}))
        return await future

    async def close(self, within: float) -> None:
        with contextlib.suppress(WorkerError, OSError, TimeoutError):
            async with asyncio.timeout(within):
                await self.call("stop")
        await asyncio.to_thread(self.process.join, 10)
        if self.process.is_alive():
            self.process.kill()
            await asyncio.to_thread(self.process.join)


@dataclass
class PoolStats:
    """Every worker's report summed at one moment (`at`, monotonic seconds)."""

    at: float
    workers: list[WorkerStats]
    counters: dict[str, float]
    cpu_seconds: float  # all bot processes
    listeners: int
    speakers: int
    sent_packets: int
    sent_bytes: int
    mesh_peers: int
    slot_switches: int
    jitter_ms: list[float]
    failures: dict[str, int]
    unheard: int
    messages: dict[str, int] = field(default_factory=dict)  # witnesses' events, cumulative
    witnesses: int = 0

    @property
    def received(self) -> float:
        return self.counters.get("received", 0.0)


class WorkerPool:
    """N bot processes; `join`/`leave` per worker, `stats` from all of them at once."""

    def __init__(self, processes: int, config: WorkerConfig) -> None:
        self.config = config
        self.handles = [_WorkerHandle(i, config) for i in range(processes)]
        for handle in self.handles:
            handle.start_reading()

    @property
    def processes(self) -> int:
        return len(self.handles)

    async def join(self, worker: int, bots: Sequence[BotSpec]) -> list[dict[str, Any]]:
        if not bots:
            return []
        payload = {"bots": [asdict(b) for b in bots]}
        result: list[dict[str, Any]] = await self.handles[worker].call("join", payload)
        return result

    async def leave(self, worker: int, names: Sequence[str]) -> None:
        if names:
            await self.handles[worker].call("leave", {"names": list(names)})

    async def talk(self, worker: int, name: str, talking: bool) -> None:
        await self.handles[worker].call("talk", {"name": name, "talking": talking})

    async def call(
        self, worker: int, name: str, event: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        """Bot `name` on `worker` sends `event` with `data`; the server's ack. WorkerError
        (with the server's code) on a refusal."""
        ack: dict[str, Any] = await self.handles[worker].call(
            "call", {"name": name, "event": event, "data": data}
        )
        return ack

    async def stats(self) -> PoolStats:
        reports = await asyncio.gather(*(h.call("stats") for h in self.handles))
        workers = [WorkerStats(**r) for r in reports]
        counters: Counter[str] = Counter()
        failures: Counter[str] = Counter()
        for w in workers:
            counters.update(w.counters)
            failures.update(w.failures)
        return PoolStats(
            at=time.monotonic(),
            workers=workers,
            counters=dict(counters),
            cpu_seconds=sum(w.cpu_seconds for w in workers),
            listeners=sum(w.listeners for w in workers),
            speakers=sum(w.speakers for w in workers),
            sent_packets=sum(w.sent_packets for w in workers),
            sent_bytes=sum(w.sent_bytes for w in workers),
            mesh_peers=sum(w.mesh_peers for w in workers),
            slot_switches=sum(w.slot_switches for w in workers),
            jitter_ms=[j for w in workers for j in w.jitter_ms],
            failures=dict(failures),
            unheard=sum(w.unheard for w in workers),
            messages=add_tallies(w.messages for w in workers),
            witnesses=sum(w.witnesses for w in workers),
        )

    async def close(self) -> None:
        await asyncio.gather(*(h.close(within=30) for h in self.handles))
