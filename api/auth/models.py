"""Request and response bodies of the auth endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, EmailStr, Field

from api.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from api.models import ApiModel, RequestModel
from api.users.models import DisplayName, MeResponse


def normalize_email(email: str) -> str:
    return email.strip().lower()


Email = Annotated[EmailStr, Field(max_length=254), AfterValidator(normalize_email)]
NewPassword = Annotated[
    str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH, repr=False)
]
AnyPassword = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH, repr=False)]
EmailLinkToken = Annotated[str, Field(min_length=1, max_length=200, repr=False)]


# Where the app goes after the sign-up that started from an invite: carried in the
# verification link, so the invite survives the email being opened in another tab or device.
# Only an invite path, never an address elsewhere (no open redirect through our emails).
InviteNext = Annotated[str, Field(pattern=r"^/invite/[A-Za-z0-9_-]{16,128}$")]


class RegisterRequest(RequestModel):
    email: Email
    password: NewPassword
    name: DisplayName
    next: InviteNext | None = None


class ResendVerificationRequest(RequestModel):
    email: Email
    next: InviteNext | None = None


class LoginRequest(RequestModel):
    email: Email
    password: AnyPassword


class EmailRequest(RequestModel):
    email: Email


class TokenRequest(RequestModel):
    token: EmailLinkToken


class ResetPasswordRequest(RequestModel):
    token: EmailLinkToken
    password: NewPassword
    # Optional: the owner of a contested address names the account as they choose its password.
    name: DisplayName | None = None


class AcceptedResponse(ApiModel):
    """Deliberately the same whether or not the email has an account."""

    status: str = "accepted"
    message: str


class VerifiedResponse(ApiModel):
    verified: bool = True


class SignedInResponse(ApiModel):
    user: MeResponse
    session_id: str
    access_token: str
    access_token_expires_at: datetime


class SessionResponse(ApiModel):
    id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str
    ip: str
    current: bool


class SessionListResponse(ApiModel):
    sessions: list[SessionResponse]


class RevokedResponse(ApiModel):
    revoked: int
