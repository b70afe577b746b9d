"""Which ICE servers a signed-in caller gets: the STUN servers of `ICE_SERVERS`, and the TURN
servers of `TURN_URLS` with a credential of its own (api.rtc.credentials)."""

from __future__ import annotations

from datetime import datetime

from api.rtc.credentials import issue_credential
from api.rtc.models import IceServer, IceServersResponse
from api.settings import Settings

STUN_SCHEMES = ("stun:", "stuns:")


def ice_servers_for(settings: Settings, user_id: str, now: datetime) -> IceServersResponse:
    """STUN first (no credentials; only the `stun:`/`stuns:` URLs of ICE_SERVERS: a `turn:` URL
    there has no credential a browser could use, and a browser refuses such an entry), then
    one entry with every TURN URL and a credential valid for `settings.turn.credential_seconds`.
    With neither configured the list is empty: clients then use their host candidates only,
    which is enough on one network or machine."""
    servers: list[IceServer] = []
    stun = [url for url in settings.rtc.ice_servers if url.startswith(STUN_SCHEMES)]
    if stun:
        servers.append(IceServer(urls=stun))
    turn = settings.turn
    if turn is None:
        return IceServersResponse(ice_servers=servers)
    issued = issue_credential(turn.secret, user_id, now, turn.credential_seconds)
    servers.append(
        IceServer(urls=list(turn.urls), username=issued.username, credential=issued.credential)
    )
    return IceServersResponse(ice_servers=servers, ttl_seconds=turn.credential_seconds)
