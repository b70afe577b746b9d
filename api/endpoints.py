"""Declaring REST endpoints once: route, models, auth and errors, for both serving and OpenAPI.

A handler is called as `handler(request, **parts)` with only the parts it declared:
`body` (the validated request model), `query` (the validated query model) and `principal`
(the signed-in caller). It returns a response model (sent with the declared status), None
(204) or a ready `web.StreamResponse`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from api.auth.cookies import access_token_of
from api.errors import AppError, NotAuthenticated
from api.log_context import bind_user
from api.request_body import read_json_body, validate
from api.services import SERVICES

Handler = Callable[..., Awaitable[BaseModel | web.StreamResponse | None]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True
    errors: tuple[type[AppError], ...] = ()
    # For endpoints whose body is not JSON (uploads) or whose answer is not JSON (images).
    request_content: dict[str, Any] | None = None
    response_content: dict[str, Any] | None = None


@dataclass
class Api:
    """Endpoints of one feature; `register` adds them to the app."""

    tag: str
    endpoints: list[Endpoint] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        auth: bool = True,
        errors: tuple[type[AppError], ...] = (),
        request_content: dict[str, Any] | None = None,
        response_content: dict[str, Any] | None = None,
    ) -> Callable[[Handler], Handler]:
        def declare(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method=method,
                    path=path,
                    handler=handler,
                    summary=summary,
                    tag=self.tag,
                    body=body,
                    query=query,
                    response=response,
                    status=status,
                    auth=auth,
                    errors=errors,
                    request_content=request_content,
                    response_content=response_content,
                )
            )
            return handler

        return declare

    def register(self, app: web.Application) -> None:
        for endpoint in self.endpoints:
            app.router.add_route(endpoint.method, endpoint.path, _serve(endpoint))


def _serve(endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def serve(request: web.Request) -> web.StreamResponse:
        parts: dict[str, Any] = {}
        if endpoint.auth:
            token = access_token_of(request)
            if token is None:
                raise NotAuthenticated()
            parts["principal"] = await request.app[SERVICES].auth.authenticate(token)
            bind_user(parts["principal"].user.id)  # the request's log lines name the user
        if endpoint.query is not None:
            parts["query"] = validate(endpoint.query, dict(request.query))
        if endpoint.body is not None:
            parts["body"] = await read_json_body(request, endpoint.body)
        result = await endpoint.handler(request, **parts)
        if isinstance(result, web.StreamResponse):
            return result
        if result is None:
            return web.Response(status=204)
        return json_response(result, endpoint.status)

    return serve


def json_response(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=model.model_dump_json(by_alias=True),
        content_type="application/json",
    )
