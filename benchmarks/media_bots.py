"""Cheap media bots for load tests: listeners that read RTP headers, speakers that loop Opus.

Both are one aiortc RTCPeerConnection each, so ICE, DTLS and SRTP keys are aiortc's own,
against any server (Gethory as offerer, Janus as answerer). What they skip:

ListenerBot: before gathering, its aioice connections get their host candidates on sockets of
    the process's `DatagramPoller` (benchmarks.udp_poller: one epoll for every bot's sockets,
    read 15 ms after the first readiness, each datagram with the kernel's arrival time), and
    their consent checks on the process's `Upkeep` timer (benchmarks.bot_upkeep); both are
    instance attributes of this bot's connections only, never process-wide hooks: a server in
    the same process keeps its own path. Once negotiated, each socket's datagrams go to
    `rtp_receiver`: an RTP datagram (first byte 0x80-0xBF, second byte not an RTCP type
    192-223, RFC 5761 §4) goes straight to `RtpReceiveStats.on_rtp` from its header (in clear
    in SRTP, RFC 3711): no queue, no SRTP, no parse, no coroutine. The server's consent checks
    on the selected pair are answered in place (benchmarks.stun_answer, aioice's own bytes);
    other STUN and DTLS go on to aioice/aiortc as before. The server's SRTCP (its sender
    reports) is dropped: nothing a listener measures uses it. One RTP datagram in
    `sample_every` is also decrypted in place with aiortc's SRTP session (libsrtp estimates
    the rollover counter across the gap, RFC 3711 §3.3.1, and its replay window only moves
    forward), its payload looked up among the speakers' clips (`ClipIndex`), and the
    `SendLog` says when that frame left: end-to-end delay. A `decode=True` listener decrypts
    every datagram and decodes Opus (PyAV) to find the tone it hears. aiortc's receivers are
    parked (no decoder thread, no jitter buffer, no RTCP loop); the bot sends one RTCP
    receiver report for all its streams every ~5 s (RFC 3550 §6.2's minimum interval, on the
    Upkeep timer), from the header statistics, with LSR/DLSR 0. The server reads nothing else
    from them: sfu/ never looks at a listener's receiver reports (aiortc's sender would derive
    a round-trip time from LSR/DLSR, unused), and its consent expiry is refreshed by the
    answers to its own checks, which the bot keeps giving.
SpeakerBot: a sendonly transceiver whose aiortc send loop stays parked; the bot sends its
    clip's pre-encoded frames itself every 20 ms from a fixed schedule (no drift), with the
    RFC 6464 audio level and the marker bit at talk spurt starts, through the sender's own
    SRTP context and socket (`sfu.aiortc_hooks.RtpOutput`: serialize, protect, sendto); its
    RTCP sender reports carry its real counts, and the server's RTCP reaches aiortc.

`batched=False` keeps the event loop's own datagram transports and aioice's consent loop
(`python -m benchmarks.bot_cost --per-datagram`, for comparison).

aiortc/aioice private names used here (pinned versions, see sfu/aiortc_hooks.py), checked by
`check_bot_internals()`: `RTCIceTransport._connection`, aioice `Connection._protocols`,
`_nominated`, `get_component_candidates`, `query_consent`, `StunProtocol.transactions`,
`RTCRtpReceiver.__started`, `RTCDtlsTransport._rx_srtp`/`_tx_srtp`, `RTCRtpSender._ssrc`.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import math
import random
import time
from collections.abc import Callable
from typing import Any

import aioice.ice
import av
import numpy as np
import numpy.typing as npt
import pylibsrtp
from aiortc import (
    RTCConfiguration,
    RTCDtlsTransport,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
    sdp,
)
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters
from aiortc.rtp import (
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtpPacket,
    clamp_packets_lost,
)

from benchmarks.bot_upkeep import ROUND_SECONDS, Upkeep, keep_consent
from benchmarks.opus_clip import (
    DTX_INTERVAL_FRAMES,
    FRAME_SAMPLES,
    FRAME_SECONDS,
    IDLE_FRAMES,
    SAMPLE_RATE,
    ClipIndex,
    OpusClip,
    clip_for_speaker,
)
from benchmarks.rtp_reader import RtpReceiveStats, RtpStream
from benchmarks.send_log import SendLog
from benchmarks.stun_answer import BINDING_REQUEST, consent_response
from benchmarks.udp_poller import PolledTransport, Receiver, poll_host_candidates
from sfu.aiortc_hooks import RtpOutput
from sfu.participant import ParkedTrack
from sfu.rtp_sink import SenderReport

AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"  # RFC 6464
CONNECT_SECONDS = 15.0
CLIP_SECONDS = 5.0  # clip_for_speaker's length
# Frames a speaker's clip can have at most: a SendLog for a run is speakers × this.
MAX_CLIP_FRAMES = round(CLIP_SECONDS / FRAME_SECONDS) + IDLE_FRAMES
TONE_WINDOW_SECONDS = 2.0  # decoded audio kept per stream for the tone
MIN_TONE_SECONDS = 1.0
# Generation-0 collections: every this many container allocations, not Python's 700. A bot
# process's receive path allocates a few short-lived tuples per datagram (recvmsg's result,
# its ancillary data, the address); at 500 listeners that was ~100 collections a second.
# Measured at 500 listeners: 6.6 -> 6.0 µs of CPU per packet. Process-wide, and only timing:
# what is garbage is still collected.
BOT_GC_THRESHOLD = 20_000
RTCP_INTERVAL_SECONDS = ROUND_SECONDS  # RFC 3550 §6.2's recommended minimum interval


def new_send_log(speakers: int) -> SendLog:
    """A SendLog sized for `speakers` speaker bots' clips (the run's creator unlinks it)."""
    return SendLog.create(speakers, MAX_CLIP_FRAMES)


def check_bot_internals() -> None:
    """Raise RuntimeError if aiortc/aioice moved what the bots rely on (see module doc)."""
    wanted: list[tuple[Any, str, tuple[str, ...]]] = [
        (aioice.ice.Connection, "__init__", ("self._protocols",)),
        (aioice.ice.Connection, "gather_candidates", ("self.get_component_candidates(",)),
        (aioice.ice.StunProtocol, "datagram_received", ("self.receiver.data_received(",)),
        (aioice.ice.StunProtocol, "close", ("self.transport.close()", "await self.__closed")),
        (RTCRtpReceiver, "stop", ("if self.__started:",)),
        (RTCDtlsTransport, "__init__", ("self._rx_srtp",)),
        (RTCDtlsTransport, "_recv_next", ("self._rx_srtp.unprotect(data)",)),
        (RTCDtlsTransport, "__init__", ("self._tx_srtp",)),
        (aioice.ice.Connection, "connect", ("self.query_consent()",)),
        (aioice.ice.Connection, "__init__", ("self._nominated",)),
        (aioice.ice.StunProtocol, "datagram_received", ("transaction.response_received(",)),
        (aioice.ice.Connection, "request_received", ("self.check_incoming(",)),
        (RTCPeerConnection, "_RTCPeerConnection__createTransceiver", ("_set_rtcp_ssrc(",)),
        (RTCRtpSender, "__init__", ("self._ssrc",)),
    ]
    problems = []
    for cls, method, names in wanted:
        source = inspect.getsource(getattr(cls, method))
        problems += [f"{cls.__name__}.{method} lacks {n}" for n in names if n not in source]
    if problems:
        raise RuntimeError("aiortc/aioice internals changed: " + "; ".join(problems))


def negotiated_extension_id(description: str, uri: str) -> int | None:
    """The id an SDP gives the header extension `uri` (its first audio section that has it)."""
    for media in sdp.SessionDescription.parse(description).media:
        for extension in media.rtp.headerExtensions:
            if extension.uri == uri:
                return int(extension.id)
    return None


def negotiated_opus_type(description: str, mid: str | None) -> int | None:
    """The Opus payload type of the SDP section `mid`, None if it has no Opus."""
    for media in sdp.SessionDescription.parse(description).media:
        if media.rtp.muxId == mid:
            for codec in media.rtp.codecs:
                if codec.mimeType.lower() == "audio/opus" and codec.payloadType is not None:
                    return int(codec.payloadType)
    return None


class _ReportView:
    """What a receiver report block says of a stream (the duck type of aiortc's
    StreamStatistics), from the header statistics of every packet, not the sample."""

    def __init__(self, stream: RtpStream) -> None:
        self._stream = stream

    @property
    def fraction_lost(self) -> int:
        return self._stream.fraction_lost()

    @property
    def packets_lost(self) -> int:
        return int(clamp_packets_lost(self._stream.lost))

    @property
    def packets_received(self) -> int:
        return self._stream.unique_received

    @property
    def max_seq(self) -> int:  # RFC 3550's extended highest sequence number
        return self._stream.extended_max & 0xFFFFFFFF

    @property
    def jitter(self) -> int:  # RTP units
        return int(self._stream.jitter)


def _park_receiver(receiver: RTCRtpReceiver) -> None:
    """aiortc's `receive` starts a decoder thread, a jitter buffer and a receiver RTCP loop
    sending a report every 0.5-1.5 s; a bot needs none of them (it reads datagrams itself and
    sends its own, rarer, reports), so `receive` does nothing. `stop()` then has nothing to
    stop (it only acts on a started receiver)."""

    async def receive(parameters: RTCRtpReceiveParameters) -> None:
        return None

    hooked: Any = receiver
    hooked.receive = receive


def is_rtcp(data: bytes) -> bool:
    """An RTCP (or SRTCP) datagram: version 2, packet type 192-223 (RFC 5761 §4)."""
    return len(data) >= 8 and 127 < data[0] < 192 and 191 < data[1] < 224


def rtp_receiver(
    protocol: Any,
    on_rtp: Callable[[bytes, float], None],
    sample_every: int,
    on_sample: Callable[[bytes, float], None],
    pass_rtcp: bool,
) -> Receiver:
    """What one socket's datagrams go to, with their arrival time (time.monotonic()
    seconds): each RTP datagram to `on_rtp`, and 1 in `sample_every` (never if 0; every one
    if 1) to `on_sample` as well; RTP never goes on to aioice. RTCP goes on to aioice only if
    `pass_rtcp`. A consent check the peer sends on the selected pair is answered here
    (`benchmarks.stun_answer`). Everything else (STUN, DTLS) goes on to `protocol` (an aioice
    StunProtocol) through the method of its class at that moment, so process-wide hooks still
    apply."""
    stock = type(protocol)
    countdown = sample_every if sample_every > 0 else -1
    stun = isinstance(protocol, aioice.ice.StunProtocol)

    def datagram_received(data: bytes, addr: tuple[Any, ...], now: float) -> None:
        nonlocal countdown
        if len(data) >= 12 and 127 < data[0] < 192:
            if not 191 < data[1] < 224:
                on_rtp(data, now)  # checked: RTP, 12 bytes or more
                countdown -= 1
                if countdown == 0:
                    countdown = sample_every
                    on_sample(data, now)
                return
            if not pass_rtcp:
                return
        elif stun and data[:2] == BINDING_REQUEST:
            response = consent_response(protocol.receiver, protocol, data, addr)
            if response is not None:  # a consent check: answered as aioice would
                protocol.transport.sendto(response, addr)
                return
        stock.datagram_received(protocol, data, addr)

    return datagram_received


def rtp_tap(
    protocol: Any,
    on_rtp: Callable[[bytes, float], None],
    sample_every: int,
    on_sample: Callable[[bytes, float], None],
    pass_rtcp: bool,
) -> Callable[[bytes, tuple[Any, ...]], None]:
    """`rtp_receiver` as a protocol's `datagram_received` (a socket of the event loop's own
    transports): the arrival time is taken when the datagram is handled."""
    return _timed(rtp_receiver(protocol, on_rtp, sample_every, on_sample, pass_rtcp))


def _timed(receive: Receiver) -> Callable[[bytes, tuple[Any, ...]], None]:
    monotonic = time.monotonic

    def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
        receive(data, addr, monotonic())

    return datagram_received


def receiver_report(ssrc: int, stats: RtpReceiveStats) -> RtcpRrPacket | None:
    """An RTCP receiver report (RFC 3550 §6.4.2) from sender SSRC `ssrc` with a block for
    each of the (at most 31) streams last seen in `stats`; None without any. LSR/DLSR are 0:
    listeners do not read the sender reports (§6.4.1 allows 0 when none was received)."""
    streams = list(stats.streams.values())[-31:]
    if not streams:
        return None
    reports = []
    for stream in streams:
        view = _ReportView(stream)
        reports.append(
            RtcpReceiverInfo(
                ssrc=stream.ssrc,
                fraction_lost=view.fraction_lost,
                packets_lost=view.packets_lost,
                highest_sequence=view.max_seq,
                jitter=view.jitter,
                lsr=0,
                dlsr=0,
            )
        )
    return RtcpRrPacket(ssrc=ssrc, reports=reports)


def collect_less_often() -> None:
    """Raise this process's generation-0 threshold to BOT_GC_THRESHOLD (never lower it).

    Called by the entry points of bot processes (benchmarks.workers, bot_cost, vs-janus), not
    by the bots: a process that also runs other code (a test process hosting the server) keeps
    its own collection rhythm."""
    threshold, *older = gc.get_threshold()
    if threshold < BOT_GC_THRESHOLD:
        gc.set_threshold(BOT_GC_THRESHOLD, *older)


class _Bot:
    """One peer connection with recvonly slots read by header (see the module docstring)."""

    def __init__(
        self,
        name: str,
        rtc: RTCConfiguration,
        *,
        slots: int,
        sample_every: int,
        decode: bool,
        send_log: SendLog | None,
        batched: bool,
    ) -> None:
        self.name = name
        self._batched = batched
        self.pc = RTCPeerConnection(rtc)
        self.stats = RtpReceiveStats()
        self.delays_ms: list[float] = []
        self._sample_every = 1 if decode else sample_every
        self._decode = decode
        self._send_log = send_log
        self._index = _clip_index(send_log.speakers) if send_log is not None else None
        self._parked: set[RTCRtpReceiver] = set()
        self._tapped: set[aioice.ice.StunProtocol] = set()
        self._decoders: dict[int, _ToneListener] = {}
        self._connected = asyncio.Event()
        self._failed = False
        self._closed = False
        self.pc.on("connectionstatechange", self._on_state)
        self._slots = [self.pc.addTransceiver("audio", direction="recvonly") for _ in range(slots)]

    # --- negotiation -------------------------------------------------------------------------

    async def offer(self) -> str:
        """Our offer (aiortc gathers here); the server answers with `accept`."""
        self._park_receivers()
        self._poll_sockets()
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer_sdp: str) -> None:
        """Apply the server's answer; `connected()` then waits for ICE and DTLS."""
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))
        self._negotiated(answer_sdp)

    async def answer(self, offer_sdp: str) -> str:
        """Answer the server's offer (Janus subscribers and publishers are answered)."""
        await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        self._prepare_answer()
        self._park_receivers()
        self._poll_sockets()
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._negotiated(offer_sdp)
        return str(self.pc.localDescription.sdp)

    def _prepare_answer(self) -> None:
        """Between the offer and our answer (the speaker takes its microphone line here)."""

    def _negotiated(self, remote_sdp: str) -> None:
        self.stats.audio_level_id = negotiated_extension_id(remote_sdp, AUDIO_LEVEL_URI)
        self._tap_sockets()

    async def connected(self) -> None:
        """Wait until ICE and DTLS are up. Raises RuntimeError if the connection fails,
        closes, or is not up within CONNECT_SECONDS."""
        try:
            async with asyncio.timeout(CONNECT_SECONDS):
                await self._connected.wait()
        except TimeoutError:
            raise RuntimeError(
                f"{self.name}: media not connected in {CONNECT_SECONDS:.0f} s "
                f"({self.pc.connectionState})"
            ) from None
        if self._failed:
            raise RuntimeError(f"{self.name}: media connection {self.pc.connectionState}")
        self._tap_sockets()
        if self._parked and not self._closed:
            # Every RTCP_INTERVAL_SECONDS (randomized over [0.8, 1.2] times), with every other
            # bot's of this process: one timer wake-up for all (benchmarks.bot_upkeep).
            Upkeep.running().every_round(self, self._send_report)

    async def close(self) -> None:
        self._closed = True
        Upkeep.running().forget(self)
        await self.pc.close()

    def _on_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected":
            self._connected.set()
        elif state in ("failed", "closed"):
            self._failed = True
            self._connected.set()

    # --- the receive path --------------------------------------------------------------------

    def _park_receivers(self) -> None:
        for transceiver in self.pc.getTransceivers():
            receiver = transceiver.receiver
            if receiver not in self._parked and self._receives(transceiver):
                _park_receiver(receiver)
                self._parked.add(receiver)

    def _passes_rtcp(self) -> bool:
        """Whether RTCP goes on to aiortc (a speaker's sender reads receiver reports)."""
        return False

    def _receives(self, transceiver: RTCRtpTransceiver) -> bool:
        return True

    def _poll_sockets(self) -> None:
        """Before gathering: this connection's host sockets are read by the process's
        `DatagramPoller` (batched), unless the bot was made with `batched=False`."""
        if not self._batched:
            return
        for transceiver in self.pc.getTransceivers():
            connection: Any = transceiver.receiver.transport.transport._connection
            if "get_component_candidates" not in vars(connection):
                poll_host_candidates(connection)
                keep_consent(connection)

    def _tap_sockets(self) -> None:
        """Hook every socket of this connection's ICE transports (after bundling)."""
        for transceiver in self.pc.getTransceivers():
            dtls = transceiver.receiver.transport
            connection: Any = dtls.transport._connection  # aiortc's aioice Connection
            for protocol in connection._protocols:
                if protocol in self._tapped:
                    continue
                receive = rtp_receiver(
                    protocol,
                    self.stats.on_rtp,
                    self._sample_every,
                    _SrtpSample(dtls, self._on_packet),
                    self._passes_rtcp(),
                )
                transport = getattr(protocol, "transport", None)
                if isinstance(transport, PolledTransport):
                    transport.receiver = receive  # with the kernel's arrival time
                else:
                    protocol.datagram_received = _timed(receive)  # this instance only
                self._tapped.add(protocol)

    def _on_packet(self, packet: RtpPacket, arrival: float) -> None:
        """A sampled packet, decrypted: its end-to-end delay; any packet of a decoder."""
        if self._decode:
            listener = self._decoders.get(packet.ssrc)
            if listener is None:
                listener = self._decoders[packet.ssrc] = _ToneListener()
            listener.add(packet.payload)
        if self._index is None or self._send_log is None:
            return
        where = self._index.lookup(packet.payload)
        if where is None:
            return
        sent = self._send_log.sent_at(*where)
        if not math.isnan(sent):
            self.delays_ms.append((arrival - sent) * 1000.0)

    def _send_report(self) -> None:
        """One RTCP receiver report for all the streams heard (`receiver_report`), from the
        RTCP SSRC aiortc gave the first receiving transceiver (its sender's SSRC, as aiortc's
        own reports), SRTCP-protected and sent on the selected pair, synchronously."""
        transceiver = next(t for t in self.pc.getTransceivers() if t.receiver in self._parked)
        dtls: Any = transceiver.receiver.transport
        packet = receiver_report(transceiver.sender._ssrc, self.stats)
        if packet is None or dtls.state != "connected":
            return
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None or pair.protocol.transport is None:
            return
        pair.protocol.transport.sendto(dtls._tx_srtp.protect_rtcp(bytes(packet)), pair.remote_addr)

    @property
    def tone_hz(self) -> float | None:
        """The dominant frequency of the stream heard longest (decode=True only; None
        before MIN_TONE_SECONDS of it were decoded)."""
        if not self._decoders:
            return None
        longest = max(self._decoders.values(), key=lambda d: d.samples)
        return longest.dominant_hz()

    @property
    def tones_hz(self) -> dict[int, float | None]:
        """The dominant frequency per SSRC (decode=True only)."""
        return {ssrc: d.dominant_hz() for ssrc, d in self._decoders.items()}


