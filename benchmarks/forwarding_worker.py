"""The child process of benchmarks.forwarding_instructions: the SFU's per-packet path of one
tree on real sockets.

    python -m benchmarks.forwarding_worker SPEC_JSON      (run by forwarding_instructions)

`worker_main` puts the spec's tree first on `sys.path` and imports `sfu` from it (and fails if
it came from anywhere else), so one checkout's benchmark measures another's code: nothing
here imports `sfu` at module level. It joins a real `sfu.room.Room` (one speaker, one slot
per listener), forwards `WARMUP_PACKETS` and then `rounds` x `packets` packets through
`Room.route` to the listeners' ports, and writes its CPU per round and the room's count of
copies as JSON to `spec.out`. The sinks and participants are the only parts of its own
(see forwarding_instructions' docstring for why and what they mirror).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import resource
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
PAYLOAD_TYPE = 111
MID = "0"
MID_ID, LEVEL_ID = 4, 1  # Chromium's extension ids for sdes:mid and ssrc-audio-level
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
PUBLISHER_SSRC = 0x5EED1234
PAYLOAD_BYTES = 120  # an Opus voice frame of 20 ms at ~48 kb/s
LEVEL = (True, 30)  # RFC 6464: voice, -30 dBov (loud enough to rank)
FRAME = 960  # RTP timestamp units per 20 ms packet at 48 kHz
WARMUP_PACKETS = 20  # every run: each slot's first packet (a stream start) is not measured
SLOT_COUNT = 3
# SRTP protection profiles (RFC 5764, RFC 7714): (libsrtp profile name, master key + salt
# bytes). aiortc prefers them in the order AES-256-GCM, AES-128-GCM, AES128_CM_SHA1_80, and
# the DTLS server picks by its own preference: aiortc to aiortc (the load tester's bots)
# negotiates AEAD_AES_256_GCM; sha1-80 is what tests/test_rtp_batch.py uses.
PROFILES = {
    "sha1-80": ("SRTP_PROFILE_AES128_CM_SHA1_80", 16 + 14),
    "gcm-128": ("SRTP_PROFILE_AEAD_AES_128_GCM", 16 + 12),
    "gcm-256": ("SRTP_PROFILE_AEAD_AES_256_GCM", 32 + 12),
}


@dataclass(frozen=True)
class WorkerSpec:
    """What one child process forwards: `packets` x `rounds` packets (after WARMUP_PACKETS)
    from one publisher to one slot of each listener (`ports`, `keys` hex SRTP master key +
    salt, `ssrcs`), through the tree at `source` with sink `kind` and `sockets` mode."""

    source: str
    kind: str
    sockets: str
    packets: int
    rounds: int
    ports: tuple[int, ...]
    keys: tuple[str, ...]
    ssrcs: tuple[int, ...]
    out: str
    srtp: str = "sha1-80"


def _outbound_session(key: bytes, srtp: str) -> Any:
    """An SRTP session as aiortc's RTCDtlsTransport._setup_srtp makes one (a PROFILES key)."""
    from pylibsrtp import Policy, Session

    policy = Policy(
        key=key,
        ssrc_type=Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=getattr(Policy, PROFILES[srtp][0]),
    )
    policy.allow_repeat_tx = True
    policy.window_size = 1024
    return Session(policy)


def inbound_session(key: bytes, srtp: str) -> Any:
    from pylibsrtp import Policy, Session

    policy = Policy(
        key=key,
        ssrc_type=Policy.SSRC_ANY_INBOUND,
        srtp_profile=getattr(Policy, PROFILES[srtp][0]),
    )
    policy.window_size = 1024
    return Session(policy)


def extensions_map() -> Any:
    """aiortc's HeaderExtensionsMap with Chromium's mid and audio-level ids."""
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
    from aiortc.rtp import HeaderExtensionsMap

    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=MID_ID, uri=MID_URI),
                RTCRtpHeaderExtensionParameters(id=LEVEL_ID, uri=LEVEL_URI),
            ]
        )
    )
    return extensions


