"""Reading and validating a JSON request body into a pydantic model."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from api.body_deadline import body_deadline, deadlines
from api.errors import InvalidJson, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

MAX_JSON_BODY_BYTES = 64 * 1024
# No body or socket payload of ours nests deeper than a few levels (an SDP or ICE object is
# two). Anything deeper is refused before it reaches pydantic or any recursive code.
MAX_JSON_DEPTH = 32
TOO_DEEP = f"The JSON nests deeper than {MAX_JSON_DEPTH} levels."

ModelT = TypeVar("ModelT", bound=BaseModel)


async def read_json_body(request: web.Request, model: type[ModelT]) -> ModelT:
    if request.content_type != "application/json":
        raise UnsupportedMediaType()
    if request.content_length is not None and request.content_length > MAX_JSON_BODY_BYTES:
        raise PayloadTooLarge()
    async with body_deadline(request, deadlines(request).json_seconds):
        raw = await read_body(request, MAX_JSON_BODY_BYTES)
    return validate(model, parse_json(raw))


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, however many TCP segments it arrives in, or `PayloadTooLarge` once it
    passes `limit` bytes (read no further than that). `StreamReader.read(n)` returns only what
    is already buffered, so it is called until end of body. A body aiohttp cannot decode (a
    broken `Content-Encoding` or chunked framing) raises its `HttpProcessingError`, which the
    error middleware answers with 400 `malformed_body`."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(limit + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge()
    return b"".join(chunks)


def parse_json(raw: bytes | str) -> Any:
    """Client JSON, or `InvalidJson`: malformed, or nested deeper than `MAX_JSON_DEPTH`."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidJson() from None
    except RecursionError:
        # The C decoder recurses per `[`/`{`: some kilobytes of them exhaust the stack.
        raise InvalidJson(TOO_DEEP) from None
    check_depth(data)
    return data


def check_depth(data: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuses (InvalidJson) decoded JSON nested deeper than `limit`; iterative, no recursion."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        if depth > limit:
            raise InvalidJson(TOO_DEEP)
        stack.extend((child, depth + 1) for child in children)


def validate(model: type[ModelT], data: Any) -> ModelT:
    """`data` already decoded by someone else (a query, a Socket.IO payload) into `model`."""
    check_depth(data)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ValidationFailed(details=field_errors(error)) from None


def field_errors(error: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors without the echoed input (it may be a password)."""
    return [
        {
            "field": ".".join(str(part) for part in item["loc"]),
            "code": item["type"],
            "message": item["msg"],
        }
        for item in error.errors(include_url=False, include_input=False, include_context=False)
    ]