class _SrtpSample:
    """`on_sample` for a tap: decrypts the datagram with the DTLS transport's SRTP session
    (aiortc's own, `_rx_srtp`, which no other packet goes through: libsrtp estimates the
    rollover counter across the gap, RFC 3711 §3.3.1, and its replay window only moves
    forward), parses it and gives it to `handler` with its arrival time. Nothing before
    DTLS is up; a datagram that fails to decrypt is skipped."""

    def __init__(self, dtls: Any, handler: Callable[[RtpPacket, float], None]) -> None:
        self._dtls = dtls
        self._handler = handler
        self.failed = 0

    def __call__(self, data: bytes, now: float) -> None:
        srtp = self._dtls._rx_srtp
        if srtp is None:
            return
        try:
            packet = RtpPacket.parse(srtp.unprotect(data))
        except (pylibsrtp.Error, ValueError):
            self.failed += 1
            return
        self._handler(packet, now)


class _ToneListener:
    """Decodes one stream's Opus and keeps its last TONE_WINDOW_SECONDS of audio."""

    def __init__(self) -> None:
        self._codec = av.CodecContext.create("libopus", "r")
        assert isinstance(self._codec, av.AudioCodecContext)
        self._codec.sample_rate = SAMPLE_RATE
        self._codec.layout = "mono"
        self._chunks: list[npt.NDArray[np.float64]] = []
        self._kept = 0
        self.samples = 0

    def add(self, payload: bytes) -> None:
        try:
            frames = self._codec.decode(av.Packet(payload))
        except av.FFmpegError:
            return  # a corrupt payload: the next one decodes (Opus frames are independent)
        for frame in frames:
            pcm = frame.to_ndarray().astype(np.float64)
            mono = pcm.reshape(-1) if pcm.shape[0] == 1 else pcm.mean(axis=0)
            self._chunks.append(mono)
            self._kept += mono.size
            self.samples += mono.size
        limit = int(TONE_WINDOW_SECONDS * SAMPLE_RATE)
        while self._chunks and self._kept - self._chunks[0].size >= limit:
            self._kept -= self._chunks.pop(0).size

    def dominant_hz(self) -> float | None:
        if self._kept < MIN_TONE_SECONDS * SAMPLE_RATE:
            return None
        audio = np.concatenate(self._chunks)
        spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
        spectrum[0] = 0.0
        peak = int(np.argmax(spectrum))
        # Parabolic interpolation between the bins around the peak.
        if 0 < peak < spectrum.size - 1:
            a, b, c = spectrum[peak - 1], spectrum[peak], spectrum[peak + 1]
            denominator = a - 2 * b + c
            offset = 0.5 * (a - c) / denominator if denominator else 0.0
        else:
            offset = 0.0
        return float((peak + offset) * SAMPLE_RATE / audio.size)


