"""Profile logic: editing, and the avatar (uploaded or generated)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from api.errors import NotFound, UsernameTaken
from api.ids import looks_like_id
from api.store.avatars import Avatar, AvatarStore
from api.store.users import User, UsernameInUse, UserStore
from api.users.avatar_images import default_avatar, normalize_avatar
from api.users.avatar_versions import default_avatar_version, uploaded_avatar_version

CONCURRENT_DECODES = 2


@dataclass(frozen=True)
class ProfileChanges:
    name: str | None
    username: str | None
    bio: str | None


class ProfileService:
    def __init__(self, users: UserStore, avatars: AvatarStore) -> None:
        self._users = users
        self._avatars = avatars
        # A worst-case upload costs about a second and 0.3 GB to decode: a few at a time only.
        self._decoding = asyncio.Semaphore(CONCURRENT_DECODES)

    async def user(self, user_id: str) -> User:
        user = await self._users.by_id(user_id) if looks_like_id(user_id, "usr") else None
        if user is None:
            raise NotFound("No such user.")
        return user

    async def update(self, user_id: str, changes: ProfileChanges) -> User:
        try:
            user = await self._users.update_profile(
                user_id, name=changes.name, username=changes.username, bio=changes.bio
            )
        except UsernameInUse:
            raise UsernameTaken() from None
        if user is None:
            raise NotFound("No such user.")
        return user

    async def set_avatar(self, user_id: str, upload: bytes) -> User:
        # Decoding and encoding take tens of milliseconds of CPU or more: not on the event loop.
        async with self._decoding:
            data = await asyncio.to_thread(normalize_avatar, upload)
        etag = uploaded_avatar_version(data)
        await self._avatars.put(user_id, Avatar(data, etag))
        await self._users.set_avatar_etag(user_id, etag)
        return await self.user(user_id)

    async def remove_avatar(self, user_id: str) -> None:
        await self._users.set_avatar_etag(user_id, None)
        await self._avatars.delete(user_id)

    async def avatar(self, user_id: str) -> Avatar:
        user = await self.user(user_id)
        if user.avatar_etag is not None:
            stored = await self._avatars.get(user.id)
            if stored is not None:
                return stored
        data = await asyncio.to_thread(default_avatar, user.id, user.name)
        return Avatar(data, default_avatar_version(user))

    async def avatar_version(self, user_id: str) -> str:
        """The current ETag without loading or rendering the picture."""
        user = await self.user(user_id)
        return user.avatar_etag or default_avatar_version(user)
