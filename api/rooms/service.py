"""Room logic: create, find, list, edit, close, invite, and membership."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from api.auth.tokens import hash_secret, new_secret
from api.errors import (
    BannedFromRoom,
    InviteExhausted,
    InviteExpired,
    NotFound,
    NotRoomOwner,
    RoomClosed,
)
from api.ids import looks_like_id, new_id
from api.rooms.access import Role, RoomAccess
from api.rooms.events import Removal, RoomEvents
from api.rooms.presence import RoomPresence
from api.store.database import Stores
from api.store.invites import Invite
from api.store.rooms import MediaMode, Room, Visibility
from sfu.config import DEFAULT_SLOTS

MESH_MAX_PARTICIPANTS = 8  # every browser sends to every other: beyond this, uplinks give out
SFU_DEFAULT_PARTICIPANTS = 1000
# What an owner may ask for (`maxParticipants`): a large audience, measured with gethory-bench's
# large-room scenario (benchmarks/RESULTS.md); one server process forwards to all of them.
SFU_MAX_PARTICIPANTS = 5000
DEFAULT_INVITE_LIFETIME = timedelta(days=7)
DEFAULT_IDLE_HIDE = timedelta(minutes=30)
# The public listing considers at most this many rooms created within the idle window.
MAX_RECENT_ROOMS = 1000
_RECENT_BATCH = 200


@dataclass(frozen=True)
class NewRoom:
    topic: str
    visibility: Visibility
    media: MediaMode
    slots: int | None
    max_participants: int | None
    stage: bool = False


@dataclass(frozen=True)
class RoomView:
    """A room as one user sees it."""

    room: Room
    role: Role


@dataclass(frozen=True)
class ListedRoom:
    """A public room in the lobby, with what orders it there."""

    room: Room
    count: int
    active_at: datetime

    @property
    def position(self) -> tuple[int, int, str]:
        """Descending order: more people first, then the most recently lived in, then newest."""
        return (self.count, int(self.active_at.timestamp() * 1000), self.room.sort_key)


class RoomService:
    def __init__(
        self,
        stores: Stores,
        access: RoomAccess,
        clock: Callable[[], datetime],
        events: RoomEvents | None = None,
        default_slots: int = DEFAULT_SLOTS,
        presence: RoomPresence | None = None,
        idle_hide: timedelta = DEFAULT_IDLE_HIDE,
    ) -> None:
        self._stores = stores
        self._access = access
        self._clock = clock
        self.events = events or RoomEvents()
        self._default_slots = default_slots
        self._presence = presence or RoomPresence(clock)
        self._idle_hide = idle_hide

    async def create(self, owner_id: str, spec: NewRoom) -> Room:
        sfu = spec.media == "sfu"
        room = Room(
            id=new_id("rm"),
            owner_id=owner_id,
            topic=spec.topic,
            visibility=spec.visibility,
            media=spec.media,
            slots=(spec.slots or self._default_slots) if sfu else None,
            max_participants=spec.max_participants
            or (SFU_DEFAULT_PARTICIPANTS if sfu else MESH_MAX_PARTICIPANTS),
            status="open",
            created_at=self._clock(),
            stage=spec.stage and sfu,
        )
        await self._stores.rooms.insert(room)
        return room

    async def view(self, user_id: str, room_id: str) -> RoomView:
        """The room if this user may enter it: the one entry check, for REST and signaling.

        404 when the user may not know of it (even if it exists), 410 once it is closed.
        """
        room = await self._stores.rooms.by_id(room_id) if looks_like_id(room_id, "rm") else None
        role = await self._access.role_of(user_id, room) if room is not None else None
        if room is None or role is None:
            raise NotFound("No such room.")
        if not room.is_open:
            raise RoomClosed()
        return RoomView(room, role)

    async def owned(self, user_id: str, room_id: str) -> Room:
        view = await self.view(user_id, room_id)
        if view.role != "owner":
            raise NotRoomOwner()
        return view.room

    async def public_listing(self) -> list[ListedRoom]:
        """Open public rooms in lobby order; a room empty for longer than `idle_hide` is left out.

        Rooms with people in them come first (more people first), then empty ones by their last
        activity (someone entering or leaving, or else its creation). An idle room stays open:
        its owner still finds it under "My rooms", and anyone with its link can enter it.
        """
        cutoff = self._clock() - self._idle_hide
        rooms = {room.id: room for room in await self._created_since(cutoff)}
        lived_in = [i for i in self._presence.active_since(cutoff) if i not in rooms]
        rooms |= {room.id: room for room in await self._stores.rooms.by_ids(lived_in)}
        listed = []
        for room in rooms.values():
            if room.visibility != "public" or not room.is_open:
                continue
            count = self._presence.count(room.id)
            active_at = max(room.created_at, self._presence.active_at(room.id) or room.created_at)
            if count > 0 or active_at >= cutoff:
                listed.append(ListedRoom(room, count, active_at))
        return sorted(listed, key=lambda entry: entry.position, reverse=True)

    async def _created_since(self, cutoff: datetime) -> list[Room]:
        found: list[Room] = []
        before: str | None = None
        while len(found) < MAX_RECENT_ROOMS:
            batch = await self._stores.rooms.public_page(before, _RECENT_BATCH)
            recent = [room for room in batch if room.created_at >= cutoff]
            found += recent
            if len(recent) < len(batch) or len(batch) < _RECENT_BATCH:
                break
            before = batch[-1].sort_key
        return found

    async def mine(self, user_id: str) -> list[RoomView]:
        owned = await self._stores.rooms.owned_by(user_id)
        member_of = await self._stores.rooms.by_ids(
            await self._stores.room_members.rooms_of(user_id)
        )
        views = [RoomView(room, "owner") for room in owned]
        views += [RoomView(room, "member") for room in member_of if room.is_open]
        return sorted(views, key=lambda view: view.room.sort_key, reverse=True)

    async def set_topic(self, user_id: str, room_id: str, topic: str) -> Room:
        room = await self.owned(user_id, room_id)
        await self._stores.rooms.set_topic(room.id, topic)
        changed = room.with_topic(topic)
        await self.events.room_changed(changed)
        return changed

    async def close(self, user_id: str, room_id: str) -> Room:
        room = await self.owned(user_id, room_id)
        await self._stores.rooms.close(room.id)
        await self.events.room_closed(room)
        return room

    async def create_invite(
        self, user_id: str, room_id: str, lifetime: timedelta | None, max_uses: int | None
    ) -> tuple[Invite, str]:
        room = await self.owned(user_id, room_id)
        token = new_secret()
        now = self._clock()
        invite = Invite(
            id=new_id("inv"),
            room_id=room.id,
            token_hash=hash_secret(token),
            created_by=user_id,
            created_at=now,
            expires_at=now + (lifetime or DEFAULT_INVITE_LIFETIME),
            max_uses=max_uses,
            uses=0,
        )
        await self._stores.invites.insert(invite)
        return invite, token

    async def invites(self, user_id: str, room_id: str) -> list[Invite]:
        room = await self.owned(user_id, room_id)
        now = self._clock()
        return [i for i in await self._stores.invites.of_room(room.id) if i.expires_at > now]

    async def revoke_invite(self, user_id: str, room_id: str, invite_id: str) -> None:
        room = await self.owned(user_id, room_id)
        if not await self._stores.invites.delete(room.id, invite_id):
            raise NotFound("No such invite.")

    async def accept_invite(self, user_id: str, token: str) -> RoomView:
        invite = await self._stores.invites.by_token_hash(hash_secret(token))
        room = await self._stores.rooms.by_id(invite.room_id) if invite else None
        if invite is None or room is None:
            raise NotFound("No such invite.")
        if not room.is_open:
            raise RoomClosed()
        role = await self._access.role_of(user_id, room)  # BannedFromRoom in public rooms
        if role in ("owner", "member"):
            return RoomView(room, role)  # already in: accepting again spends no use
        if await self._stores.room_members.standing(room.id, user_id) == "banned":
            raise BannedFromRoom()  # a host removed them from this private room
        if invite.expires_at <= self._clock():
            raise InviteExpired()
        if not await self._stores.invites.use_once(invite):
            raise InviteExhausted()
        await self._stores.room_members.add(room.id, user_id, self._clock())
        return RoomView(room, "member")

    async def remove_member(self, actor_id: str, room_id: str, member_id: str) -> None:
        """The owner removes anyone; a member may remove themself."""
        view = await self.view(actor_id, room_id)
        if view.role != "owner" and actor_id != member_id:
            raise NotRoomOwner()
        if not await self._stores.room_members.remove(view.room.id, member_id):
            raise NotFound("No such member.")
        by = actor_id if actor_id != member_id else None
        await self.events.member_removed(Removal(view.room.id, member_id, by=by))

    async def remove_participant(self, room: Room, user_id: str, by: str) -> Removal:
        """A host takes someone out of the room (signaling checked that `by` may): they are
        banned for the room's lifetime (a private room's membership goes with it, and no
        invite link lets them back in) until the owner lifts it. Not for the owner (the caller
        refuses that)."""
        await self._stores.room_members.ban(room.id, user_id, self._clock())
        removal = Removal(room.id, user_id, by=by, banned=True)
        await self.events.member_removed(removal)
        return removal
