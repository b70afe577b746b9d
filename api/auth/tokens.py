"""Access tokens (short JWTs bound to a session) and refresh tokens (rotating, stored hashed).

A refresh token is a JWT signed with its own secret whose `jti` is 32 random bytes; the session
stores only the jti's hash. A correctly signed token whose jti is not the session's current one
can only be an already-used token, which is how reuse is told apart from forgery.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from api.errors import AccessTokenExpired, AppError, InvalidAuthToken, SessionExpired
from api.settings import Settings

ALGORITHM = "HS256"
ISSUER = "gethory"


def hash_secret(raw: str) -> str:
    """Tokens are 256-bit random, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(raw.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    session_id: str


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class RefreshClaims:
    session_id: str
    jti_hash: str


class Tokens:
    def __init__(self, settings: Settings) -> None:
        self._access_secret = settings.jwt_access_secret
        self._refresh_secret = settings.jwt_refresh_secret
        self.access_ttl = timedelta(seconds=settings.access_token_ttl_seconds)
        self.refresh_ttl = timedelta(seconds=settings.refresh_token_ttl_seconds)

    def issue_access(self, claims: AccessClaims, now: datetime) -> IssuedToken:
        expires_at = now + self.access_ttl
        payload = {
            "iss": ISSUER,
            "typ": "access",
            "sub": claims.user_id,
            "sid": claims.session_id,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        return IssuedToken(jwt.encode(payload, self._access_secret, ALGORITHM), expires_at)

    def read_access(self, token: str) -> AccessClaims:
        payload = self._decode(token, self._access_secret, "access", AccessTokenExpired)
        return AccessClaims(user_id=payload["sub"], session_id=payload["sid"])

    def issue_refresh(self, session_id: str, now: datetime) -> tuple[IssuedToken, str]:
        """The token for the client and the jti hash for the session document."""
        jti = new_secret()
        expires_at = now + self.refresh_ttl
        payload = {
            "iss": ISSUER,
            "typ": "refresh",
            "sid": session_id,
            "jti": jti,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        token = jwt.encode(payload, self._refresh_secret, ALGORITHM)
        return IssuedToken(token, expires_at), hash_secret(jti)

    def read_refresh(self, token: str) -> RefreshClaims:
        payload = self._decode(token, self._refresh_secret, "refresh", SessionExpired)
        return RefreshClaims(session_id=payload["sid"], jti_hash=hash_secret(payload["jti"]))

    @staticmethod
    def _decode(token: str, secret: str, kind: str, expired: type[AppError]) -> dict[str, str]:
        try:
            payload: dict[str, str] = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sid", "typ"]},
            )
        except jwt.ExpiredSignatureError:
            raise expired() from None
        except jwt.PyJWTError:
            raise InvalidAuthToken() from None
        if payload.get("typ") != kind:
            raise InvalidAuthToken()
        return payload
