"""The OpenAPI 3.1 document, generated from the endpoints' declared pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from api.endpoints import Endpoint
from api.errors import (
    AccessTokenExpired,
    AppError,
    InvalidAuthToken,
    InvalidJson,
    NotAuthenticated,
    OriginNotAllowed,
    PayloadTooLarge,
    SessionExpired,
    UnsupportedMediaType,
    ValidationFailed,
)
from api.middlewares import SAFE_METHODS, status_of
from api.models import ErrorResponse

REF_TEMPLATE = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{([^}/:]+)(?::[^}]*)?}")


def build_openapi(endpoints: list[Endpoint], version: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        path = _PATH_PARAM.sub(r"{\1}", endpoint.path)
        paths.setdefault(path, {})[endpoint.method.lower()] = _operation(endpoint, schemas)
    _add_schema(ErrorResponse, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Gethory API",
            "version": version,
            "description": "Real-time voice rooms. Errors are "
            '`{"error": {"code", "message", "details"}}`.',
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "gethory_access"},
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
    }


def _operation(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.handler.__name__,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "responses": _responses(endpoint, schemas),
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(endpoint.path)
    ]
    if endpoint.query is not None:
        parameters += _query_parameters(endpoint.query)
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _add_schema(endpoint.body, schemas)}},
        }
    elif endpoint.request_content is not None:
        operation["requestBody"] = {"required": True, "content": endpoint.request_content}
    if endpoint.auth:
        operation["security"] = [{"cookieAuth": []}, {"bearerAuth": []}]
    return operation


def _responses(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    success: dict[str, Any] = {"description": "Success"}
    if endpoint.response is not None:
        schema = _add_schema(endpoint.response, schemas)
        success["content"] = {"application/json": {"schema": schema}}
    elif endpoint.response_content is not None:
        success["content"] = endpoint.response_content
    responses: dict[str, Any] = {str(endpoint.status): success}
    error_schema = {"$ref": REF_TEMPLATE.format(model="ErrorResponse")}
    statuses: dict[int, list[str]] = {}
    for error in _possible_errors(endpoint):
        codes = statuses.setdefault(status_of(error), [])
        if error.code not in codes:
            codes.append(error.code)
    for status, codes in sorted(statuses.items()):
        responses[str(status)] = {
            "description": "Error: " + ", ".join(f"`{code}`" for code in codes),
            "content": {"application/json": {"schema": error_schema}},
        }
    return responses


def _possible_errors(endpoint: Endpoint) -> list[type[AppError]]:
    """The endpoint's own errors plus those its declared parts can always produce."""
    possible: list[type[AppError]] = []
    if endpoint.auth:
        possible += [NotAuthenticated, AccessTokenExpired, SessionExpired, InvalidAuthToken]
    if endpoint.method not in SAFE_METHODS:
        possible.append(OriginNotAllowed)
    if endpoint.body is not None:
        possible += [InvalidJson, PayloadTooLarge, UnsupportedMediaType, ValidationFailed]
    if endpoint.query is not None:
        possible.append(ValidationFailed)
    return possible + list(endpoint.errors)


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": field_schema}
        for name, field_schema in schema.get("properties", {}).items()
    ]


def _add_schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(by_alias=True, ref_template=REF_TEMPLATE)
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = definition
    schemas[model.__name__] = schema
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}
