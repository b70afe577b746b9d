"""The media plane's settings: `RtcConfig` (ICE, from the environment) inside `SfuConfig`
(everything else, defined here once)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiortc import RTCConfiguration, RTCIceServer

from sfu.speakers import SpeakerConfig

DEFAULT_SLOTS = 3  # receive slots per listener unless a room says otherwise
MAX_SLOTS = 8


def _split(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _port(value: str) -> int | None:
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 5):
        raise ValueError(f"RTC_UDP_PORT must be a port number 1-65535, not {value[:20]!r}")
    return int(value)  # the range is RtcConfig's check


@dataclass(frozen=True)
class RtcConfig:
    """Where ICE gathers and which STUN/TURN servers it may use.

    host_addresses: local IPs to gather host candidates on (RTC_HOST_ADDRESSES); empty keeps
        aioice's own gathering, which skips loopback.
    ice_servers: STUN/TURN URLs (ICE_SERVERS); empty means none at all, never Google's STUN.
    announced_address: public IP advertised instead of the bound one (RTC_ANNOUNCED_ADDRESS).
    udp_port: one UDP port (1-65535) for the media of every SFU connection (RTC_UDP_PORT),
        bound on each host address at start-up (`sfu.media_port`); None gives each
        connection sockets of its own on random ports.
    """

    host_addresses: tuple[str, ...] = ()
    ice_servers: tuple[str, ...] = ()
    announced_address: str | None = None
    udp_port: int | None = None

    def __post_init__(self) -> None:
        if self.udp_port is not None and not 1 <= self.udp_port <= 65535:
            raise ValueError(f"RTC_UDP_PORT must be a port number 1-65535, not {self.udp_port}")
        if self.announced_address is not None:
            try:
                ipaddress.ip_address(self.announced_address)
            except ValueError:
                raise ValueError(
                    "RTC_ANNOUNCED_ADDRESS must be an IP address (the public IP, not a name), "
                    f"not {self.announced_address[:80]!r}"
                ) from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RtcConfig:
        """Raises ValueError, naming the variable, for an RTC_UDP_PORT that is not 1-65535."""
        return cls(
            host_addresses=_split(environ.get("RTC_HOST_ADDRESSES")),
            ice_servers=_split(environ.get("ICE_SERVERS")),
            announced_address=environ.get("RTC_ANNOUNCED_ADDRESS", "").strip() or None,
            udp_port=_port(environ.get("RTC_UDP_PORT", "").strip()),
        )

    def rtc_configuration(self) -> RTCConfiguration:
        # An explicit list, even empty: aiortc substitutes Google's STUN only for None.
        return RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in self.ice_servers])


@dataclass(frozen=True)
class SfuConfig:
    """How the SFU behaves; the defaults are what production runs.

    consent_interval_seconds, consent_expiry_seconds: ICE consent freshness (RFC 7675, run
        by `aiortc_hooks.ConsentPolicy`). A check (a STUN Binding request, retransmitted after
        0.5 s while within the interval) starts about every interval; consent expires after
        expiry seconds with no sign of the peer at the selected pair's remote address: an
        authenticated response to one of our checks, or SRTP/SRTCP that unprotects, from that
        address (never the peer's own Binding requests, which can be replayed; and once ICE
        has selected the pair, nothing but STUN is taken from any other address). So a
        vanished peer is dropped 8-10.4 s after its last packet, while a loaded peer whose
        answers come late, or a link that loses a few seconds of packets, keeps its media.
        (aioice's own rule, one 0.5 s wait per check every 5 s and six misses in a row, keeps a
        vanished peer for 30 s; the 1 s × 5 misses used before dropped loaded peers.)
    media_setup_seconds: from the SDP answer to a connected media session (ICE + DTLS);
        generous for TURN over slow links, short enough that a client which never completes
        ICE cannot hold a session.
    reassign_interval_seconds: how often slots are reassigned and `speakers` updates sent
        (at most 5 a second).
    default_slots: receive slots per listener when the room does not say.
    rtcp_interval_seconds: how often each connection sends its compound RTCP packet (sender
        reports of its slots, receiver report of its microphone: sfu.rtcp_schedule); 5 s is
        RFC 3550's recommended minimum and libwebrtc's interval for audio.
    """

    rtc: RtcConfig = field(default_factory=RtcConfig)
    consent_interval_seconds: float = 1.0
    consent_expiry_seconds: float = 8.0
    media_setup_seconds: float = 15.0
    reassign_interval_seconds: float = 0.2
    default_slots: int = DEFAULT_SLOTS
    rtcp_interval_seconds: float = 5.0
    speakers: SpeakerConfig = field(default_factory=SpeakerConfig)

    def __post_init__(self) -> None:
        if not 0 < self.consent_interval_seconds < self.consent_expiry_seconds:
            raise ValueError("consent needs 0 < consent_interval_seconds < consent_expiry_seconds")
