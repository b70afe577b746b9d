"""Bodies of the user endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, computed_field

from api.models import ApiModel, RequestModel
from api.store.users import User
from api.text import DisplayText
from api.users.avatar_versions import avatar_version

Username = Annotated[str, Field(min_length=3, max_length=30, pattern=r"^[A-Za-z0-9_.]+$")]
# Lengths in Unicode code points, after NFC and trimming (see api.text); the web client's
# forms count the same way.
NAME_MAX_LENGTH = 80
BIO_MAX_LENGTH = 300
DisplayName = Annotated[str, DisplayText(max_length=NAME_MAX_LENGTH)]
Bio = Annotated[str, DisplayText(max_length=BIO_MAX_LENGTH, allow_empty=True, multiline=True)]


class PublicProfile(ApiModel):
    """What anyone signed in may see of a user: never the email or anything secret."""

    id: str
    name: str
    username: str | None
    bio: str
    avatar_url: str

    # Clients written for the original Gethory key people by `_id` and show `avatar`; the
    # same aliases go out on Socket.IO (api.signaling.profiles), so such a client finds its
    # own tile among the people a room sends it.
    @computed_field(alias="_id")  # type: ignore[prop-decorator]
    @property
    def original_id(self) -> str:
        return self.id

    @computed_field(alias="avatar")  # type: ignore[prop-decorator]
    @property
    def original_avatar(self) -> str:
        return self.avatar_url

    @classmethod
    def of(cls, user: User) -> PublicProfile:
        return cls(**_public_fields(user))


class MeResponse(PublicProfile):
    """The signed-in user's own account: the only answer that carries an email."""

    email: str
    email_verified: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> MeResponse:
        return cls(
            **_public_fields(user),
            email=user.email,
            email_verified=user.email_verified,
            created_at=user.created_at,
        )


def _public_fields(user: User) -> dict[str, str | None]:
    return {
        "id": user.id,
        "name": user.name,
        "username": user.username,
        "bio": user.bio,
        "avatar_url": avatar_url(user),
    }


class UpdateProfileRequest(RequestModel):
    name: DisplayName | None = None
    username: Username | None = None
    bio: Bio | None = None


def avatar_url(user: User) -> str:
    # The version in the URL changes with the picture, so browsers may cache each URL forever.
    return f"/api/users/{user.id}/avatar?v={avatar_version(user)}"
