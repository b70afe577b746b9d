"""What every log line may say about the request being served: its id, the client's address
and the signed-in user, carried in context variables.

aiohttp runs each request in a task of its own (web_protocol: "a new task is used for copy
context vars"), and middlewares, the handler and the access log line all run in that task.
So a value bound here by a middleware or by the code that resolves the principal is seen by
every line logged for the request afterwards, the access line included, and by tasks the
request starts (they copy the context), and never by another request. Nothing is reset:
the request's task, and its context, end with the request.
"""

from __future__ import annotations

from contextvars import ContextVar

_REQUEST_ID: ContextVar[str | None] = ContextVar("gethory_request_id", default=None)
_CLIENT: ContextVar[str | None] = ContextVar("gethory_client", default=None)
_USER_ID: ContextVar[str | None] = ContextVar("gethory_user_id", default=None)


def bind_request_id(request_id: str) -> None:
    """The request's id (`X-Request-Id`, api/middlewares.py)."""
    _REQUEST_ID.set(request_id)


def bind_client(address: str | None) -> None:
    """The client's IP address after the trusted-proxy rule (api/forwarded.py)."""
    _CLIENT.set(address)


def bind_user(user_id: str) -> None:
    """The signed-in user, once the request's token is known to be good."""
    _USER_ID.set(user_id)


def log_fields() -> dict[str, str]:
    """`{"request_id", "client", "user_id"}`, each only when known."""
    fields: dict[str, str] = {}
    for name, var in (("request_id", _REQUEST_ID), ("client", _CLIENT), ("user_id", _USER_ID)):
        value = var.get()
        if value is not None:
            fields[name] = value
    return fields