class BatchOutput:
    """The sink of a tree with sfu.rtp_batch: `put` is `sfu.aiortc_hooks.RtpOutput.put`
    (cacc517) statement for statement; the destination is built as `RtpOutput._connect_batch`
    builds it, from the same public pieces, but from a transport, address and session given
    here instead of a connected aiortc `RTCRtpSender`."""

    def __init__(
        self,
        batch: Any,
        transport: Any,
        fd: int,
        address: tuple[str, int],
        session: Any,
        ssrc: int,
    ) -> None:
        from sfu.aiortc_hooks import header_templates
        from sfu.rtp_batch import new_destination

        self._ssrc = ssrc
        self._transport = transport
        with_level, level_offset, without_level = header_templates(
            PAYLOAD_TYPE, ssrc, MID, extensions_map()
        )
        self._destination = new_destination(
            batch, fd, address, session, with_level, level_offset, without_level
        )
        self._add: Callable[..., int] | None = batch.add
        self.source: Any = None

    @property
    def ssrc(self) -> int:
        return self._ssrc

    def put(self, sequence_number: int, timestamp: int, marker: int, packet: Any) -> int:
        if self._add is None:  # RtpOutput: `and not self._connect_batch()`: connected here
            return 0
        assert self._transport is not None and self._add is not None
        if self._transport.is_closing():
            return 0
        level = packet.extensions.audio_level
        return self._add(
            self._destination,
            sequence_number,
            timestamp,
            marker,
            packet.payload,
            -1 if level is None else (0x80 if level[0] else 0) | (level[1] & 0x7F),
        )

    def report_from(self, source: Any) -> None:
        """aiortc's RTCP loop is not part of this benchmark: the source is only kept."""
        self.source = source


class PlainOutput:
    """The sink of a tree without sfu.rtp_batch: `send` is 85c3673's `RtpOutput.send`
    statement for statement (aiortc's serialize, pylibsrtp's protect, the transport's
    sendto), with the pieces `RtpOutput._connect` would take from aiortc given here."""

    def __init__(self, transport: Any, address: tuple[str, int], session: Any, ssrc: int) -> None:
        self._ssrc = ssrc
        self._transport = transport
        self._address = address
        self._protect: Callable[[bytes], bytes] | None = session.protect
        self._extensions = extensions_map()
        self.mid: str | None = MID
        self.source: Any = None

    @property
    def ssrc(self) -> int:
        return self._ssrc

    def send(self, packet: Any) -> int:
        if self._transport is None:  # RtpOutput: `and not self._connect()`: connected here
            return 0
        assert self._protect is not None and self._transport is not None
        if self._transport.is_closing():
            return 0
        packet.extensions.mid = self.mid
        data = self._protect(packet.serialize(self._extensions))
        self._transport.sendto(data, self._address)
        return len(data)

    def report_from(self, source: Any) -> None:
        self.source = source


class BenchParticipant:
    """A `sfu.room.RoomParticipant` whose slots exist from the start (an aiortc peer
    connection would make them in `connect`); everything the room does with it is real."""

    def __init__(self, participant_id: str, publisher: Any, slots: list[Any]) -> None:
        self.id = participant_id
        self.user_id = f"usr_{participant_id}"
        self.publisher = publisher
        self.negotiated = False
        self.slots = slots

    async def connect(self, offer_sdp: str, max_slots: int) -> str:
        self.negotiated = True
        return "answer"

    def detach(self) -> None:
        self.negotiated = False

    async def close(self) -> None:
        self.detach()


class _QuietEndpoint:
    """The MediaPort endpoint of one listener's connection (aioice's StunProtocol in the
    SFU); nothing arrives on the port in this benchmark."""

    def connection_lost(self, exc: Exception | None) -> None:
        pass

    def datagram_received(self, data: bytes, addr: Any) -> None:
        pass

    def stun_request_received(self, data: bytes, addr: Any) -> bool:
        return False

    def uses_address(self, addr: Any) -> bool:
        return False


async def _transports(sockets: str, count: int) -> tuple[list[Any], list[int], list[Any]]:
    """`count` datagram transports on 127.0.0.1, their descriptors, what to close."""
    loop = asyncio.get_running_loop()
    if sockets == "shared":
        from sfu.media_port import MediaPort

        port = MediaPort.open(LOOPBACK, 0, loop)
        transports = [port.transport(_QuietEndpoint()) for _ in range(count)]
        # The old tree's MediaPort has no fileno: only the batch (which it lacks) needs one.
        fd: int = port.fileno() if hasattr(port, "fileno") else -1
        return transports, [fd] * count, [port]
    made = [
        await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(LOOPBACK, 0))
        for _ in range(count)
    ]
    own = [transport for transport, _ in made]
    fds = [transport.get_extra_info("socket").fileno() for transport in own]
    return list(own), fds, list(own)


def payloads() -> list[bytes]:
    return [bytes([n]) * PAYLOAD_BYTES for n in range(16)]


