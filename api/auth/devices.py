"""Device cookies (OWASP's "slow down online guessing attacks with device cookies"): a browser
that signed in to an account gets a signed, httpOnly cookie bound to that account. Presented
at sign-in, it exempts the attempt from the limits that guessing from other clients builds
up (per IP, per account and IP, the account-wide back-off); its own failures are limited per
cookie instead. So an attacker's guessing, from however many addresses or from behind the
owner's own NAT, never keeps the owner's browser out.

The cookie is stateless: an HMAC (key derived from the refresh-token secret) over the
account's normalized email, a random nonce and the issue time. It survives restarts, names
no account in clear, is only sent to the sign-in endpoint, and expires after `DEVICE_TTL`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

DEVICE_COOKIE_PREFIX = "gethory_device_"
# Only the sign-in endpoint reads it; no other request carries it.
DEVICE_COOKIE_PATH = "/api/auth/login"
DEVICE_TTL_SECONDS = 180 * 24 * 3600


@dataclass(frozen=True)
class DeviceCookie:
    name: str
    value: str


class DeviceCookies:
    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self._key = hmac.new(secret.encode(), b"gethory device cookie v1", "sha256").digest()
        self._clock = clock

    def name_for(self, account: str) -> str:
        """One cookie per account a browser signed in to, named by a keyed hash of the email."""
        return DEVICE_COOKIE_PREFIX + self._mac(b"name", account)[:16]

    def issue(self, account: str) -> DeviceCookie:
        nonce = secrets.token_urlsafe(16)
        issued = str(int(self._clock()))
        mac = self._mac(b"device", account, nonce, issued)
        return DeviceCookie(self.name_for(account), f"{nonce}.{issued}.{mac}")

    def device_of(self, account: str, cookies: Mapping[str, str]) -> str | None:
        """The nonce of a valid, unexpired device cookie for `account` among `cookies`, else
        None (absent, forged, issued for another account, or expired)."""
        value = cookies.get(self.name_for(account))
        if not value:
            return None
        nonce, _, rest = value.partition(".")
        issued, _, mac = rest.partition(".")
        if not (nonce and issued.isdigit() and len(issued) <= 12 and mac):
            return None
        if not hmac.compare_digest(mac, self._mac(b"device", account, nonce, issued)):
            return None
        if not 0 <= self._clock() - int(issued) < DEVICE_TTL_SECONDS:
            return None
        return nonce

    def _mac(self, purpose: bytes, *parts: str) -> str:
        message = b"\0".join([purpose, *(part.encode() for part in parts)])
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def set_device_cookie(response: web.StreamResponse, cookie: DeviceCookie, secure: bool) -> None:
    response.set_cookie(
        cookie.name,
        cookie.value,
        path=DEVICE_COOKIE_PATH,
        max_age=DEVICE_TTL_SECONDS,
        httponly=True,
        samesite="Strict",
        secure=secure,
    )
