"""The batched sender (sfu.rtp_batch) against the plain one, on real sockets over loopback.

The reference for every datagram is what `RtpOutput.send` puts on the wire: aiortc's
`RtpPacket.serialize` with the negotiated header extensions, then pylibsrtp's `protect`. The
native batch (sfu/_rtp_batch.c, built by `pip install`) and its Python twin must send the very
same bytes, and a listener's SRTP session must decrypt them into the packet that was meant.
"""

from __future__ import annotations

import os
import socket

import pytest
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from pylibsrtp import Session

from sfu import _rtp_batch
from sfu.aiortc_hooks import header_templates
from sfu.rtp_batch import NO_LEVEL, PyRtpBatch, RtpBatch, new_batch, new_destination
from tests.rtp_parts import (
    aiortc_wire,
    extensions_map,
    level_byte,
    srtp_session,
)

PT, SSRC = 111, 0x5107F00D
KEY = os.urandom(30)

# (mid id, level id): Chromium's ids, ids that force RFC 8285's two-byte form, no level,
# no extension at all.
EXTENSION_IDS = {
    "one-byte": (4, 1),
    "two-byte": (15, 16),
    "mid only": (9, None),
    "none": (None, None),
}


def session(inbound: bool = False) -> Session:
    """An SRTP session as aiortc makes one, AES_CM_128_HMAC_SHA1_80."""
    return srtp_session("AES128_CM_SHA1_80", KEY, inbound)


def batches(capacity: int = 1024) -> list[RtpBatch]:
    return [_rtp_batch.RtpBatch(capacity), PyRtpBatch(capacity)]


# (sequence number, timestamp, marker, payload, level as aiortc parses it)
PACKETS = [
    (0, 0, 1, b"\xf8\xff\xfe", (True, 30)),
    (65535, 0xFFFFFFFF, 0, os.urandom(160), (False, 127)),
    (1, 959, 0, os.urandom(60), None),
    (2, 1919, 1, os.urandom(1275), (True, 0)),  # Opus's largest frame
]


def reference(extensions: HeaderExtensionsMap, mid: str | None) -> list[bytes]:
    """What the plain sender (`RtpOutput.send`) puts on the wire for PACKETS."""
    return aiortc_wire(session().protect, PT, SSRC, mid, extensions, PACKETS)


@pytest.mark.parametrize("case", EXTENSION_IDS)
@pytest.mark.parametrize("kind", ["native", "python"])
def test_the_batch_sends_the_plain_senders_bytes_and_a_listener_decrypts_them(
    case: str, kind: str, sender: socket.socket, receiver: socket.socket
) -> None:
    extensions = extensions_map(*EXTENSION_IDS[case])
    mid = "1"
    batch: RtpBatch = _rtp_batch.RtpBatch() if kind == "native" else PyRtpBatch()
    with_level, offset, without_level = header_templates(PT, SSRC, mid, extensions)
    destination = new_destination(
        batch,
        sender.fileno(),
        receiver.getsockname(),
        session(),
        with_level,
        offset,
        without_level,
    )
    lengths = [
        batch.add(destination, seq, ts, marker, payload, level_byte(level))
        for seq, ts, marker, payload, level in PACKETS
    ]
    assert batch.pending == len(PACKETS)
    assert batch.flush() == len(PACKETS) and batch.pending == 0
    received = [receiver.recv(2048) for _ in PACKETS]
    assert received == reference(extensions, mid)
    assert lengths == [len(datagram) for datagram in received]

    listener = session(inbound=True)
    for datagram, (seq, ts, marker, payload, level) in zip(received, PACKETS, strict=True):
        packet = RtpPacket.parse(listener.unprotect(datagram), extensions)
        assert (packet.sequence_number, packet.timestamp, packet.marker) == (seq, ts, marker)
        assert (packet.ssrc, packet.payload_type, packet.payload) == (SSRC, PT, payload)
        expected_mid = mid if EXTENSION_IDS[case][0] else None
        assert packet.extensions.mid == expected_mid
        expected_level = level if EXTENSION_IDS[case][1] else None
        assert packet.extensions.audio_level == expected_level


def test_the_native_build_is_what_the_sfu_uses() -> None:
    """`make test` installs with a compiler: the SFU must not silently fall back."""
    assert isinstance(new_batch(), _rtp_batch.RtpBatch)


def destinations_on(
    batch: RtpBatch, sock: socket.socket, address: tuple[str, int], count: int
) -> list[object]:
    with_level, offset, without_level = header_templates(PT, SSRC, "0", extensions_map(4, 1))
    fd = sock.fileno()
    return [
        new_destination(batch, fd, address, session(), with_level, offset, without_level)
        for _ in range(count)
    ]


@pytest.mark.parametrize("batch", batches(capacity=64), ids=["native", "python"])
def test_copies_on_two_sockets_and_past_the_capacity_all_arrive_in_order(
    batch: RtpBatch, receiver: socket.socket
) -> None:
    """Interleaved sockets make several sendmmsg runs; 150 copies pass the batch's capacity
    (64 here: a full batch sends early). Few enough for a default socket receive buffer."""
    first = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    second = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        address = receiver.getsockname()
        targets = destinations_on(batch, first, address, 1) + destinations_on(
            batch, second, address, 1
        )
        for n in range(150):
            assert batch.add(targets[n % 2], n, n * 960, 0, n.to_bytes(2, "big"), NO_LEVEL)
        batch.flush()
        listener = session(inbound=True)
        seen = [RtpPacket.parse(listener.unprotect(receiver.recv(2048))) for _ in range(150)]
        assert [p.sequence_number for p in seen] == list(range(150))
        assert batch.sent == 150 and batch.failed == 0
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("batch", batches(), ids=["native", "python"])
def test_a_listener_whose_socket_is_gone_costs_the_others_nothing(
    batch: RtpBatch, sender: socket.socket, receiver: socket.socket
) -> None:
    address = receiver.getsockname()
    before, after = destinations_on(batch, sender, address, 2)
    gone_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    (gone,) = destinations_on(batch, gone_socket, address, 1)
    gone_socket.close()  # its descriptor is now invalid: sendmmsg refuses it (EBADF)
    for seq, target in enumerate((before, gone, after)):
        assert batch.add(target, seq, seq * 960, 0, b"voice", NO_LEVEL)
    assert batch.flush() == 2
    assert batch.failed == 1
    listener = session(inbound=True)
    heard = [RtpPacket.parse(listener.unprotect(receiver.recv(2048))) for _ in range(2)]
    assert [(p.sequence_number, p.payload) for p in heard] == [(0, b"voice"), (2, b"voice")]


@pytest.mark.parametrize("batch", batches(), ids=["native", "python"])
def test_a_packet_too_long_for_one_datagram_is_dropped_not_truncated(
    batch: RtpBatch, sender: socket.socket, receiver: socket.socket
) -> None:
    (target,) = destinations_on(batch, sender, receiver.getsockname(), 1)
    assert batch.add(target, 1, 960, 0, bytes(1400), NO_LEVEL) == 0
    assert batch.pending == 0 and batch.flush() == 0


def test_a_destination_refuses_what_is_not_an_ip_address(sender: socket.socket) -> None:
    with_level, offset, without_level = header_templates(PT, SSRC, "0", extensions_map(4, 1))
    with pytest.raises(ValueError, match="not an IP address"):
        new_destination(
            _rtp_batch.RtpBatch(), sender.fileno(), ("localhost", 9),
            session(), with_level, offset, without_level,
        )  # fmt: skip
