"""The participant object every signaling message carries (docs/protocol.md)."""

from __future__ import annotations

from typing import Any

from api.signaling.state import Connection


def participant_object(connection: Connection) -> dict[str, Any]:
    """`{peerId, user, muted, role}`: `user` is the public profile (never the email)."""
    return {
        "peerId": connection.sid,
        "user": connection.profile,
        "muted": connection.muted,
        "role": connection.role,
    }
