"""Account and session logic: everything between a validated request and the store."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from api.auth.devices import DeviceCookie, DeviceCookies
from api.auth.passwords import Passwords
from api.auth.rate_limiter import LoginThrottle
from api.auth.tokens import AccessClaims, IssuedToken, Tokens, hash_secret, new_secret
from api.background import BackgroundTasks
from api.emails import (
    Email,
    already_registered_email,
    finish_sign_up_email,
    password_reset_email,
    verification_email,
)
from api.errors import (
    AppError,
    EmailNotVerified,
    InvalidCredentials,
    InvalidToken,
    NotFound,
    RefreshTokenReused,
    SessionExpired,
    TokenExpired,
)
from api.ids import new_id
from api.mail import Mailer
from api.settings import Settings
from api.store.database import Stores
from api.store.email_tokens import EmailToken, Purpose
from api.store.sessions import Session
from api.store.users import EmailTaken, User

log = logging.getLogger(__name__)

VERIFY_EMAIL_TTL = timedelta(hours=24)
# How long a spent verification link still answers "already verified" (then: invalid).
USED_VERIFY_LINK_KEPT = timedelta(days=30)
# Work that depends on whether an email has an account starts this long after the answer,
# drawn uniformly: a request sent right after (to any endpoint) cannot be aligned with it.
AFTER_ANSWER_DELAY_SECONDS = (0.2, 2.0)
# The display name of an account whose address two sign-ups claimed, until its owner sets one.
CONTESTED_NAME = "New member"
RESET_PASSWORD_TTL = timedelta(hours=1)
ALREADY_VERIFIED = "This link was used already: your email address is verified. Sign in."


def utc_now() -> datetime:
    return datetime.now(UTC)


RevocationListener = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class ClientInfo:
    ip: str
    user_agent: str
    # The request's cookies: a device cookie among them exempts sign-in from others' failures.
    cookies: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SignedIn:
    user: User
    session: Session
    access: IssuedToken
    refresh: IssuedToken
    # Set after a sign-in with the password: this browser is now known to the account.
    device: DeviceCookie | None = None


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user and the live session the request's token is bound to."""

    user: User
    session_id: str


