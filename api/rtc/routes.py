"""`/api/rtc/*`: what a signed-in client needs to set up WebRTC."""

from __future__ import annotations

from aiohttp import web

from api.auth.service import Principal, utc_now
from api.endpoints import Api
from api.rtc.ice_servers import ice_servers_for
from api.rtc.models import IceServersResponse
from api.services import SERVICES

api = Api("rtc")

# Each answer carries a fresh credential for this user: no cache or proxy may keep or share it.
NO_STORE = {"Cache-Control": "no-store"}


@api.route(
    "GET",
    "/api/rtc/ice-servers",
    summary="ICE servers for RTCPeerConnection, TURN with time-limited credentials",
    response=IceServersResponse,
)
async def get_ice_servers(request: web.Request, principal: Principal) -> web.StreamResponse:
    """`{iceServers: [{urls, username?, credential?}], ttlSeconds?}`: STUN URLs of ICE_SERVERS,
    then TURN_URLS with a username `<unix expiry>:<user id>` and credential
    base64(HMAC-SHA1(TURN_SECRET, username)) valid for TURN_CREDENTIAL_SECONDS (coturn's
    `use-auth-secret`). Unset fields are left out, as browsers read a null username as "null"."""
    settings = request.app[SERVICES].settings
    answer = ice_servers_for(settings, principal.user.id, utc_now())
    return web.Response(
        body=answer.model_dump_json(by_alias=True, exclude_none=True),
        content_type="application/json",
        headers=NO_STORE,
    )
