"""ICE settings of the media plane, read from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from aiortc import RTCConfiguration, RTCIceServer

from sfu import aiortc_hooks


def _split(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class RtcConfig:
    """Where ICE gathers and which STUN/TURN servers it may use.

    host_addresses: local IPs to gather host candidates on (RTC_HOST_ADDRESSES); empty keeps
        aioice's own gathering, which skips loopback.
    ice_servers: STUN/TURN URLs (ICE_SERVERS); empty means none at all, never Google's STUN.
    announced_address: public IP advertised instead of the bound one (RTC_ANNOUNCED_ADDRESS).
    media_setup_seconds: how long a participant has from the SDP answer to a connected media
        session (ICE + DTLS) before the server gives up on it; generous for TURN over slow
        links, short enough that a client which never completes ICE cannot hold a session.
    """

    host_addresses: tuple[str, ...] = ()
    ice_servers: tuple[str, ...] = ()
    announced_address: str | None = None
    media_setup_seconds: float = 15.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RtcConfig:
        return cls(
            host_addresses=_split(environ.get("RTC_HOST_ADDRESSES")),
            ice_servers=_split(environ.get("ICE_SERVERS")),
            announced_address=environ.get("RTC_ANNOUNCED_ADDRESS", "").strip() or None,
        )

    def rtc_configuration(self) -> RTCConfiguration:
        # An explicit list, even empty: aiortc substitutes Google's STUN only for None.
        return RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in self.ice_servers])

    def apply_hooks(self) -> None:
        """Make this process's ICE gathering follow host_addresses and announced_address."""
        aiortc_hooks.use_host_addresses(self.host_addresses)
        aiortc_hooks.use_announced_address(self.announced_address)
