"""A listener bot's CPU per received packet, without any server:

    .venv/bin/python -m benchmarks.bot_cost [--listeners 50] [--seconds 10] [--warmup 3]
                                            [--sample-every 50]

A child process runs one SpeakerBot per listener (each a real aiortc peer: ICE, DTLS, SRTP),
looping its Opus clip at 50 packets a second with talk spurts and DTX silences; this process
runs the ListenerBots, which answer their offers, as they answer Janus. Each pair's ICE runs
over 127.0.0.1 only (no STUN server). After a warm-up, the listener process's CPU (utime +
stime of all its threads, from getrusage: the scheduler's exact run time, not clock ticks;
the kernel's receive path of each datagram counts) over the window is divided by the RTP
packets its listeners received (header statistics), sampled packets (1 in `sample_every`,
decrypted, looked up in the clips and the send log) included, as are RTCP and ICE consent.
Target: ≤ 5 µs per packet (issue 14). uvloop on both sides. `--per-datagram`: the listeners
read their sockets through uvloop's own transports instead of the batched `DatagramPoller`.

`measure_bot_cost(...)` runs the same from code and returns a `BotCost`; `CpuPerPacket` turns
any process's CPU and packet counts over a window into the same figure.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import uvloop

from benchmarks.bots import LOOPBACK, loopback_rtc, sample_process
from benchmarks.media_bots import (
    MAX_CLIP_FRAMES,
    ListenerBot,
    SpeakerBot,
    collect_less_often,
    new_send_log,
    rtp_tap,
)
from benchmarks.rtp_reader import RtpReceiveStats
from benchmarks.send_log import SendLog

TARGET_US_PER_PACKET = 5.0
SETUP_SECONDS = 120.0


@dataclass(frozen=True)
class BotCost:
    """One measurement: the listener process's CPU over the window per RTP packet received."""

    listeners: int
    seconds: float
    packets: int
    cpu_seconds: float
    user_seconds: float
    system_seconds: float
    lost: int
    sampled_delays: int
    quiet: Window | None = None  # the same bots while every speaker only sends DTX

    @property
    def us_per_packet(self) -> float | None:
        return self.cpu_seconds / self.packets * 1e6 if self.packets else None

    @property
    def fixed_us_per_listener_second(self) -> float | None:
        """CPU a connected listener costs per second apart from packets (RTCP, consent,
        timers), from the quiet window, whose few DTX packets are charged at the marginal
        rate; None without a quiet window."""
        marginal = self.marginal_us_per_packet
        if self.quiet is None or marginal is None:
            return None
        rest = self.quiet.cpu_seconds * 1e6 - marginal * self.quiet.packets
        return rest / (self.listeners * self.quiet.seconds)

    @property
    def marginal_us_per_packet(self) -> float | None:
        """CPU per packet beyond the connections' fixed cost: the difference between the
        talking and the quiet window, per packet of difference."""
        quiet = self.quiet
        if quiet is None:
            return None
        scale = self.seconds / quiet.seconds
        packets = self.packets - quiet.packets * scale
        if packets <= 0:
            return None
        return (self.cpu_seconds - quiet.cpu_seconds * scale) / packets * 1e6

    def line(self) -> str:
        per = self.us_per_packet
        figure = "n/a" if per is None else f"{per:.2f} µs"
        return (
            f"listener bots: {figure} of CPU per received packet "
            f"({self.listeners} listeners, {self.packets} packets in {self.seconds:.1f} s, "
            f"user {self.user_seconds:.2f} s + system {self.system_seconds:.2f} s, "
            f"{self.lost} lost, {self.sampled_delays} delays sampled; "
            f"target ≤ {TARGET_US_PER_PACKET:.0f} µs)"
        ) + self._breakdown()

    def _breakdown(self) -> str:
        marginal, fixed = self.marginal_us_per_packet, self.fixed_us_per_listener_second
        if marginal is None or fixed is None:
            return ""
        return (
            f"\n  of which per packet (talking - quiet): {marginal:.2f} µs; fixed per "
            f"connected listener: {fixed:.0f} µs/s (RTCP, consent, timers), i.e. "
            f"{fixed * self.listeners * self.seconds / max(self.packets, 1):.2f} µs per "
            f"packet at this run's rate"
        )


