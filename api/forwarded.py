"""Which client a request comes from when Gethory runs behind a reverse proxy
(TRUSTED_PROXIES). The trusted-proxy rule is filled in by the deployment work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from api.settings import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def forwarded_middleware(settings: Settings) -> Middleware:
    """Hand on the request with `remote` and `scheme` as the client sent them."""

    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await handler(request)

    return forwarded
