"""Turning rooms into responses: owner and participant profiles fetched in one query."""

from __future__ import annotations

from api.rooms.models import RoomResponse
from api.rooms.presence import RoomPresence
from api.rooms.service import RoomView
from api.store.users import UserStore
from api.users.models import PublicProfile

PARTICIPANTS_SHOWN = 5


class RoomPresenter:
    def __init__(self, users: UserStore, presence: RoomPresence) -> None:
        self._users = users
        self._presence = presence

    async def present(self, views: list[RoomView]) -> list[RoomResponse]:
        shown = {
            view.room.id: self._presence.first(view.room.id, PARTICIPANTS_SHOWN) for view in views
        }
        wanted = [view.room.owner_id for view in views] + [u for ids in shown.values() for u in ids]
        users = await self._users.by_ids(wanted)
        responses = []
        for view in views:
            room = view.room
            owner = users.get(room.owner_id)
            if owner is None:
                continue  # an owner deleted mid-listing: nothing sensible to show
            responses.append(
                RoomResponse(
                    id=room.id,
                    topic=room.topic,
                    visibility=room.visibility,
                    media=room.media,
                    slots=room.slots,
                    max_participants=room.max_participants,
                    stage=room.stage,
                    owner=PublicProfile.of(owner),
                    created_at=room.created_at,
                    participant_count=self._presence.count(room.id),
                    participants=[PublicProfile.of(users[u]) for u in shown[room.id] if u in users],
                    role=view.role,
                )
            )
        return responses

    async def present_one(self, view: RoomView) -> RoomResponse:
        (response,) = await self.present([view])
        return response
