"""Bodies of the user endpoints."""

from __future__ import annotations

from datetime import datetime

from api.models import ApiModel
from api.store.users import User


class MeResponse(ApiModel):
    """The signed-in user's own account: the only answer that carries an email."""

    id: str
    email: str
    email_verified: bool
    name: str
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> MeResponse:
        return cls(
            id=user.id,
            email=user.email,
            email_verified=user.email_verified,
            name=user.name,
            created_at=user.created_at,
        )