class CpuPerPacket:
    """CPU of process `pid` (default: this one) per packet over a window:
    `start(packets)`, then `stop(packets)` → µs per packet (None without packets)."""

    def __init__(self, pid: int | None = None) -> None:
        self.pid = os.getpid() if pid is None else pid
        self._cpu = 0.0
        self._packets = 0

    def start(self, packets: int) -> None:
        self._cpu = sample_process(self.pid).cpu_seconds
        self._packets = packets

    def stop(self, packets: int) -> float | None:
        cpu = sample_process(self.pid).cpu_seconds - self._cpu
        count = packets - self._packets
        return cpu / count * 1e6 if count > 0 else None


# --- the speakers' process ---------------------------------------------------------------


def _speakers_main(pipe: Connection, count: int, send_log_name: str, speakers: int) -> None:
    uvloop.run(_speakers(pipe, count, send_log_name, speakers))


async def _speakers(pipe: Connection, count: int, send_log_name: str, speakers: int) -> None:
    loop = asyncio.get_running_loop()
    rtc = loopback_rtc()
    send_log = SendLog.attach(send_log_name, speakers, MAX_CLIP_FRAMES)
    bots = [
        SpeakerBot(f"speaker-{n}", rtc, speaker_index=n % speakers, send_log=send_log)
        for n in range(count)
    ]
    try:
        pipe.send([await bot.offer() for bot in bots])
        answers: list[str] = await loop.run_in_executor(None, pipe.recv)
        for bot, answer in zip(bots, answers, strict=True):
            await bot.accept(answer)
        await asyncio.gather(*(bot.connected() for bot in bots))
        pipe.send("connected")
        while (command := await loop.run_in_executor(None, pipe.recv)) != "stop":
            if command == "quiet":  # turns over: DTX only, one frame per 400 ms
                for bot in bots:
                    bot.stop_talking()
            pipe.send(command)
        pipe.send(sum(bot.sent_packets for bot in bots))
    finally:
        await asyncio.gather(*(bot.close() for bot in bots), return_exceptions=True)
        send_log.close()


# --- the listeners' process (this one) -----------------------------------------------------


@dataclass(frozen=True)
class Window:
    """This process's CPU and the listeners' RTP packets over one window."""

    seconds: float
    packets: int
    user_seconds: float
    system_seconds: float

    @property
    def cpu_seconds(self) -> float:
        return self.user_seconds + self.system_seconds


async def _window(bots: Sequence[ListenerBot], seconds: float) -> Window:
    before_packets = sum(bot.stats.received for bot in bots)
    # getrusage, not /proc's clock ticks: the scheduler's exact run time (all threads), so
    # a short window of cheap bots does not round to 0 or 10 ms.
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    await asyncio.sleep(seconds)  # the measurement window itself
    after = resource.getrusage(resource.RUSAGE_SELF)
    return Window(
        seconds=time.monotonic() - started,
        packets=sum(bot.stats.received for bot in bots) - before_packets,
        user_seconds=after.ru_utime - before.ru_utime,
        system_seconds=after.ru_stime - before.ru_stime,
    )


def measure_bot_cost(
    listeners: int = 50,
    seconds: float = 10.0,
    warmup: float = 3.0,
    sample_every: int = 50,
    speakers: int = 4,
    breakdown: bool = False,
    batched: bool = True,
) -> BotCost:
    """Run the measurement (module docstring) in this process and a child; blocks for about
    warmup + seconds + set-up (twice the window with `breakdown`: a second window while the
    speakers only send DTX, to split fixed from per-packet cost). Raises RuntimeError if a
    bot fails to connect."""
    return uvloop.run(
        _measure(listeners, seconds, warmup, sample_every, speakers, breakdown, batched)
    )


