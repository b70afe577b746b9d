"""`create-bots`: one run of bot-account creation on the server's database."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from api.admin.bots import BotAccount, BotAccounts
from api.admin.database import server_database
from api.auth.passwords import Passwords
from api.settings import Settings

# 32 URL-safe characters (192 random bits): within the API's 10..128 password lengths
# (api.auth.passwords) and free of characters a shell or a JSON reader would trip over.
PASSWORD_BYTES = 24


@dataclass(frozen=True)
class CreatedBots:
    prefix: str
    count: int
    password: str
    accounts: list[BotAccount]
    where: str  # the database, for the operator (no password in it)

    @property
    def created(self) -> int:
        return sum(account.created for account in self.accounts)

    def document(self) -> dict[str, Any]:
        """The credentials file (docs: benchmarks/README.md; bench_spec "Accounts"):
        `{"prefix", "count", "password", "accounts": [{"email", "name", "userId"}]}`."""
        return {
            "prefix": self.prefix,
            "count": self.count,
            "password": self.password,
            "accounts": [
                {"email": a.email, "name": a.name, "userId": a.user_id} for a in self.accounts
            ],
        }


async def create_bots(settings: Settings, prefix: str, count: int) -> CreatedBots:
    """Create or refresh `count` verified bots `prefix`-00000@bots.gethory.example, … on the
    database the server with `settings` uses (see `api.admin.database.server_database`), all
    with one new random password, hashed once with the server's argon2id hasher.

    Raises `AdminError` if the database cannot be opened, `PyMongoError` if it fails midway
    (the bots written so far then hold the new password; running again finishes the job).
    """
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    password_hash = await Passwords().hash(password)
    async with server_database(settings) as database:
        bots = BotAccounts(database.stores.users, database.stores.sessions)
        accounts = await bots.ensure(prefix, count, password_hash)
        return CreatedBots(prefix, count, password, accounts, database.where)
