"""Reading and validating a JSON request body into a pydantic model."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from api.errors import InvalidJson, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

MAX_JSON_BODY_BYTES = 64 * 1024

ModelT = TypeVar("ModelT", bound=BaseModel)


async def read_json_body(request: web.Request, model: type[ModelT]) -> ModelT:
    if request.content_type != "application/json":
        raise UnsupportedMediaType()
    if request.content_length is not None and request.content_length > MAX_JSON_BODY_BYTES:
        raise PayloadTooLarge()
    raw = await request.content.read(MAX_JSON_BODY_BYTES + 1)
    if len(raw) > MAX_JSON_BODY_BYTES:
        raise PayloadTooLarge()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidJson() from None
    return validate(model, data)


def validate(model: type[ModelT], data: Any) -> ModelT:
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