async def _measure(
    listeners: int,
    seconds: float,
    warmup: float,
    sample_every: int,
    speakers: int,
    breakdown: bool,
    batched: bool,
) -> BotCost:
    loop = asyncio.get_running_loop()
    rtc = loopback_rtc()
    send_log = new_send_log(speakers)
    context = multiprocessing.get_context("spawn")
    pipe, child_pipe = context.Pipe()
    child = context.Process(
        target=_speakers_main,
        args=(child_pipe, listeners, send_log.name, speakers),
        name="bot_cost speakers",
        daemon=True,
    )
    child.start()
    bots = [
        ListenerBot(
            f"listener-{n}",
            rtc,
            slots=1,
            sample_every=sample_every,
            send_log=send_log,
            batched=batched,
        )
        for n in range(listeners)
    ]

    async def receive() -> object:
        if not await loop.run_in_executor(None, pipe.poll, SETUP_SECONDS):
            raise RuntimeError("the speakers' process did not answer")
        return pipe.recv()

    try:
        offers = await receive()
        assert isinstance(offers, list)
        pipe.send([await bot.answer(offer) for bot, offer in zip(bots, offers, strict=True)])
        await asyncio.gather(*(bot.connected() for bot in bots))
        if await receive() != "connected":
            raise RuntimeError("the speakers did not connect")
        await asyncio.sleep(warmup)  # the window starts after the warm-up, by definition

        talking = await _window(bots, seconds)
        quiet = None
        if breakdown:
            pipe.send("quiet")
            await receive()
            await asyncio.sleep(1.0)  # packets in flight and the last spurts end
            quiet = await _window(bots, seconds)
        pipe.send("stop")
        await receive()
        return BotCost(
            listeners=listeners,
            seconds=talking.seconds,
            packets=talking.packets,
            cpu_seconds=talking.cpu_seconds,
            user_seconds=talking.user_seconds,
            system_seconds=talking.system_seconds,
            lost=sum(bot.stats.lost for bot in bots),
            sampled_delays=sum(len(bot.delays_ms) for bot in bots),
            quiet=quiet,
        )
    finally:
        await asyncio.gather(*(bot.close() for bot in bots), return_exceptions=True)
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()
            child.join()
        send_log.unlink()


# --- the floor: uvloop's own receive path, with and without the header statistics ---------

RAW_BURSTS_PER_TICK = 10  # a tick's packets leave in 10 bursts, 2 ms apart, as a fan-out does


@dataclass(frozen=True)
class ReceiveFloor:
    """µs of CPU per datagram for N plain UDP sockets on uvloop fed SRTP-shaped datagrams at
    50 a second each: `bare` does nothing with them, `tapped` runs the listener bots' socket
    hook and header statistics (no aiortc, no ICE, no RTCP)."""

    sockets: int
    bare_us: float | None
    tapped_us: float | None

    def line(self) -> str:
        def show(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.2f} µs"

        return (
            f"receive floor ({self.sockets} sockets, uvloop): {show(self.bare_us)} per datagram "
            f"doing nothing; {show(self.tapped_us)} with the bots' header statistics"
        )


def _raw_packet(seq: int, ssrc: int) -> bytes:
    header = struct.pack("!BBHII", 0x90, 111, seq & 0xFFFF, (seq * 960) & 0xFFFFFFFF, ssrc)
    extension = struct.pack("!HH", 0xBEDE, 1) + bytes([0x10, 0x30, 0x20, 0x95])
    return header + extension + bytes(90)  # Opus payload + SRTP tag sizes of a voice frame


