"""`/api/auth/*`: sign-up, email verification, sign-in, refresh, sign-out, reset and sessions."""

from __future__ import annotations

from aiohttp import web

from api.auth.cookies import (
    access_token_of,
    clear_token_cookies,
    cookies_secure,
    refresh_token_of,
    set_token_cookies,
)
from api.auth.devices import set_device_cookie
from api.auth.models import (
    AcceptedResponse,
    EmailRequest,
    LoginRequest,
    RegisterRequest,
    ResendVerificationRequest,
    ResetPasswordRequest,
    RevokedResponse,
    SessionListResponse,
    SessionResponse,
    SignedInResponse,
    TokenRequest,
    VerifiedResponse,
)
from api.auth.rate_limiter import Limit, client_bucket
from api.auth.service import ClientInfo, Principal, SignedIn
from api.endpoints import Api, json_response
from api.errors import (
    EmailNotVerified,
    InvalidAuthToken,
    InvalidCredentials,
    InvalidToken,
    NotAuthenticated,
    NotFound,
    RateLimited,
    RefreshTokenReused,
    SessionExpired,
    TokenExpired,
)
from api.ids import looks_like_id
from api.services import SERVICES
from api.users.models import MeResponse

api = Api("auth")

HOUR = 3600.0
# (per client IP, per email). Sign-in is limited by the auth service's `LoginThrottle`
# instead: failures only, per client IP, account and device cookie, so that neither guessing
# nor a neighbour behind the same NAT can lock the owner out.
LIMITS: dict[str, tuple[Limit, Limit | None]] = {
    "register": (Limit(10, HOUR), Limit(5, HOUR)),
    "resend-verification": (Limit(10, HOUR), Limit(3, HOUR)),
    "forgot-password": (Limit(10, HOUR), Limit(3, HOUR)),
    "email-token": (Limit(30, HOUR), Limit(30, HOUR)),
}
MAIL_ON_ITS_WAY = "If that address can receive mail from us, a message is on its way."


def _limit(request: web.Request, action: str, email: str | None = None) -> None:
    per_ip, per_email = LIMITS[action]
    limiter = request.app[SERVICES].rate_limiter
    limiter.hit(action, f"ip:{client_bucket(_client_ip(request))}", per_ip)
    if email is not None and per_email is not None:
        limiter.hit(action, f"email:{email}", per_email)


def _client_ip(request: web.Request) -> str:
    # The peer address, or the client behind a trusted proxy (TRUSTED_PROXIES) as
    # api/forwarded.py found it from the right of X-Forwarded-For: a client cannot pick the
    # IP its requests and sign-in failures are counted under.
    return request.remote or ""


def _signed_in_response(request: web.Request, signed_in: SignedIn) -> web.Response:
    body = SignedInResponse(
        user=MeResponse.of(signed_in.user),
        session_id=signed_in.session.id,
        access_token=signed_in.access.token,
        access_token_expires_at=signed_in.access.expires_at,
    )
    response = json_response(body)
    settings = request.app[SERVICES].settings
    secure = cookies_secure(request, settings)
    set_token_cookies(response, settings, signed_in.access, signed_in.refresh, secure)
    if signed_in.device is not None:
        set_device_cookie(response, signed_in.device, secure)
    return response


@api.route(
    "POST",
    "/api/auth/register",
    summary="Create an account and email a verification link",
    body=RegisterRequest,
    response=AcceptedResponse,
    status=202,
    auth=False,
    errors=(RateLimited,),
)
async def register(request: web.Request, body: RegisterRequest) -> AcceptedResponse:
    _limit(request, "register", body.email)
    await request.app[SERVICES].auth.register(body.email, body.password, body.name, body.next)
    return AcceptedResponse(message=MAIL_ON_ITS_WAY)


@api.route(
    "POST",
    "/api/auth/verify-email",
    summary="Verify an email address with the token from the emailed link",
    body=TokenRequest,
    response=VerifiedResponse,
    auth=False,
    errors=(InvalidToken, TokenExpired, RateLimited),
)
async def verify_email(request: web.Request, body: TokenRequest) -> VerifiedResponse:
    _limit(request, "email-token")
    await request.app[SERVICES].auth.verify_email(body.token)
    return VerifiedResponse()


