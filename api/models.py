"""Base classes for request and response bodies: camelCase on the wire, strict on input."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """A response body; serialized by alias (camelCase)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class RequestModel(ApiModel):
    """A request body: unknown fields are an error, strings are stripped."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
        str_strip_whitespace=True,
    )


class ErrorBody(ApiModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(ApiModel):
    error: ErrorBody
