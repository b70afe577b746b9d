"""Review of the forwarding engine change (issue 16): the batched sender, the connection's
compound RTCP and the skipped reassignment, tried as an attacker, a demanding user and another
WebRTC stack would.

Each test passes for correct behaviour; the ones that fail today name a fault (see the report
of the review). Real parts only: the native extension and its Python twin on loopback sockets
with real pylibsrtp sessions, aiortc peers through a real RoomManager over 127.0.0.1, a real
Room whose participants are small fakes (as tests/test_room.py does).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import subprocess
import sys
import textwrap
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtp import (
    AnyRtcpPacket,
    RtcpByePacket,
    RtcpPacket,
    RtcpRrPacket,
    RtcpSdesPacket,
    RtcpSrPacket,
    RtpPacket,
)

from sfu import _rtp_batch
from sfu.aiortc_hooks import header_templates
from sfu.config import RtcConfig, SfuConfig
from sfu.room import FailureSink, PacketSink, Room, RoomParticipant, SpeakerUpdate
from sfu.room_manager import RoomManager
from sfu.rtcp_schedule import RtcpSchedule
from sfu.rtp_batch import NO_LEVEL, PyRtpBatch, RtpBatch, new_destination
from sfu.stats import SfuStats
from tests.room_fakes import OPUS, FakeParticipant, FakeSlot, NoListener
from tests.rtc_audio import ToneTrack
from tests.rtp_parts import (
    PROFILES,
    aiortc_wire,
    extensions_map,
    level_byte,
    srtp_session,
)

PT, SSRC = 111, 0x1234ABCD
SDES_CNAME = 1

# --- helpers: SRTP sessions as aiortc makes them, header extension maps ----------------------


def make_batch(kind: str) -> RtpBatch:
    return _rtp_batch.RtpBatch() if kind == "native" else PyRtpBatch()


# --- byte-exactness under every profile aiortc negotiates ------------------------------------

# (mid id, level id, mid): the one-byte form with the longest one-byte mid, the two-byte form
# forced by a 32-character mid (the most check_offer allows) and by ids above 14, none at all.
HEADER_CASES = {
    "one-byte, 16-byte mid": (4, 1, "m" * 16),
    "two-byte, 32-byte mid": (3, 1, "M" * 32),
    "two-byte ids": (15, 200, "a"),
    "level only": (None, 7, None),
    "no extensions": (None, None, "0"),
}

PACKETS = [
    (0, 0, 1, b"\xf8\xff\xfe", (True, 0)),
    (65535, 0xFFFFFFFF, 0, os.urandom(161), (False, 127)),
    (1, 959, 1, os.urandom(1275), (True, 127)),
    (2, 1919, 0, b"\x08", None),
]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("case", HEADER_CASES)
@pytest.mark.parametrize("kind", ["native", "python"])
def test_the_batch_matches_aiortc_and_pylibsrtp_byte_for_byte_under_every_profile(
    profile: str, case: str, kind: str, sender: socket.socket, receiver: socket.socket
) -> None:
    mid_id, level_id, mid = HEADER_CASES[case]
    extensions = extensions_map(mid_id, level_id)
    key = os.urandom(PROFILES[profile][1])
    batch = make_batch(kind)
    with_level, offset, without_level = header_templates(PT, SSRC, mid, extensions)
    destination = new_destination(
        batch,
        sender.fileno(),
        receiver.getsockname(),
        srtp_session(profile, key),
        with_level,
        offset,
        without_level,
    )
    for seq, ts, marker, payload, level in PACKETS:
        assert batch.add(destination, seq, ts, marker, payload, level_byte(level)) > 0
    assert batch.flush() == len(PACKETS)
    received = [receiver.recv(2048) for _ in PACKETS]

    protect = srtp_session(profile, key).protect
    assert received == aiortc_wire(protect, PT, SSRC, mid, extensions, PACKETS)

    unprotect = srtp_session(profile, key, inbound=True).unprotect
    for datagram, (seq, ts, marker, payload, level) in zip(received, PACKETS, strict=True):
        packet = RtpPacket.parse(unprotect(datagram), extensions)
        assert (packet.sequence_number, packet.timestamp, packet.marker) == (seq, ts, marker)
        assert packet.payload == payload and packet.payload_type == PT
        assert packet.extensions.mid == (mid if mid_id else None)
        assert packet.extensions.audio_level == (level if level_id else None)


@pytest.mark.parametrize("kind", ["native", "python"])
def test_the_largest_payload_that_fits_goes_out_whole_and_one_byte_more_is_dropped(
    kind: str, sender: socket.socket, receiver: socket.socket
) -> None:
    """1500 - 144 bytes of RTP (header + payload) before SRTP: the bound is exact, the GCM
    tag fits behind it, nothing is truncated."""
    key = os.urandom(PROFILES["AEAD_AES_256_GCM"][1])
    extensions = extensions_map(3, 1)
    with_level, offset, without_level = header_templates(PT, SSRC, "M" * 32, extensions)
    batch = make_batch(kind)
    destination = new_destination(
        batch,
        sender.fileno(),
        receiver.getsockname(),
        srtp_session("AEAD_AES_256_GCM", key),
        with_level,
        offset,
        without_level,
    )
    room = 1500 - 144 - len(with_level)
    assert batch.add(destination, 1, 1, 0, bytes(room + 1), 0x85) == 0
    payload = os.urandom(room)
    assert batch.add(destination, 2, 2, 0, payload, 0x85) == 1500 - 144 + 16
    assert batch.flush() == 1
    packet = RtpPacket.parse(
        srtp_session("AEAD_AES_256_GCM", key, inbound=True).unprotect(receiver.recv(4096)),
        extensions,
    )
    assert packet.payload == payload and packet.extensions.audio_level == (True, 5)


@pytest.mark.parametrize("kind", ["native", "python"])
def test_ipv6_destinations_reach_their_listener(kind: str) -> None:
    try:
        listener = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        listener.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    out = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        listener.settimeout(2)
        key = os.urandom(30)
        with_level, offset, without_level = header_templates(PT, SSRC, "0", extensions_map(4, 1))
        batch = make_batch(kind)
        destination = new_destination(
            batch,
            out.fileno(),
            listener.getsockname()[:2],
            srtp_session("AES128_CM_SHA1_80", key),
            with_level,
            offset,
            without_level,
        )
        assert batch.add(destination, 7, 960, 1, b"voice", NO_LEVEL)
        assert batch.flush() == 1 and batch.failed == 0
        data = srtp_session("AES128_CM_SHA1_80", key, inbound=True).unprotect(listener.recv(2048))
        assert RtpPacket.parse(data).payload == b"voice"
    finally:
        listener.close()
        out.close()


def test_a_destination_takes_every_address_form_the_python_twin_takes(
    sender: socket.socket,
) -> None:
    """aioice hands over what recvfrom gave for a peer-reflexive candidate: on an IPv6
    socket a link-local peer comes with its zone ("fe80::…%eth0"). The Python twin sends to
    it (the socket module resolves the zone); the native destination must not raise, since
    RtpOutput.put builds it in the middle of Room.route (the copies already queued for the
    other listeners then stay pending and the slots after it get nothing)."""
    with_level, offset, without_level = header_templates(PT, SSRC, "0", extensions_map(4, 1))
    address = ("fe80::1%lo", 5004)
    for batch in (PyRtpBatch(), _rtp_batch.RtpBatch()):
        new_destination(
            batch,
            sender.fileno(),
            address,
            srtp_session("AES128_CM_SHA1_80", os.urandom(30)),
            with_level,
            offset,
            without_level,
        )


@pytest.mark.parametrize("kind", ["native", "python"])
async def test_a_datagram_the_kernel_refuses_is_counted_as_failed_by_either_sender(
    kind: str,
) -> None:
    """RtpOutput hands the batch the ICE socket's descriptor (both implementations send on it
    themselves). A datagram the kernel refuses (EINVAL here: UDP to port 0) must show in
    `failed`, which /metrics exports as gethory_sfu_send_failures_total, whichever
    implementation runs (asyncio's `sendto` and MediaPort.sendto would swallow the error)."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        with_level, offset, without_level = header_templates(PT, SSRC, "0", extensions_map(4, 1))
        batch = make_batch(kind)
        destination = new_destination(
            batch,
            transport.get_extra_info("socket").fileno(),
            ("127.0.0.1", 0),
            srtp_session("AES128_CM_SHA1_80", os.urandom(30)),
            with_level,
            offset,
            without_level,
        )
        assert batch.add(destination, 1, 960, 0, b"voice", NO_LEVEL)
        batch.flush()
        assert (batch.sent, batch.failed) == (0, 1)
    finally:
        transport.close()


NATIVE_MISUSE = {
    "destination never initialised": """
        from sfu._rtp_batch import RtpBatch, RtpDestination
        destination = RtpDestination.__new__(RtpDestination)
        try:
            RtpBatch().add(destination, 1, 960, 0, b"voice", -1)
        except (TypeError, ValueError, RuntimeError):
            pass
    """,
    "batch never initialised": """
        import os, socket
        from pylibsrtp import Policy, Session
        from sfu._rtp_batch import RtpBatch
        from sfu.rtp_batch import new_destination
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        policy = Policy(key=os.urandom(30), ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                        srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80)
        header = bytes([0x80, 111]) + bytes(10)
        batch = RtpBatch.__new__(RtpBatch)
        destination = new_destination(RtpBatch(), sock.fileno(),
                                      ("127.0.0.1", 9), Session(policy), header, -1, header)
        try:
            batch.add(destination, 1, 960, 0, b"voice", -1)
        except (TypeError, ValueError, RuntimeError):
            pass
    """,
}


@pytest.mark.parametrize("case", NATIVE_MISUSE)
def test_the_native_types_refuse_misuse_instead_of_crashing_the_process(case: str) -> None:
    """A type built with __new__ but never __init__'ed (or whose __init__ failed and is used
    anyway) has NULL buffers and a NULL srtp_protect pointer: the extension must raise, as
    any Python type would, not take the whole SFU process down with SIGSEGV."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(NATIVE_MISUSE[case])],
        capture_output=True,
        timeout=60,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        check=False,
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-500:])


# --- the RTCP wheel ------------------------------------------------------------------------


class Faulty:
    """A reporter whose connection raises (as RtcpPath.send could on an SRTCP error)."""

    def __init__(self) -> None:
        self.calls = 0

    def report(self) -> None:
        self.calls += 1
        raise RuntimeError("broken connection")


class Counting:
    def __init__(self) -> None:
        self.times: list[float] = []

    def report(self) -> None:
        self.times.append(time.monotonic())


async def test_a_raising_reporter_stops_neither_itself_nor_the_others_and_removal_ends_all() -> (
    None
):
    schedule = RtcpSchedule(interval_seconds=0.5, tick_seconds=0.05)
    faulty, healthy = Faulty(), Counting()
    started = time.monotonic()
    schedule.add(faulty)
    schedule.add(healthy)
    async with asyncio.timeout(5):
        while True:
            if len(healthy.times) >= 3 and faulty.calls >= 3:
                break
            await asyncio.sleep(0.02)
    assert healthy.times[0] - started < 1.6, "the first report within about 1.5 s"
    gaps = [b - a for a, b in zip(healthy.times, healthy.times[1:], strict=False)]
    assert all(0.4 < gap < 0.8 for gap in gaps), gaps
    schedule.remove(faulty)
    schedule.remove(healthy)
    assert len(schedule) == 0 and schedule._timer is None
    calls = faulty.calls
    await asyncio.sleep(0.3)
    assert faulty.calls == calls


# --- RTCP and teardown through the real SFU ------------------------------------------------


def record_rtcp(pc: RTCPeerConnection) -> list[bytes]:
    """Every compound RTCP datagram `pc` receives, after SRTCP (the bundled transport)."""
    seen: list[bytes] = []
    dtls: Any = pc.getTransceivers()[0].receiver.transport
    stock = dtls._handle_rtcp_data

    async def handle_rtcp_data(data: bytes) -> None:
        seen.append(data)
        await stock(data)

    dtls._handle_rtcp_data = handle_rtcp_data
    return seen


def compound_faults(data: bytes) -> list[str]:
    """What makes `data` no valid periodic compound RTCP packet (RFC 3550 §6.1): lengths,
    a report (SR or RR) first, an SDES packet with a CNAME item."""
    try:
        packets: list[AnyRtcpPacket] = RtcpPacket.parse(data)
    except ValueError as error:
        return [f"unparsable: {error}"]
    faults = []
    if not packets or not isinstance(packets[0], RtcpSrPacket | RtcpRrPacket):
        faults.append(f"first packet is {type(packets[0]).__name__ if packets else None}")
    cnames = [
        item
        for packet in packets
        if isinstance(packet, RtcpSdesPacket)
        for chunk in packet.chunks
        for item in chunk.items
        if item[0] == SDES_CNAME and item[1]
    ]
    if not cnames:
        faults.append("no SDES CNAME: " + ", ".join(type(p).__name__ for p in packets))
    return faults


async def connect_peer(
    manager: RoomManager,
    rtc: RtcConfig,
    room_id: str,
    participant_id: str,
    microphone: bool,
    slots: int,
) -> tuple[RTCPeerConnection, list[bytes]]:
    pc = RTCPeerConnection(rtc.rtc_configuration())
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def on_state() -> None:
        if pc.connectionState == "connected":
            connected.set()

    if microphone:
        pc.addTransceiver(ToneTrack(440.0), direction="sendonly")
    for _ in range(slots):
        pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    answer = await manager.join(room_id, 1, participant_id, f"usr_{participant_id}",
                                pc.localDescription.sdp)  # fmt: skip
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    seen = record_rtcp(pc)
    await asyncio.wait_for(connected.wait(), 10)
    return pc, seen


@contextlib.asynccontextmanager
async def speaker_and_listener(
    rtc: RtcConfig, room_id: str
) -> AsyncIterator[tuple[RoomManager, list[RTCPeerConnection], list[bytes], list[bytes]]]:
    """A room of a speaker whose offer has only its microphone (no slot: a publisher-only
    client) and a listener with one slot, both connected: the manager, the peers (closed on
    exit unless the test closed and removed them), and the RTCP each peer received."""
    manager = RoomManager(SfuConfig(rtc=rtc), NoListener())
    peers: list[RTCPeerConnection] = []
    try:
        speaker, speaker_rtcp = await connect_peer(
            manager, rtc, room_id, "speaker", microphone=True, slots=0
        )
        peers.append(speaker)
        listener, listener_rtcp = await connect_peer(
            manager, rtc, room_id, "listener", microphone=False, slots=1
        )
        peers.append(listener)
        yield manager, peers, speaker_rtcp, listener_rtcp
    finally:
        for pc in peers:
            await pc.close()
        await manager.stop()


async def test_every_connection_gets_valid_compound_rtcp_and_a_bye_when_it_leaves(
    loopback_only: RtcConfig,
) -> None:
    """A speaker whose offer has only its microphone (no slot: a publisher-only client) and a
    listener with one slot. Each periodic compound RTCP datagram from the server must be
    valid per RFC 3550 §6.1 (a report first, an SDES CNAME), the speaker must get receiver
    reports, the listener sender reports, and a BYE for its slot's SSRC when it leaves; the
    leave completes, and the schedule is empty afterwards."""
    async with speaker_and_listener(loopback_only, "rm_rtcp_review") as room:
        manager, _, speaker_rtcp, listener_rtcp = room
        async with asyncio.timeout(5):  # the server's side may see "connected" a bit later
            while True:
                if len(manager.rtcp) == 2:
                    break
                await asyncio.sleep(0.01)

        def kinds(seen: list[bytes]) -> list[type]:
            return [type(p) for data in seen for p in RtcpPacket.parse(data)]

        async with asyncio.timeout(10):
            while True:
                if RtcpRrPacket in kinds(speaker_rtcp) and RtcpSrPacket in kinds(listener_rtcp):
                    break
                await asyncio.sleep(0.05)
        periodic = {"speaker": list(speaker_rtcp), "listener": list(listener_rtcp)}
        faults = {
            who: [compound_faults(data) for data in seen if compound_faults(data)]
            for who, seen in periodic.items()
        }

        slot_ssrc = next(
            p.ssrc
            for d in listener_rtcp
            for p in RtcpPacket.parse(d)
            if isinstance(p, RtcpSrPacket)
        )
        manager.leave("rm_rtcp_review", "listener")
        await asyncio.wait_for(manager.closed(), 10)  # parked loops never hang the close
        async with asyncio.timeout(5):
            while True:
                if any(
                    isinstance(p, RtcpByePacket) and slot_ssrc in p.sources
                    for d in listener_rtcp
                    for p in RtcpPacket.parse(d)
                ):
                    break
                await asyncio.sleep(0.05)
        manager.leave("rm_rtcp_review", "speaker")
        await asyncio.wait_for(manager.closed(), 10)
        assert len(manager.rtcp) == 0 and manager.rtcp._timer is None
        # Last, so that the checks above still run while this one fails.
        assert faults == {"speaker": [], "listener": []}


async def test_a_listener_that_was_forwarded_to_is_freed_after_it_leaves(
    loopback_only: RtcConfig,
) -> None:
    """The native destination (not tracked by the garbage collector) holds the listener's
    SRTP session and its socket's send method; once the listener leaves, its RtpOutput, its
    aiortc sender and its Participant must still be collectable (200 join/leave cycles in
    tests/test_sfu_leaks.py never forward anything, so no destination is ever built there)."""
    async with speaker_and_listener(loopback_only, "rm_leak_review") as (manager, peers, _, _):
        participant: Any = manager.rooms["rm_leak_review"].participants["listener"]
        output: Any = participant.slots[0].stream._put.__self__
        async with asyncio.timeout(10):
            while True:
                if output._destination is not None and participant.slots[0].stream.packets_sent:
                    break
                await asyncio.sleep(0.02)
        refs = {
            "Participant": weakref.ref(participant),
            "RtpOutput": weakref.ref(output),
            "RTCRtpSender": weakref.ref(output.sender),
        }
        del participant, output
        parked = {"_parked_rtcp", "park_rtcp_loop.<locals>.run_rtcp"}

        def parked_tasks() -> list[asyncio.Task[Any]]:
            return [
                t
                for t in asyncio.all_tasks()
                if getattr(t.get_coro(), "__qualname__", "") in parked
            ]

        assert len(parked_tasks()) >= 2  # the speaker's receiver, the listener's sender
        manager.leave("rm_leak_review", "listener")
        manager.leave("rm_leak_review", "speaker")
        await asyncio.wait_for(manager.closed(), 10)
        for pc in peers:
            await pc.close()
        peers.clear()

        def alive() -> set[str]:
            gc.collect()
            return {name for name, ref in refs.items() if ref() is not None}

        # aiortc's last callbacks of the closed connections still run on the loop: each
        # look yields to them first, and a leak is what is left after 2 s of looks.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                while True:
                    if not alive():
                        break
                    await asyncio.sleep(0.02)
        assert alive() == set()
        assert parked_tasks() == []
        assert len(manager.rtcp) == 0


# --- Room.refresh: the skipped reassignment -------------------------------------------------


class BatchSlot(FakeSlot):
    """A slot whose copy goes into the real batch, to a real socket (what RtpOutput.put
    does), or that raises as RtpOutput.put does when its destination cannot be built (the
    zoned IPv6 address of test_a_destination_takes_every_address_form_the_python_twin_takes)."""

    def __init__(self, batch: RtpBatch, destination: object | None) -> None:
        super().__init__()
        self._batch = batch
        self._destination = destination

    def forward(self, publisher_id: str, packet: RtpPacket, now: float) -> int:
        if self._destination is None:
            raise ValueError("not an IP address: fe80::1%eth0")
        return self._batch.add(self._destination, 1, 960, 0, packet.payload, NO_LEVEL)


async def test_one_listener_failing_mid_route_strands_no_copy_in_the_shared_batch(
    sender: socket.socket, receiver: socket.socket
) -> None:
    """The batch is shared by every room of the process and flushed only at the end of a
    successful Room.route. If one copy raises, the copies already queued stay pending and go
    out at some later packet's flush, maybe in another room, on a descriptor that may by
    then have been closed and reused by another socket (even a TCP one)."""
    batch = _rtp_batch.RtpBatch()
    with_level, offset, without_level = header_templates(PT, SSRC, "0", extensions_map(4, 1))
    good = new_destination(
        batch,
        sender.fileno(),
        receiver.getsockname(),
        srtp_session("AES128_CM_SHA1_80", os.urandom(30)),
        with_level,
        offset,
        without_level,
    )
    slots = {"a": [], "first": [BatchSlot(batch, good)], "broken": [BatchSlot(batch, None)]}

    def make(pid: str, user: str, on_packet: PacketSink, on_failed: FailureSink) -> Any:
        participant = FakeParticipant(pid, user, len(slots[pid]), pid == "a")
        participant.connect = _connect_with(participant, slots[pid])  # type: ignore[method-assign]
        return participant

    room = Room("rm_review_batch", 1, SfuConfig(), SfuStats(), new_participant=make,
                on_speakers=lambda pids, update: None, on_failed=lambda pid: None,
                flush=batch.flush)  # fmt: skip
    try:
        for pid in ("a", "first", "broken"):
            await room.join(pid, f"usr_{pid}", "offer")
        publisher = room.participants["a"].publisher
        assert publisher is not None
        with contextlib.suppress(ValueError):
            room.route(publisher, RtpPacket(payload_type=OPUS, sequence_number=1, payload=b"x"))
        assert batch.pending == 0, "a copy is left queued for a later flush"
    finally:
        room.close()


def _connect_with(participant: FakeParticipant, slots: list[BatchSlot]) -> Any:
    async def connect(offer_sdp: str, max_slots: int) -> str:
        participant.slots = list(slots)
        participant.negotiated = True
        return "answer"

    return connect


async def test_a_newcomer_told_of_a_passing_state_is_corrected_when_the_room_returns() -> None:
    """The periodic reassignment is skipped while (ranking, speaking users) equal the key of
    the last full reassignment. A listener who joins assigns itself with the plan of the
    moment, which may differ from that key; if the room then returns to the old key before
    the next tick (a cough: speaking for 0.3 s), every tick is skipped and the newcomer keeps
    being told someone speaks who does not, until something else changes."""
    updates: list[tuple[str, SpeakerUpdate]] = []
    microphones = {"a": True, "early": False, "late": False}

    def make(pid: str, user: str, on_packet: PacketSink, on_failed: FailureSink) -> Any:
        return FakeParticipant(pid, user, 1, microphones[pid])

    room = Room(
        "rm_review",
        1,
        SfuConfig(),
        SfuStats(),
        new_participant=make,
        on_speakers=lambda pids, update: updates.extend((pid, update) for pid in pids),
        on_failed=lambda pid: None,
    )
    try:
        await room.join("a", "usr_a", "offer")  # a full reassignment: nobody speaks
        await room.join("early", "usr_early", "offer")
        speaker: RoomParticipant = room.participants["a"]
        assert speaker.publisher is not None
        loud = RtpPacket(payload_type=OPUS, sequence_number=1, payload=b"\x01" * 40)
        loud.extensions.audio_level = (True, 10)
        room.route(speaker.publisher, loud)  # one loud packet: "a" speaks for 0.3 s
        await room.join("late", "usr_late", "offer")  # assigned while "a" speaks
        assert "usr_a" in [u for pid, u in updates if pid == "late"][-1].speaking

        later = time.monotonic() + 1.0  # the cough is over: the room is as it was
        room.refresh(later)
        room.refresh(later + 0.2)
        told = {pid: [u for p, u in updates if p == pid][-1] for pid in ("early", "late")}
        assert told["early"].speaking == frozenset()
        assert told["late"].speaking == frozenset(), "the newcomer still hears a ring"
    finally:
        room.close()
