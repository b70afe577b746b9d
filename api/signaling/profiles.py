"""The `user` object of every participant the signaling server sends (`room-state`,
`participant-joined`, `add-peer`): the public profile, plus the two fields clients written for
the original Gethory read instead (its real React client keys people by `_id` and shows
`avatar`). Aliases only: never the email or anything else `PublicProfile` leaves out.
"""

from __future__ import annotations

from typing import Any

from api.users.models import PublicProfile


def participant_user(profile: PublicProfile) -> dict[str, Any]:
    """`{id, name, username, bio, avatarUrl, _id, avatar}` with `_id == id` and
    `avatar == avatarUrl`."""
    wire: dict[str, Any] = profile.model_dump(mode="json", by_alias=True)
    wire["_id"] = wire["id"]
    wire["avatar"] = wire["avatarUrl"]
    return wire
