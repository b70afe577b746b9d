"""Request ids, the origin check (CSRF) and turning errors into the one JSON error shape."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware

from api import errors
from api.access_log import loggable_path
from api.auth.cookies import clear_token_cookies, cookies_secure
from api.log_context import bind_request_id
from api.models import ErrorBody, ErrorResponse
from api.settings import Settings
from api.store.database import DATABASE_UNREACHABLE, outage_summary

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The only place where a domain error becomes an HTTP status.
STATUS_OF: dict[type[errors.AppError], int] = {
    errors.InvalidJson: 400,
    errors.InvalidToken: 400,
    errors.MalformedUpload: 400,
    errors.MalformedBody: 400,
    errors.BodyTimeout: 408,
    errors.NotAuthenticated: 401,
    errors.InvalidAuthToken: 401,
    errors.AccessTokenExpired: 401,
    errors.SessionExpired: 401,
    errors.InvalidCredentials: 401,
    errors.RefreshTokenReused: 401,
    errors.EmailNotVerified: 403,
    errors.Forbidden: 403,
    errors.Conflict: 409,
    errors.Gone: 410,
    errors.OriginNotAllowed: 403,
    errors.NotFound: 404,
    errors.TokenExpired: 410,
    errors.PayloadTooLarge: 413,
    errors.ImageTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.UnsupportedImage: 415,
    errors.ValidationFailed: 422,
    errors.RateLimited: 429,
    errors.DatabaseUnavailable: 503,
}

HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID = web.RequestKey("request_id", str)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def status_of(error_class: type[errors.AppError]) -> int:
    for cls in error_class.__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 400


def error_response(status: int, code: str, message: str, details: object = None) -> web.Response:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=details))
    return web.Response(
        status=status, body=body.model_dump_json(by_alias=True), content_type="application/json"
    )


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(8)
    request[REQUEST_ID] = request_id
    # Every line logged for this request from here on carries it (api/log_context.py).
    bind_request_id(request_id)
    response = await handler(request)
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


def error_middleware(settings: Settings) -> Middleware:
    @web.middleware
    async def answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except errors.AppError as error:
            return _app_error_response(error, request, settings)
        except web.HTTPException as http_error:
            if http_error.status < 400:
                raise
            code = HTTP_CODES.get(http_error.status, "http_error")
            return error_response(http_error.status, code, http_error.reason)
        except (HttpProcessingError, web.RequestPayloadError) as failure:
            # aiohttp could not decode the body (Content-Encoding, chunked framing, length):
            # the client's fault, so a 400 and one short line, never a traceback.
            log.info(
                "unreadable body in %s %s [%s]: %s",
                request.method,
                loggable_path(request),
                request.get(REQUEST_ID),
                type(failure.__cause__ or failure).__name__,
            )
            response = _app_error_response(errors.MalformedBody(), request, settings)
            # The rest of the body cannot be read either: close rather than drain it.
            response.force_close()
            return response
        except DATABASE_UNREACHABLE as failure:
            # pymongo could not reach the server: a fast 503 the client may retry, not a 500.
            log.warning(
                "database unavailable in %s %s [%s]: %s",
                request.method,
                loggable_path(request),
                request.get(REQUEST_ID),
                outage_summary(failure),
            )
            return _app_error_response(errors.DatabaseUnavailable(), request, settings)
        except Exception:
            log.exception(
                "unhandled error in %s %s [%s]",
                request.method,
                loggable_path(request),
                request.get(REQUEST_ID),
            )
            return error_response(
                500,
                "internal_error",
                "Something went wrong on our side.",
                {"requestId": request.get(REQUEST_ID)},
            )

    return answer_errors


def _app_error_response(
    error: errors.AppError, request: web.Request, settings: Settings
) -> web.Response:
    status = status_of(type(error))
    response = error_response(status, error.code, error.text, error.details)
    if status == 401:
        # RFC 9110 §15.5.2: a 401 names the scheme that would do; ours is a bearer token
        # (RFC 6750), in the Authorization header or the access cookie. Browsers show no
        # dialog for it.
        response.headers["WWW-Authenticate"] = "Bearer"
    if isinstance(error, errors.RateLimited | errors.DatabaseUnavailable):
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    if isinstance(error, errors.BodyTimeout):
        # The rest of the body is still dribbling in: never wait for it on this connection.
        response.force_close()
    if isinstance(error, errors.SessionExpired | errors.RefreshTokenReused):
        # The browser should stop presenting tokens of a session that is gone.
        clear_token_cookies(response, cookies_secure(request, settings))
    return response
