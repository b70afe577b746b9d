"""Time-limited TURN credentials in coturn's REST API scheme (`use-auth-secret`).

Sources: draft-uberti-behave-turn-rest-00 section 2.2 and coturn's `--use-auth-secret` /
`--static-auth-secret` (turnserver(1), "TURN REST API"). The TURN server and this app share
one secret and nothing else: the username carries its own expiry, and the password is a MAC
of the username, so coturn checks a credential without asking us, and refuses it once the
expiry has passed (401 Unauthorized on the Allocate or Refresh).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

# coturn's default `--rest-api-separator`.
SEPARATOR = ":"


@dataclass(frozen=True)
class TurnCredential:
    """username: `<expiry>:<user id>`, expiry in Unix seconds (UTC);
    credential: base64(HMAC-SHA1(secret, username)), the TURN password."""

    username: str
    credential: str
    expires_at: int


def turn_password(secret: str, username: str) -> str:
    """The password coturn derives for `username`: base64 of HMAC-SHA1 keyed with the shared
    secret (both UTF-8), as the REST API draft and coturn define it."""
    mac = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode("ascii")


def issue_credential(secret: str, user_id: str, now: datetime, seconds: int) -> TurnCredential:
    """A credential for `user_id` valid for `seconds` from `now` (an aware datetime).

    The expiry is rounded down to whole seconds, so the credential never outlives `seconds`.
    `user_id` must not contain the separator (ours are `usr_` + URL-safe base64).
    """
    if SEPARATOR in user_id:
        raise ValueError("a TURN user id cannot contain the REST API separator")
    expires_at = int(now.timestamp()) + seconds
    username = f"{expires_at}{SEPARATOR}{user_id}"
    return TurnCredential(username, turn_password(secret, username), expires_at)
