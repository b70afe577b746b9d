"""Named errors raised by domain code; `api.middlewares` turns them into HTTP answers."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """Base of every error a client may see: `code` is machine-readable, the message human."""

    code = "error"
    message = "Something went wrong."

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        super().__init__(message or self.message)
        self.details = details

    @property
    def text(self) -> str:
        return str(self.args[0])


class InvalidJson(AppError):
    code = "invalid_json"
    message = "The request body is not valid JSON."


class ValidationFailed(AppError):
    code = "validation_failed"
    message = "The request is not valid."


class PayloadTooLarge(AppError):
    code = "payload_too_large"
    message = "The request body is too large."


class UnsupportedMediaType(AppError):
    code = "unsupported_media_type"
    message = "Send the request body as application/json."


class NotFound(AppError):
    code = "not_found"
    message = "Not found."


class NotAuthenticated(AppError):
    code = "not_authenticated"
    message = "Sign in first."


class AccessTokenExpired(AppError):
    code = "access_token_expired"
    message = "The access token has expired; refresh it."


class SessionExpired(AppError):
    code = "session_expired"
    message = "Your session has ended; sign in again."


class InvalidCredentials(AppError):
    code = "invalid_credentials"
    message = "Wrong email or password."


class EmailNotVerified(AppError):
    code = "email_not_verified"
    message = "Verify your email address before signing in."


class InvalidToken(AppError):
    code = "invalid_token"
    message = "This link is invalid or has already been used."


class InvalidAuthToken(InvalidToken):
    """An access or refresh token that is malformed, forged or of the wrong kind (401, not 400:
    the caller is not authenticated; a bad email link stays `InvalidToken`, 400)."""

    message = "The token is invalid; sign in again."


class TokenExpired(AppError):
    code = "token_expired"
    message = "This link has expired; ask for a new one."


class RefreshTokenReused(AppError):
    code = "refresh_token_reused"
    message = "This session was ended because its refresh token was used twice."


class OriginNotAllowed(AppError):
    code = "origin_not_allowed"
    message = "Requests from this origin are not allowed."


class RateLimited(AppError):
    code = "rate_limited"
    message = "Too many attempts; try again later."

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(details={"retryAfter": retry_after_seconds})
        self.retry_after_seconds = retry_after_seconds


class DatabaseUnavailable(AppError):
    """The database does not answer (down, restarting, unreachable): try again shortly."""

    code = "database_unavailable"
    message = "The service is briefly unavailable; try again in a moment."

    def __init__(self, retry_after_seconds: int = 2) -> None:
        super().__init__(details={"retryAfter": retry_after_seconds})
        self.retry_after_seconds = retry_after_seconds


class UnsupportedImage(AppError):
    code = "unsupported_image"
    message = "Upload a PNG, JPEG, WebP or GIF image."


class ImageTooLarge(AppError):
    code = "image_too_large"
    message = "The image is larger than 5 MB."


class Forbidden(AppError):
    code = "forbidden"
    message = "You may not do that."


class NotRoomOwner(Forbidden):
    code = "not_room_owner"
    message = "Only the room's owner may do that."


class NotRoomHost(Forbidden):
    code = "not_room_host"
    message = "Only the room's hosts may do that."


class BannedFromRoom(Forbidden):
    code = "banned_from_room"
    message = "A host removed you from this room; you cannot enter it again."


class NotStageRoom(Forbidden):
    code = "not_stage_room"
    message = "That applies to stage rooms only."


class SpeakInviteRequired(Forbidden):
    code = "speak_invite_required"
    message = "A listener comes on stage only by accepting an invite to speak."


class OwnerRoleFixed(Forbidden):
    code = "owner_role_fixed"
    message = "The room's owner is always a host."


class Conflict(AppError):
    code = "conflict"
    message = "That conflicts with the current state."


class UsernameTaken(Conflict):
    code = "username_taken"
    message = "That username is taken."


class Gone(AppError):
    code = "gone"
    message = "That no longer exists."


class InviteExpired(Gone):
    code = "invite_expired"
    message = "This invite has expired."


class InviteExhausted(Gone):
    code = "invite_exhausted"
    message = "This invite has been used as many times as it allows."


class RoomClosed(Gone):
    code = "room_closed"
    message = "This room has been closed."


class MalformedUpload(AppError):
    code = "malformed_upload"
    message = "The multipart body could not be read."


class MalformedBody(AppError):
    """aiohttp could not decode the body: a broken `Content-Encoding`, chunked framing, or a
    body shorter than its `Content-Length`."""

    code = "malformed_body"
    message = "The request body could not be read."


class BodyTimeout(AppError):
    """The request body did not arrive within its deadline (api.body_deadline)."""

    code = "body_timeout"
    message = "The request body took too long to arrive."

    def __init__(self, seconds: float) -> None:
        super().__init__(details={"seconds": seconds})


class RoomFull(Conflict):
    code = "room_full"
    message = "This room is full."


class NotInRoom(Conflict):
    code = "not_in_room"
    message = "Join the room first."


class PeerNotInRoom(Conflict):
    code = "peer_not_in_room"
    message = "That peer is not in your room."


class NotYourself(Forbidden):
    code = "not_yourself"
    message = "You can only change your own state this way."


class WrongMediaMode(Conflict):
    code = "wrong_media_mode"
    message = "That does not apply to this room's media mode."


class MutedByOwner(Forbidden):
    code = "muted_by_owner"
    message = "The room's owner muted you; only they can unmute you."


class UnknownEvent(AppError):
    code = "unknown_event"
    message = "There is no such event."


class ReservedEvent(AppError):
    code = "reserved_event"
    message = "That event name is reserved by Socket.IO; clients may not send it."


class AlreadyConnected(Conflict):
    code = "already_connected"
    message = "This connection is already signed in."


class TryAgain(AppError):
    code = "try_again"
    message = "The room changed while you were joining; try again."


class ServerDraining(AppError):
    """The server is shutting down (SIGTERM; api.drain): no new joins; a restarted server will
    take them. `details.retryAfter` is a hint in seconds."""

    code = "server_draining"
    message = "The server is restarting; you will be reconnected in a moment."

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(details={"retryAfter": retry_after_seconds})
        self.retry_after_seconds = retry_after_seconds


class AlreadyOnStage(Conflict):
    code = "already_on_stage"
    message = "You are on stage already."


class NoSpeakInvite(Conflict):
    code = "no_speak_invite"
    message = "There is no invitation to speak for you (it may have expired)."
