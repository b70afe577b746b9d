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


def cookies_secure(request: web.BaseRequest, settings: Settings) -> bool:
    """Whether cookies set on this request's answer carry `Secure`: always in production or
    with an https APP_ORIGIN (`Settings.secure_cookies`), and whenever the browser reached us
    over https, as the request's scheme says once a trusted proxy's `X-Forwarded-Proto` is
    applied (api/forwarded.py)."""
    return settings.secure_cookies or request.secure


def set_token_cookies(
    response: web.StreamResponse,
    settings: Settings,
    access: IssuedToken,
    refresh: IssuedToken,
    secure: bool,
) -> None:
    """`secure`: `cookies_secure(request, settings)`."""
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


def clear_token_cookies(response: web.StreamResponse, secure: bool) -> None:
    """`secure`: `cookies_secure(request, settings)`, as when they were set."""
    for name, path in ((ACCESS_COOKIE, "/"), (REFRESH_COOKIE, REFRESH_COOKIE_PATH)):
        response.del_cookie(name, path=path, httponly=True, samesite="Lax", secure=secure)
