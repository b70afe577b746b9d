"""A stage room's book: who holds which role, whose hand is up, who is invited to speak.

Kept per room by `SignalingState` (which alone changes it) for as long as the room is open in
this process, apart from who is in the room right now: a role is the user's, so a reconnect, a
second tab or leaving and coming back keeps it. A raised hand belongs to a user's presence and
goes down when they leave the room; an invitation to speak lasts until answered or expired
(a listener whose connection dropped finds it on coming back), or until its host is no longer
a host. Plain data, no I/O.
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
    # Users a host muted: the mute holds across a reconnect until a host lifts it.
    host_muted: set[str] = field(default_factory=set)

    def lower_hand(self, user_id: str) -> bool:
        """Whether the user's hand was up."""
        return self.hands.pop(user_id, None) is not None

    def forget(self, user_id: str) -> tuple[SpeakInvite | None, list[str]]:
        """The user was removed from the room: everything they held there ends (a host's
        mute stays: being let back in must not lift it). Returns their own invitation, if
        any, and whom the invitations they gave were for."""
        self.roles.pop(user_id, None)
        own = self.invites.pop(user_id, None)
        # The hand goes down with the departure, which tells the hosts.
        return own, self.drop_invites_by(user_id)

    def is_empty(self) -> bool:
        """Nothing that outlives the room's occupants (roles, hosts' mutes, invitations)."""
        return not (self.roles or self.host_muted or self.invites or self.hands)

    def drop_invites_by(self, host_id: str) -> list[str]:
        """A host lost the role: the invitations they gave lose their authority. Returns
        whom they were for."""
        invited = [u for u, invite in self.invites.items() if invite.by == host_id]
        for user_id in invited:
            del self.invites[user_id]
        return invited
