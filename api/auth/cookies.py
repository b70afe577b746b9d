"""Where tokens travel: httpOnly cookies for browsers, `Authorization: Bearer` for bots."""

from __future__ import annotations

from aiohttp import web

from api.auth.tokens import IssuedToken
from api.settings import Settings

ACCESS_COOKIE = "gethory_access"
REFRESH_COOKIE = "gethory_refresh"
# The refresh cookie is only ever sent to the endpoints that use it.
REFRESH_COOKIE_PATH = "/api/auth"


def access_token_of(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(ACCESS_COOKIE) or None


def refresh_token_of(request: web.Request) -> str | None:
    return request.cookies.get(REFRESH_COOKIE) or None


def set_token_cookies(
    response: web.StreamResponse, settings: Settings, access: IssuedToken, refresh: IssuedToken
) -> None:
    secure = settings.secure_cookies
    # The cookie outlives the 15-minute token on purpose: an expired token is still presented,
    # so the server can answer `access_token_expired` (refresh) rather than `not_authenticated`.
    response.set_cookie(
        ACCESS_COOKIE,
        access.token,
        path="/",
        max_age=settings.refresh_token_ttl_seconds,
        httponly=True,
        samesite="Lax",
        secure=secure,
    )
    response.set_cookie(
        REFRESH_COOKIE,
        refresh.token,
        path=REFRESH_COOKIE_PATH,
        max_age=settings.refresh_token_ttl_seconds,
        httponly=True,
        samesite="Lax",
        secure=secure,
    )


def clear_token_cookies(response: web.StreamResponse, settings: Settings) -> None:
    secure = settings.secure_cookies
    for name, path in ((ACCESS_COOKIE, "/"), (REFRESH_COOKIE, REFRESH_COOKIE_PATH)):
        response.del_cookie(name, path=path, httponly=True, samesite="Lax", secure=secure)