@api.route(
    "POST",
    "/api/auth/resend-verification",
    summary="Email a new verification link (voids the previous one)",
    body=ResendVerificationRequest,
    response=AcceptedResponse,
    status=202,
    auth=False,
    errors=(RateLimited,),
)
async def resend_verification(
    request: web.Request, body: ResendVerificationRequest
) -> AcceptedResponse:
    _limit(request, "resend-verification", body.email)
    request.app[SERVICES].auth.resend_verification(body.email, body.next)
    return AcceptedResponse(message=MAIL_ON_ITS_WAY)


@api.route(
    "POST",
    "/api/auth/login",
    summary="Sign in; sets the access and refresh cookies",
    body=LoginRequest,
    response=SignedInResponse,
    auth=False,
    errors=(InvalidCredentials, EmailNotVerified, RateLimited),
)
async def login(request: web.Request, body: LoginRequest) -> web.Response:
    client = ClientInfo(
        ip=_client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        cookies=request.cookies,
    )
    signed_in = await request.app[SERVICES].auth.login(body.email, body.password, client)
    return _signed_in_response(request, signed_in)


@api.route(
    "POST",
    "/api/auth/refresh",
    summary="Rotate the refresh cookie and issue a new access token",
    response=SignedInResponse,
    auth=False,
    errors=(NotAuthenticated, SessionExpired, RefreshTokenReused, InvalidAuthToken),
)
async def refresh(request: web.Request) -> web.Response:
    token = refresh_token_of(request)
    if token is None:
        raise NotAuthenticated()
    signed_in = await request.app[SERVICES].auth.refresh(token)
    return _signed_in_response(request, signed_in)


@api.route(
    "POST",
    "/api/auth/logout",
    summary="Sign out: end this session (named by either cookie) and clear the cookies",
    status=204,
    auth=False,
)
async def logout(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    await services.auth.logout(access_token_of(request), refresh_token_of(request))
    response = web.Response(status=204)
    clear_token_cookies(response, cookies_secure(request, services.settings))
    return response


@api.route(
    "POST",
    "/api/auth/forgot-password",
    summary="Email a password-reset link",
    body=EmailRequest,
    response=AcceptedResponse,
    status=202,
    auth=False,
    errors=(RateLimited,),
)
async def forgot_password(request: web.Request, body: EmailRequest) -> AcceptedResponse:
    _limit(request, "forgot-password", body.email)
    request.app[SERVICES].auth.forgot_password(body.email)
    return AcceptedResponse(message=MAIL_ON_ITS_WAY)


@api.route(
    "POST",
    "/api/auth/reset-password",
    summary="Set a new password with the emailed token; ends every session",
    body=ResetPasswordRequest,
    status=204,
    auth=False,
    errors=(InvalidToken, TokenExpired, RateLimited),
)
async def reset_password(request: web.Request, body: ResetPasswordRequest) -> None:
    _limit(request, "email-token")
    await request.app[SERVICES].auth.reset_password(body.token, body.password, body.name)


@api.route(
    "GET",
    "/api/auth/sessions",
    summary="The signed-in user's live sessions",
    response=SessionListResponse,
)
async def list_sessions(request: web.Request, principal: Principal) -> SessionListResponse:
    sessions = await request.app[SERVICES].auth.sessions_of(principal.user.id)
    return SessionListResponse(
        sessions=[
            SessionResponse(
                id=session.id,
                created_at=session.created_at,
                last_used_at=session.last_used_at,
                expires_at=session.expires_at,
                user_agent=session.user_agent,
                ip=session.ip,
                current=session.id == principal.session_id,
            )
            for session in sessions
        ]
    )


@api.route(
    "DELETE",
    "/api/auth/sessions/{id}",
    summary="Revoke one of the signed-in user's sessions",
    status=204,
    errors=(NotFound,),
)
async def revoke_session(request: web.Request, principal: Principal) -> None:
    session_id = request.match_info["id"]
    if not looks_like_id(session_id, "ses"):
        raise NotFound("No such session.")
    await request.app[SERVICES].auth.revoke_session(principal.user.id, session_id)


@api.route(
    "DELETE",
    "/api/auth/sessions",
    summary="Revoke every session of the signed-in user except this one",
    response=RevokedResponse,
)
async def revoke_other_sessions(request: web.Request, principal: Principal) -> RevokedResponse:
    count = await request.app[SERVICES].auth.revoke_other_sessions(
        principal.user.id, principal.session_id
    )
    return RevokedResponse(revoked=count)
