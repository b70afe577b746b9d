"""RTP test parts shared by the sender tests: SRTP sessions as aiortc makes them, header
extension maps as a negotiation leaves them, RFC 6464 level bytes, what aiortc's own sender
puts on the wire (the
two sockets of a copy, `sender` and `receiver`, are fixtures in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from pylibsrtp import Policy, Session

from sfu.rtp_batch import NO_LEVEL

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

# libsrtp profile → master key + salt length (aiortc's SRTPProtectionProfile figures).
PROFILES = {
    "AES128_CM_SHA1_80": (Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 16 + 14),
    "AEAD_AES_128_GCM": (Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 16 + 12),
    "AEAD_AES_256_GCM": (Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 32 + 12),
}


def srtp_session(profile: str, key: bytes, inbound: bool = False) -> Session:
    """An SRTP session exactly as aiortc's RTCDtlsTransport._setup_srtp builds one."""
    policy = Policy(
        key=key,
        ssrc_type=Policy.SSRC_ANY_INBOUND if inbound else Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=PROFILES[profile][0],
    )
    policy.allow_repeat_tx = True
    policy.window_size = 1024
    return Session(policy)


def extensions_map(mid_id: int | None, level_id: int | None) -> HeaderExtensionsMap:
    """The negotiated mid and audio-level extension ids (None: not negotiated)."""
    extensions = HeaderExtensionsMap()
    ids = [(mid_id, MID_URI), (level_id, LEVEL_URI)]
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=u) for i, u in ids if i]
        )
    )
    return extensions


def level_byte(level: tuple[bool, int] | None) -> int:
    """aiortc's parsed audio level (voice activity, -dBov) as the RFC 6464 byte."""
    return NO_LEVEL if level is None else (0x80 if level[0] else 0) | (level[1] & 0x7F)


# A packet to send: sequence number, timestamp, marker, payload, aiortc's parsed audio level.
PacketParts = tuple[int, int, int, bytes, tuple[bool, int] | None]


def aiortc_wire(
    protect: Callable[[bytes], bytes],
    payload_type: int,
    ssrc: int,
    mid: str | None,
    extensions: HeaderExtensionsMap,
    packets: Sequence[PacketParts],
) -> list[bytes]:
    """The datagrams aiortc's plain path sends for `packets`: RtpPacket.serialize with this
    mid and level, then `protect` (an outbound pylibsrtp session's)."""
    wire = []
    for seq, ts, marker, payload, level in packets:
        packet = RtpPacket(payload_type, marker, seq, ts, ssrc, payload)
        packet.extensions.mid = mid
        packet.extensions.audio_level = level
        wire.append(protect(packet.serialize(extensions)))
    return wire