def _forward(route: Callable[[Any, Any], None], publisher: Any, first: int, count: int) -> None:
    """The received packets: one new RtpPacket each, as aiortc's parse makes one."""
    from aiortc.rtp import RtpPacket

    packet_payloads = payloads()
    for n in range(first, first + count):
        packet = RtpPacket(
            payload_type=PAYLOAD_TYPE,
            sequence_number=n & 0xFFFF,
            timestamp=(n * FRAME) & 0xFFFFFFFF,
            ssrc=PUBLISHER_SSRC,
            payload=packet_payloads[n & 15],
        )
        packet.extensions.audio_level = LEVEL
        route(publisher, packet)


async def _run_worker(spec: WorkerSpec) -> dict[str, Any]:
    import sfu
    from sfu.config import SfuConfig
    from sfu.publisher import Publisher
    from sfu.room import Room
    from sfu.slot import Slot
    from sfu.stats import SfuStats

    count = len(spec.ports)
    transports, fds, closing = await _transports(spec.sockets, count)
    batch: Any = None
    if spec.kind == "native":
        batch = importlib.import_module("sfu._rtp_batch").RtpBatch()
    elif spec.kind == "python":
        batch = importlib.import_module("sfu.rtp_batch").PyRtpBatch()
    slot_takes_payload_type = "payload_type" in inspect.signature(Slot).parameters
    participants: dict[str, BenchParticipant] = {}
    for index in range(count):
        address = (LOOPBACK, spec.ports[index])
        session = _outbound_session(bytes.fromhex(spec.keys[index]), spec.srtp)
        sink: Any
        if batch is None:
            sink = PlainOutput(transports[index], address, session, spec.ssrcs[index])
        else:
            sink = BatchOutput(
                batch, transports[index], fds[index], address, session, spec.ssrcs[index]
            )
        slot = Slot(0, sink, PAYLOAD_TYPE) if slot_takes_payload_type else Slot(0, sink)  # type: ignore[call-arg]
        participants[f"listener{index}"] = BenchParticipant(f"listener{index}", None, [slot])
    publisher = Publisher("speaker", "usr_speaker", PAYLOAD_TYPE)
    participants["speaker"] = BenchParticipant("speaker", publisher, [])

    stats = SfuStats()
    extra: dict[str, Any] = {}
    if "flush" in inspect.signature(Room).parameters:
        extra["flush"] = batch.flush if batch is not None else (lambda: None)
    room = Room(
        "rm_bench",
        SLOT_COUNT,
        SfuConfig(),
        stats,
        new_participant=lambda pid, uid, on_packet, on_failed: participants[pid],
        on_speakers=lambda pids, update: None,
        on_failed=lambda pid: None,
        **extra,
    )
    await room.join("speaker", "usr_speaker", "offer")
    for index in range(count):
        await room.join(f"listener{index}", f"usr_listener{index}", "offer")
    carrying = [p.slots[0].publisher_id for p in participants.values() if p.publisher is None]
    if carrying != ["speaker"] * count:
        raise RuntimeError(f"the room did not route the speaker to every listener: {carrying}")

    route = room.route
    _forward(route, publisher, 0, WARMUP_PACKETS)
    cpu: list[tuple[float, float]] = []
    first = WARMUP_PACKETS
    for _ in range(spec.rounds):
        before = resource.getrusage(resource.RUSAGE_SELF)
        _forward(route, publisher, first, spec.packets)
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu.append((after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime))
        first += spec.packets
    await asyncio.sleep(0)  # anything a transport queued goes out before close
    room.close()
    for transport in closing:
        transport.close()
    return {
        "sfu": sfu.__file__,
        "kind": spec.kind,
        "cpu": cpu,
        "forwarded": stats.forwarded_packets,
        "failed": getattr(batch, "failed", 0),
    }


def worker_main(spec_json: str) -> None:
    """The child: import `sfu` from the spec's tree, forward, write the result as JSON."""
    spec = WorkerSpec(**json.loads(spec_json))
    sys.path.insert(0, spec.source)
    import sfu

    if not Path(sfu.__file__ or "").resolve().is_relative_to(Path(spec.source).resolve()):
        raise RuntimeError(f"sfu imported from {sfu.__file__}, not {spec.source}")
    import uvloop

    result = uvloop.run(_run_worker(spec))
    Path(spec.out).write_text(json.dumps(result))


if __name__ == "__main__":
    worker_main(sys.argv[1])
