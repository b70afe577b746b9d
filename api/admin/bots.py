"""Bot accounts for load tests: verified accounts `P-00000@bots.gethory.example`, … written
through the user and session stores, created when missing and refreshed when present."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from api.auth.service import utc_now
from api.ids import new_id
from api.store.sessions import SessionStore
from api.store.users import EmailTaken, User, UserStore

# `.example` is reserved for examples by RFC 2606 §2 and never resolves, so no mail to a bot
# can reach anyone. (RFC 6761's `.test` would say "bot" as well, but email-validator, and with
# it the API's `EmailStr`, refuses the special-use names arpa, invalid, local, localhost, onion
# and test: a bot on `.test` could not sign in through POST /api/auth/login.)
BOT_DOMAIN = "bots.gethory.example"
PREFIX_PATTERN = re.compile(r"[a-z0-9-]{1,20}")
MAX_BOTS = 10_000  # five-digit numbers: P-00000 … P-09999
# Store calls in flight at once: the round trips overlap (the embedded database answers a
# lookup in ~0.15 ms with 8 in flight against ~0.4 ms one at a time on this machine).
CONCURRENT_WRITES = 8


def bot_local_part(prefix: str, index: int) -> str:
    """`bench-00042`: the email's local part, also the bot's display name."""
    return f"{prefix}-{index:05d}"


def bot_email(prefix: str, index: int) -> str:
    """`bench-00042@bots.gethory.example`, already in the normalized (lowercase) form the API
    stores and looks up (api.auth.models.normalize_email)."""
    return f"{bot_local_part(prefix, index)}@{BOT_DOMAIN}"


@dataclass(frozen=True)
class BotAccount:
    email: str
    name: str
    user_id: str
    created: bool  # False: the account existed and was refreshed


class BotAccounts:
    """Creates or refreshes bot accounts through `UserStore` and `SessionStore`.

    Every bot of a run gets the same password hash: the accounts share one password anyway
    (they are the load tester's, handed out in one credentials file), and argon2id costs tens
    of milliseconds per hash, so 10,000 of them would take minutes.
    """

    def __init__(
        self,
        users: UserStore,
        sessions: SessionStore,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._clock = clock

    async def ensure(self, prefix: str, count: int, password_hash: str) -> list[BotAccount]:
        """Bots `prefix`-00000 … `prefix`-(count-1), in that order, each verified, named after
        its local part and holding `password_hash`.

        A bot that exists is refreshed: the new hash, verified, its name, and its sessions
        ended (as a password reset ends them), so a previous run's password and tokens stop
        working. Never a duplicate: accounts are found by email, and an insert that loses a
        race with another run (the unique email index refuses it) refreshes the winner's
        account instead. Two runs at once on one prefix leave each bot with one of the two
        passwords: run one at a time.

        Raises what the stores raise (`PyMongoError`) if the database fails midway; the bots
        written until then hold `password_hash`.
        """
        if PREFIX_PATTERN.fullmatch(prefix) is None:
            raise ValueError(f"prefix {prefix!r} is not [a-z0-9-]{{1,20}}")
        if not 1 <= count <= MAX_BOTS:
            raise ValueError(f"count must be 1 to {MAX_BOTS}, not {count}")
        accounts: list[BotAccount | None] = [None] * count
        indexes = iter(range(count))

        failures: list[Exception] = []

        async def work() -> None:
            for index in indexes:  # shared: each index is taken by exactly one worker
                if failures:
                    return
                try:
                    accounts[index] = await self._ensure_one(prefix, index, password_hash)
                except Exception as failure:
                    failures.append(failure)
                    return

        # Not a TaskGroup: it would cancel the other writers mid-operation, and cancelling
        # tasks that wait for one of pymongo's pooled connections can hang the pool
        # (pymongo 4.20.1, about 1 run in 40 of tests/test_admin_bots.py's lost database:
        # the cancelled `Condition.wait` tasks wait for the pool's lock forever, and
        # `client.close()` never returns). The other writers instead stop taking bots and
        # fail on their own, within pymongo's timeouts.
        await asyncio.gather(*(work() for _ in range(min(CONCURRENT_WRITES, count))))
        if failures:
            # The first writer's error as itself (a PyMongoError when the database went
            # away), so callers catch what the store raised.
            raise failures[0]
        return [account for account in accounts if account is not None]

    async def _ensure_one(self, prefix: str, index: int, password_hash: str) -> BotAccount:
        email = bot_email(prefix, index)
        name = bot_local_part(prefix, index)
        # Twice at most: missing, then the insert is refused because another run inserted it
        # meanwhile, then found. Missing again would mean it was deleted in between.
        for _ in range(2):
            existing = await self._users.by_email(email)
            if existing is not None:
                await self._refresh(existing, name, password_hash)
                return BotAccount(email, name, existing.id, created=False)
            user = User(
                id=new_id("usr"),
                email=email,
                email_verified=True,
                password_hash=password_hash,
                name=name,
                created_at=self._clock(),
            )
            try:
                await self._users.insert(user)
            except EmailTaken:
                continue
            return BotAccount(email, name, user.id, created=True)
        raise RuntimeError(f"{email} was created by someone else and deleted again meanwhile")

    async def _refresh(self, user: User, name: str, password_hash: str) -> None:
        await self._users.set_password_hash(user.id, password_hash)
        await self._users.mark_email_verified(user.id)
        if user.name != name:
            await self._users.update_profile(user.id, name=name, username=None, bio=None)
        await self._sessions.delete_all_of_user(user.id)