class AuthService:
    def __init__(
        self,
        settings: Settings,
        stores: Stores,
        passwords: Passwords,
        tokens: Tokens,
        mailer: Mailer,
        background: BackgroundTasks,
        clock: Callable[[], datetime] = utc_now,
        login_throttle: LoginThrottle | None = None,
    ) -> None:
        self._settings = settings
        self._stores = stores
        self._passwords = passwords
        self._tokens = tokens
        self._mailer = mailer
        self._background = background
        self._clock = clock
        self._login_throttle = login_throttle or LoginThrottle(enabled=settings.rate_limits)
        self._devices = DeviceCookies(settings.jwt_refresh_secret)
        self._revocation_listeners: list[RevocationListener] = []

    def on_sessions_revoked(self, listener: RevocationListener) -> None:
        """`listener(user_id)` runs after any of that user's sessions ends early."""
        self._revocation_listeners.append(listener)

    async def _sessions_revoked(self, user_id: str) -> None:
        for listener in self._revocation_listeners:
            await listener(user_id)

    # --- accounts -----------------------------------------------------------------------

    async def register(
        self, email: str, password: str, name: str, next_path: str | None = None
    ) -> None:
        """Start a sign-up. Returns after the same work for every email (hashing the password);
        whether the address is new, unverified or taken is only looked at after the answer, so
        neither the answer nor its timing tells which. The mailbox then gets exactly one of:
        - a new address: a verification link bound to this sign-up;
        - an unverified address: this sign-up's password and name replace the pending ones,
          earlier verification links stop working, and the link sent makes the mailbox owner
          choose the password (the address is contested: see `_contest`);
        - a verified address: a notice that it already has an account (nothing changes).
        `next_path` (an invite path, checked by the API model) rides in the verification link.
        """
        password_hash = await self._passwords.hash(password)
        self._after_answer(self._register(email, password_hash, name, next_path), "register")

    async def verify_email(self, token: str) -> None:
        """Activate the account only with the password and name of the sign-up that produced
        this link: once a later sign-up replaced them, the link is refused as invalid."""
        try:
            email_token = await self._consume(token, "verify_email")
        except InvalidToken:
            await self._verify_email_reused(token)
            raise
        registration = email_token.registration
        if registration is None or not await self._stores.users.verify_registration(
            email_token.user_id, registration
        ):
            raise InvalidToken()
        # The token is spent; its hash stays, under a purpose that verifies nothing, so that
        # opening the link again (another tab, another device) can say the address is verified.
        used = replace(
            email_token,
            purpose="verify_email_used",
            registration=None,
            expires_at=self._clock() + USED_VERIFY_LINK_KEPT,
        )
        await self._stores.email_tokens.replace_for_user(used, created_at=self._clock())

    async def _verify_email_reused(self, token: str) -> None:
        """A verification link that worked once, opened again: tell its holder (and only
        them: nobody else has the token) that the address is verified, to sign in. Any other
        invalid token stays plain `InvalidToken`, so this says nothing about other addresses."""
        used = await self._stores.email_tokens.find(hash_secret(token), "verify_email_used")
        if used is None:
            return
        user = await self._stores.users.by_id(used.user_id)
        if user is not None and user.email_verified:
            raise InvalidToken(ALREADY_VERIFIED, details={"emailVerified": True})

    def resend_verification(self, email: str, next_path: str | None = None) -> None:
        """Answers at once, alike for every email; an unverified account then gets a new link
        (voiding the previous one): a verification link while one sign-up claims the address,
        a choose-your-password link once it is contested."""
        self._after_answer(self._resend_verification(email, next_path), "resend-verification")

    def forgot_password(self, email: str) -> None:
        """Answers at once, alike for every email; an account then gets a reset link."""
        self._after_answer(self._forgot_password(email), "forgot-password")

    async def reset_password(self, token: str, password: str, name: str | None = None) -> None:
        """Set the password (and, if given, the display name: the step at which the owner of a
        contested address finishes creating the account) with an emailed link."""
        email_token = await self._consume(token, "reset_password")
        password_hash = await self._passwords.hash(password)
        await self._stores.users.set_password_hash(email_token.user_id, password_hash)
        if name is not None:
            await self._stores.users.update_profile(
                email_token.user_id, name=name, username=None, bio=None
            )
        # Opening the link proved the mailbox, so the address counts as verified too.
        await self._stores.users.mark_email_verified(email_token.user_id)
        await self._stores.sessions.delete_all_of_user(email_token.user_id)
        await self._sessions_revoked(email_token.user_id)
        user = await self._stores.users.by_id(email_token.user_id)
        if user is not None:
            # The owner proved the mailbox: whatever sign-in waits they were under are lifted.
            self._login_throttle.forget(user.email)

    # --- accounts, after the answer -------------------------------------------------------

    async def _register(
        self, email: str, password_hash: str, name: str, next_path: str | None
    ) -> None:
        registration = new_id("reg")
        user = User(
            id=new_id("usr"),
            email=email,
            email_verified=False,
            password_hash=password_hash,
            name=name,
            created_at=self._clock(),
            registration=registration,
        )
        try:
            await self._stores.users.insert(user)
        except EmailTaken:
            await self._register_taken(email, password_hash, name, registration)
            return
        await self._send_verification(user, next_path)

    async def _register_taken(
        self, email: str, password_hash: str, name: str, registration: str
    ) -> None:
        # Whose name is it? The sign-ups disagree and either may be a stranger's: the account
        # takes a neutral name until the mailbox owner chooses one (on the choose-your-password
        # page or later in the profile).
        pending = await self._stores.users.replace_pending(
            email, password_hash, CONTESTED_NAME, registration
        )
        if pending is not None:
            await self._contest(pending)
            return
        existing = await self._stores.users.by_email(email)
        if existing is not None:
            await self._send(
                already_registered_email(self._sender, email, existing.name, self._origin)
            )

    async def _contest(self, user: User) -> None:
        """Two sign-ups claimed an unverified address (an attacker may have registered it
        first, to keep a password the owner would later activate by verifying, or after, to
        have the owner click a link for the attacker's password). No verification link may
        activate a stored password any more: the earlier ones are voided (and bound to the
        replaced registration besides), and the mailbox gets a link on which its owner chooses
        the password; opening it also verifies the address."""
        await self._stores.email_tokens.void(user.id, "verify_email")
        token = await self._new_email_token(user.id, "reset_password", VERIFY_EMAIL_TTL)
        await self._send(finish_sign_up_email(self._sender, user.email, self._origin, token))

    async def _resend_verification(self, email: str, next_path: str | None) -> None:
        user = await self._stores.users.by_email(email)
        if user is None or user.email_verified:
            await self._decoy_mail_work(email)
            return
        if user.contested:
            await self._contest(user)
        else:
            await self._send_verification(user, next_path)

    async def _forgot_password(self, email: str) -> None:
        user = await self._stores.users.by_email(email)
        if user is None:
            await self._decoy_mail_work(email)
            return
        token = await self._new_email_token(user.id, "reset_password", RESET_PASSWORD_TTL)
        name = user.name if user.email_verified else None
        await self._send(password_reset_email(self._sender, user.email, name, self._origin, token))

    # --- sessions -----------------------------------------------------------------------

    async def login(self, email: str, password: str, client: ClientInfo) -> SignedIn:
        """Sign in. A wrong password costs the same work whether or not the email has an account
        (one lookup, one argon2 verification, the same throttle bookkeeping, keyed by the email
        either way); failures are throttled per client, and a browser that signed in to the
        account before (its device cookie) is never held back by other clients' failures, so
        guessing cannot lock the owner out (see `LoginThrottle`).

        A password that is not the account's current one answers 401 whether or not the
        address is verified; only the current password of an unverified account answers 403
        `email_not_verified` (its owner needs to know), and earns no device cookie."""
        device = self._devices.device_of(email, client.cookies)
        attempt = self._login_throttle.attempt(email, client.ip, device)
        user = await self._stores.users.by_email(email)
        if not await self._passwords.verify(user.password_hash if user else None, password):
            raise InvalidCredentials()
        assert user is not None
        self._login_throttle.succeeded(attempt)
        if not user.email_verified:
            raise EmailNotVerified()
        if self._passwords.needs_rehash(user.password_hash):
            await self._stores.users.set_password_hash(
                user.id, await self._passwords.hash(password)
            )
        now = self._clock()
        session_id = new_id("ses")
        refresh, refresh_hash = self._tokens.issue_refresh(session_id, now)
        session = Session(
            id=session_id,
            user_id=user.id,
            refresh_hash=refresh_hash,
            created_at=now,
            last_used_at=now,
            expires_at=refresh.expires_at,
            user_agent=client.user_agent[:300],
            ip=client.ip,
        )
        await self._stores.sessions.insert(session)
        access = self._access_for(session, now)
        return SignedIn(user, session, access, refresh, device=self._devices.issue(email))

    async def refresh(self, refresh_token: str) -> SignedIn:
        claims = self._tokens.read_refresh(refresh_token)
        now = self._clock()
        session = await self._stores.sessions.live(claims.session_id, now)
        if session is None:
            raise SessionExpired()
        if session.refresh_hash != claims.jti_hash:
            await self._revoke_for_reuse(session)
        refresh, refresh_hash = self._tokens.issue_refresh(session.id, now)
        rotated = session.rotated(refresh_hash, now, refresh.expires_at)
        if not await self._stores.sessions.replace_if_hash(session.refresh_hash, rotated):
            await self._revoke_for_reuse(session)
        user = await self._stores.users.by_id(session.user_id)
        if user is None:
            raise SessionExpired()
        return SignedIn(user, rotated, self._access_for(rotated, now), refresh)

    async def authenticate(self, access_token: str) -> Principal:
        claims = self._tokens.read_access(access_token)
        session = await self._stores.sessions.live(claims.session_id, self._clock())
        if session is None or session.user_id != claims.user_id:
            raise SessionExpired()
        user = await self._stores.users.by_id(claims.user_id)
        if user is None:
            raise SessionExpired()
        return Principal(user=user, session_id=session.id)

    async def logout(self, access_token: str | None, refresh_token: str | None) -> None:
        """End the session either token names (the refresh cookie, once the access token has
        expired)."""
        session = await self._session_named_by(access_token, refresh_token)
        if session is not None:
            await self._stores.sessions.delete(session.id, session.user_id)
            await self._sessions_revoked(session.user_id)

    async def _session_named_by(
        self, access_token: str | None, refresh_token: str | None
    ) -> Session | None:
        now = self._clock()
        if access_token is not None:
            try:
                access = self._tokens.read_access(access_token)
            except AppError:
                access = None
            if access is not None:
                session = await self._stores.sessions.live(access.session_id, now)
                if session is not None and session.user_id == access.user_id:
                    return session
        if refresh_token is not None:
            try:
                claims = self._tokens.read_refresh(refresh_token)
            except AppError:
                return None
            session = await self._stores.sessions.live(claims.session_id, now)
            if session is not None and session.refresh_hash == claims.jti_hash:
                return session
        return None

    async def sessions_of(self, user_id: str) -> list[Session]:
        return await self._stores.sessions.of_user(user_id, self._clock())

    async def revoke_session(self, user_id: str, session_id: str) -> None:
        if not await self._stores.sessions.delete(session_id, user_id):
            raise NotFound("No such session.")
        await self._sessions_revoked(user_id)

    async def revoke_other_sessions(self, user_id: str, keep_session_id: str) -> int:
        count = await self._stores.sessions.delete_all_of_user(user_id, keep=keep_session_id)
        await self._sessions_revoked(user_id)
        return count

    async def session_is_live(self, session_id: str) -> bool:
        return await self._stores.sessions.live(session_id, self._clock()) is not None

    # --- helpers ------------------------------------------------------------------------

    @property
    def _sender(self) -> str:
        return self._settings.mail_from

    @property
    def _origin(self) -> str:
        return self._settings.app_origin

    def _access_for(self, session: Session, now: datetime) -> IssuedToken:
        return self._tokens.issue_access(AccessClaims(session.user_id, session.id), now)

    async def _revoke_for_reuse(self, session: Session) -> NoReturn:
        await self._stores.sessions.delete(session.id, session.user_id)
        await self._sessions_revoked(session.user_id)
        log.warning("refresh token reuse: revoked session %s of %s", session.id, session.user_id)
        raise RefreshTokenReused()

    async def _send_verification(self, user: User, next_path: str | None = None) -> None:
        """Email a verification link bound to the account's current registration, carrying
        `next_path` (where the app goes after signing in) if the sign-up gave one."""
        registration = user.registration or await self._stores.users.ensure_registration(
            user.id, new_id("reg")
        )
        if registration is None:
            return  # the account is gone
        token = await self._new_email_token(
            user.id, "verify_email", VERIFY_EMAIL_TTL, registration=registration
        )
        await self._send(
            verification_email(self._sender, user.email, self._origin, token, next_path)
        )

    async def _new_email_token(
        self, user_id: str, purpose: Purpose, ttl: timedelta, registration: str | None = None
    ) -> str:
        raw = new_secret()
        now = self._clock()
        record = EmailToken(hash_secret(raw), user_id, purpose, now + ttl, registration)
        await self._stores.email_tokens.replace_for_user(record, created_at=now)
        return raw

    async def _consume(self, raw: str, purpose: Purpose) -> EmailToken:
        record = await self._stores.email_tokens.consume(hash_secret(raw), purpose)
        if record is None:
            raise InvalidToken()
        if record.expires_at <= self._clock():
            raise TokenExpired()
        return record

    async def _decoy_mail_work(self, email: str) -> None:
        """For an address that gets no mail: the database round trips and the rendering that
        a real one's link costs (a token stored for nobody and voided), so what runs after the
        answer does not depend on whether the address has an account, as far as it can."""
        nobody = new_id("usr")
        await self._new_email_token(nobody, "reset_password", RESET_PASSWORD_TTL)
        await self._stores.email_tokens.void(nobody, "reset_password")
        password_reset_email(self._sender, email, None, self._origin, new_secret())

    async def _send(self, email: Email) -> None:
        await self._mailer.send(email.message, email.link)

    def _after_answer(self, work: Coroutine[Any, Any, None], name: str) -> None:
        # Whatever depends on whether an email has an account (lookups, token writes, mail)
        # runs after the answer: the caller's wait is the same for every address. It starts
        # at a random moment later, so that it slows no request the caller could send right
        # after to measure it (issue #9's review: GET /healthz 4 ms after forgot-password).
        self._background.spawn(_after(random.uniform(*AFTER_ANSWER_DELAY_SECONDS), work), name)


async def _after(delay: float, work: Coroutine[Any, Any, None]) -> None:
    try:
        await asyncio.sleep(delay)
    except asyncio.CancelledError:
        work.close()  # shut down before it started: never run, and no "never awaited" warning
        raise
    await work