_clip_indexes: dict[int, ClipIndex] = {}


def _clip_index(speakers: int) -> ClipIndex:
    index = _clip_indexes.get(speakers)
    if index is None:
        index = _clip_indexes[speakers] = ClipIndex.for_speakers(speakers)
    return index


class ListenerBot(_Bot):
    """A listener: `slots` recvonly transceivers read by header (module docstring).

    stats: header statistics of every RTP datagram received.
    delays_ms: end-to-end delays (ms) of the sampled packets whose payload is a clip frame
        the `send_log` knows (its speakers' clips: `clip_for_speaker(0..speakers-1)`).
    tone_hz: the dominant frequency heard (decode=True only).
    """

    def __init__(
        self,
        name: str,
        rtc: RTCConfiguration,
        *,
        slots: int,
        sample_every: int = 50,
        decode: bool = False,
        send_log: SendLog | None = None,
        batched: bool = True,
    ) -> None:
        super().__init__(
            name,
            rtc,
            slots=slots,
            sample_every=sample_every,
            decode=decode,
            send_log=send_log,
            batched=batched,
        )


class SpeakerBot(_Bot):
    """A speaker: loops `clip_for_speaker(speaker_index)` on a sendonly transceiver (module
    docstring), recording each send in `send_log`; `slots` recvonly transceivers are read as
    a listener's are (`stats`). `talking` False: only DTX frames, one per 400 ms."""

    def __init__(
        self,
        name: str,
        rtc: RTCConfiguration,
        *,
        speaker_index: int,
        send_log: SendLog | None = None,
        slots: int = 0,
        sample_every: int = 50,
        batched: bool = True,
    ) -> None:
        self.speaker_index = speaker_index
        self.clip: OpusClip = clip_for_speaker(speaker_index)
        self.sent_packets = 0
        self.sent_bytes = 0
        self.talking = True
        self._resume = True  # the next voiced frame opens a talk spurt: marker bit
        self._microphone: RTCRtpTransceiver | None = None
        self._task: asyncio.Task[None] | None = None
        self._started_at = 0.0
        self._timestamp_base = random.getrandbits(32)
        self._payload_octets = 0
        super().__init__(
            name,
            rtc,
            slots=0,
            sample_every=sample_every,
            decode=False,
            send_log=send_log,
            batched=batched,
        )
        self._microphone = self.pc.addTransceiver(ParkedTrack(), direction="sendonly")
        self._slots = [self.pc.addTransceiver("audio", direction="recvonly") for _ in range(slots)]

    def start_talking(self) -> None:
        if not self.talking:
            self.talking = True
            self._resume = True

    def stop_talking(self) -> None:
        self.talking = False

    def _receives(self, transceiver: RTCRtpTransceiver) -> bool:
        return transceiver is not self._microphone

    def _passes_rtcp(self) -> bool:
        return True  # the server's receiver reports of our stream (aiortc's round-trip time)

    def _prepare_answer(self) -> None:
        microphone = self._microphone
        if microphone is not None and microphone.mid is None:  # the offer had no line for it
            self._microphone = None

    async def connected(self) -> None:
        await super().connected()
        if self._task is None and self._microphone is not None:
            self._task = asyncio.create_task(self._send_loop(), name=f"{self.name} speaks")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await super().close()

    def sender_report(self, now: float) -> SenderReport:
        """For the RTCP sender reports: the RTP time of `now` on our send schedule."""
        ticks = (now - self._started_at) / FRAME_SECONDS
        timestamp = (self._timestamp_base + int(ticks * FRAME_SAMPLES)) & 0xFFFFFFFF
        return SenderReport(timestamp, self.sent_packets, self._payload_octets)

    async def _send_loop(self) -> None:
        microphone = self._microphone
        assert microphone is not None
        remote = self.pc.remoteDescription
        local = self.pc.localDescription
        description = remote.sdp if remote.type == "answer" else local.sdp
        payload_type = negotiated_opus_type(description, microphone.mid)
        level_id = negotiated_extension_id(description, AUDIO_LEVEL_URI)
        if payload_type is None:
            raise RuntimeError(f"{self.name}: Opus was not negotiated")
        output = RtpOutput(microphone.sender)
        output.report_from(self)
        packet = RtpPacket(payload_type=payload_type, ssrc=output.ssrc)
        sequence = random.getrandbits(16)
        send_log = self._send_log
        # A speaker index beyond the log's size sends unlogged (its delays cannot be measured).
        logged = send_log is not None and self.speaker_index < send_log.speakers
        loop = asyncio.get_running_loop()
        # On the 20 ms grid of the monotonic clock: the speakers of one process wake together
        # (one timer wake-up per tick, not one per speaker), as one SFU input fans out at once.
        start = math.ceil(loop.time() / FRAME_SECONDS) * FRAME_SECONDS
        self._started_at = start
        tick = 0
        while not self._closed:
            delay = start + tick * FRAME_SECONDS - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            frame = self._frame_at(tick)
            if frame >= 0:
                clip = self.clip
                packet.sequence_number = sequence
                packet.timestamp = (self._timestamp_base + tick * FRAME_SAMPLES) & 0xFFFFFFFF
                voiced = clip.voiced[frame]
                # The marker opens each talk spurt (RFC 3551 §4.1), and the first after a turn.
                packet.marker = 1 if clip.markers[frame] or (self._resume and voiced) else 0
                packet.payload = clip.frames[frame]
                if level_id is not None:
                    packet.extensions.audio_level = (voiced, clip.levels[frame])
                if logged and send_log is not None:
                    # Before the send: a listener in another process may read the packet
                    # before this process runs again, and would find the previous loop's time
                    # (a delay of one whole clip, 5 s).
                    send_log.record(self.speaker_index, frame, time.monotonic())
                sent = output.send(packet)
                if sent:
                    sequence = (sequence + 1) & 0xFFFF
                    if voiced:
                        self._resume = False
                    self.sent_packets += 1
                    self.sent_bytes += sent
                    self._payload_octets += len(packet.payload)
            tick += 1

    def _frame_at(self, tick: int) -> int:
        """The clip frame to send at `tick` (20 ms each since the start), -1 for none."""
        clip = self.clip
        if self.talking:
            return clip.schedule[tick % clip.tick_count]
        if tick % DTX_INTERVAL_FRAMES or not clip.idle:
            return -1
        return clip.idle[(tick // DTX_INTERVAL_FRAMES) % len(clip.idle)]