def _raw_sender_main(ports: list[int], seconds: float) -> None:
    sockets = []
    for port in ports:
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.connect((LOOPBACK, port))
        sockets.append(sender)
    burst = max(1, len(sockets) // RAW_BURSTS_PER_TICK)
    interval = 0.02 / RAW_BURSTS_PER_TICK
    start = time.monotonic()
    step = 0
    while time.monotonic() - start < seconds:
        tick, part = divmod(step, RAW_BURSTS_PER_TICK)
        for n, sender in enumerate(sockets[part * burst : (part + 1) * burst]):
            sender.send(_raw_packet(tick, part * burst + n))
        step += 1
        delay = start + step * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # this process only paces datagrams


class _RawProtocol(asyncio.DatagramProtocol):
    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        pass


def measure_receive_floor(sockets: int = 200, seconds: float = 5.0) -> ReceiveFloor:
    """Two windows of `seconds` over `sockets` sockets (see ReceiveFloor); blocks ~3 s more."""
    return uvloop.run(_receive_floor(sockets, seconds))


async def _receive_floor(count: int, seconds: float) -> ReceiveFloor:
    loop = asyncio.get_running_loop()
    endpoints = [
        await loop.create_datagram_endpoint(_RawProtocol, local_addr=(LOOPBACK, 0))
        for _ in range(count)
    ]
    ports = [transport.get_extra_info("sockname")[1] for transport, _ in endpoints]
    child = multiprocessing.get_context("spawn").Process(
        target=_raw_sender_main, args=(ports, 2 * seconds + 3.0), daemon=True
    )
    child.start()
    counted = [0]

    def bare(data: bytes, addr: tuple[Any, ...]) -> None:
        counted[0] += 1

    stats = RtpReceiveStats(audio_level_id=2)
    try:
        for _, protocol in endpoints:
            protocol.datagram_received = bare  # type: ignore[method-assign]
        await asyncio.sleep(1.0)  # the sender starts and settles
        before, packets = sample_process(os.getpid()).cpu_seconds, counted[0]
        await asyncio.sleep(seconds)  # the window itself
        bare_us = _per_packet(
            sample_process(os.getpid()).cpu_seconds - before, counted[0] - packets
        )
        for _, protocol in endpoints:
            tap = rtp_tap(protocol, stats.on_datagram, 0, _ignore, False)
            protocol.datagram_received = tap  # type: ignore[method-assign,assignment]
        before, packets = sample_process(os.getpid()).cpu_seconds, stats.received
        await asyncio.sleep(seconds)  # the window itself
        tapped_us = _per_packet(
            sample_process(os.getpid()).cpu_seconds - before, stats.received - packets
        )
    finally:
        for transport, _ in endpoints:
            transport.close()
        child.join(timeout=5)
        if child.is_alive():
            child.terminate()
    return ReceiveFloor(count, bare_us, tapped_us)


def _ignore(data: bytes, now: float) -> None:
    pass


def _per_packet(cpu_seconds: float, packets: int) -> float | None:
    return cpu_seconds / packets * 1e6 if packets > 0 else None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--listeners", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the window")
    parser.add_argument(
        "--sample-every",
        type=int,
        default=50,
        help="1 RTP packet in N is decrypted for the end-to-end delay (0: none)",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="a second window with DTX only: fixed cost per listener vs cost per packet",
    )
    parser.add_argument(
        "--per-datagram",
        action="store_true",
        help="listeners on uvloop's own datagram transports, not the batched poller",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also measure uvloop's bare receive cost and the header statistics alone",
    )
    args = parser.parse_args(argv)
    if args.listeners < 1 or args.seconds <= 0 or args.warmup < 0 or args.sample_every < 0:
        parser.error("--listeners ≥ 1, --seconds > 0, --warmup ≥ 0, --sample-every ≥ 0")
    collect_less_often()  # this process is the listeners' bot process
    cost = measure_bot_cost(
        args.listeners,
        args.seconds,
        args.warmup,
        args.sample_every,
        breakdown=args.breakdown,
        batched=not args.per_datagram,
    )
    print(cost.line())
    if args.floor:
        print(measure_receive_floor(args.listeners, args.seconds).line())


if __name__ == "__main__":
    main()
