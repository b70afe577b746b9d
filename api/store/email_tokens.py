"""The `email_tokens` collection: hashed single-use tokens for verification and password reset.

The document id is the token's SHA-256, so the raw token never reaches the database and a
lookup is one indexed read. Consuming deletes, which makes a token single use even under races.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pymongo.asynchronous.collection import AsyncCollection

Document = dict[str, Any]
# "verify_email_used": what is kept of a verification token once it worked (see `find`).
Purpose = Literal["verify_email", "reset_password", "verify_email_used"]
EXPIRED_KEPT_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class EmailToken:
    token_hash: str
    user_id: str
    purpose: Purpose
    expires_at: datetime
    # For a verification link: the sign-up it was issued for (see `User.registration`).
    registration: str | None = None


class EmailTokenStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._tokens = collection

    async def create_indexes(self) -> None:
        await self._tokens.create_index([("user_id", 1), ("purpose", 1)])
        # Kept a while past expiry, so a late click hears "expired" rather than "invalid".
        await self._tokens.create_index("expires_at", expireAfterSeconds=EXPIRED_KEPT_SECONDS)

    async def replace_for_user(self, token: EmailToken, created_at: datetime) -> None:
        """Store `token`, voiding any earlier token of the same purpose for the user."""
        await self.void(token.user_id, token.purpose)
        doc: Document = {
            "_id": token.token_hash,
            "user_id": token.user_id,
            "purpose": token.purpose,
            "expires_at": token.expires_at,
            "created_at": created_at,
        }
        if token.registration is not None:
            doc["registration"] = token.registration
        await self._tokens.insert_one(doc)

    async def void(self, user_id: str, purpose: Purpose) -> None:
        """Every token of `purpose` the user holds stops working."""
        await self._tokens.delete_many({"user_id": user_id, "purpose": purpose})

    async def find(self, token_hash: str, purpose: Purpose) -> EmailToken | None:
        """Read without consuming: only for records that grant nothing, like the trace of a
        verification token that was used, which lets its holder hear "already verified"."""
        doc = await self._tokens.find_one({"_id": token_hash, "purpose": purpose})
        return None if doc is None else _token_of(doc)

    async def consume(self, token_hash: str, purpose: Purpose) -> EmailToken | None:
        doc = await self._tokens.find_one_and_delete({"_id": token_hash, "purpose": purpose})
        return None if doc is None else _token_of(doc)


def _token_of(doc: Document) -> EmailToken:
    return EmailToken(
        token_hash=doc["_id"],
        user_id=doc["user_id"],
        purpose=doc["purpose"],
        expires_at=doc["expires_at"],
        registration=doc.get("registration"),
    )
