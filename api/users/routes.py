"""`/api/users/*`."""

from __future__ import annotations

from aiohttp import web

from api.auth.service import Principal
from api.endpoints import Api
from api.errors import NotAuthenticated, SessionExpired
from api.users.models import MeResponse

api = Api("users")


@api.route(
    "GET",
    "/api/users/me",
    summary="The signed-in user's account",
    response=MeResponse,
    errors=(NotAuthenticated, SessionExpired),
)
async def get_me(request: web.Request, principal: Principal) -> MeResponse:
    return MeResponse.of(principal.user)
