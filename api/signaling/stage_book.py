"""A stage room's book: who holds which role, whose hand is up, who is invited to speak.

Kept per room by `SignalingState` (which alone changes it) for as long as the room is open in
this process, apart from who is in the room right now: a role is the user's, so a reconnect, a
second tab or leaving and coming back keeps it. Hands and invites belong to a user's presence
and end when they leave the room. Plain data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

StageRole = Literal["host", "speaker", "listener"]
STAGE_ROLES: tuple[StageRole, ...] = ("host", "speaker", "listener")


@dataclass(frozen=True)
class SpeakInvite:
    """A host's invitation to a listener to come on stage. A new object per invite, so the
    expiry of an older one can tell it was replaced (`book.invites[user] is invite`)."""

    by: str
    # time.monotonic() seconds after which it can no longer be accepted.
    expires_at: float


@dataclass(frozen=True)
class RaisedHand:
    # Milliseconds since the epoch (shown to hosts); the book's dict keeps the order.
    raised_at_ms: int


@dataclass
class StageBook:
    # user id → a role given by a host (or taken by accepting an invite). Absent: the room's
    # default (the owner is always a host; stage rooms: listener; other rooms: speaker).
    roles: dict[str, StageRole] = field(default_factory=dict)
    # user id → their raised hand, in order of raising.
    hands: dict[str, RaisedHand] = field(default_factory=dict)
    invites: dict[str, SpeakInvite] = field(default_factory=dict)

    def forget_presence(self, user_id: str) -> tuple[bool, bool]:
        """The user left the room: their hand and invite end. Returns (had a hand raised,
        had an invite)."""
        hand = self.hands.pop(user_id, None) is not None
        invite = self.invites.pop(user_id, None) is not None
        return hand, invite
