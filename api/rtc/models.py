"""Bodies of the `/api/rtc/*` endpoints."""

from __future__ import annotations

from api.models import ApiModel


class IceServer(ApiModel):
    """One entry of `RTCConfiguration.iceServers` as browsers take it (WebRTC's `RTCIceServer`):
    `stun:` URLs without credentials, or `turn:`/`turns:` URLs with a username and credential."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None


class IceServersResponse(ApiModel):
    """What a client passes to `new RTCPeerConnection({iceServers})`. `ttlSeconds`: how long
    the TURN credentials stay valid from now (absent when no TURN server is configured)."""

    ice_servers: list[IceServer]
    ttl_seconds: int | None = None
