"""The version (ETag) of a user's avatar, uploaded or generated, known without rendering it."""

from __future__ import annotations

import hashlib

from api.store.users import User
from api.users.avatar_images import initials_of

DEFAULT_AVATAR_STYLE = "v1"  # bump when the generated picture's look changes


def avatar_version(user: User) -> str:
    if user.avatar_etag is not None:
        return user.avatar_etag
    return default_avatar_version(user)


def default_avatar_version(user: User) -> str:
    key = f"default:{DEFAULT_AVATAR_STYLE}:{user.id}:{initials_of(user.name)}"
    return "d" + hashlib.sha256(key.encode()).hexdigest()[:19]


def uploaded_avatar_version(data: bytes) -> str:
    return "u" + hashlib.sha256(data).hexdigest()[:19]
