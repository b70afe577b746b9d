"""`/api/rooms/*` and `/api/invites/*`."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import timedelta

from aiohttp import web

from api.auth.service import Principal
from api.endpoints import Api
from api.errors import (
    BannedFromRoom,
    InviteExhausted,
    InviteExpired,
    NotFound,
    NotRoomOwner,
    RoomClosed,
    ValidationFailed,
)
from api.rooms.models import (
    CreatedInviteResponse,
    CreateInviteRequest,
    CreateRoomRequest,
    InviteListResponse,
    InviteResponse,
    ListRoomsQuery,
    ParticipantPageResponse,
    ParticipantResponse,
    ParticipantsQuery,
    RoomListResponse,
    RoomPageResponse,
    RoomResponse,
    UpdateRoomRequest,
)
from api.rooms.service import NewRoom, RoomView
from api.services import SERVICES
from api.store.invites import Invite
from api.users.models import PublicProfile

api = Api("rooms")

# A cursor is the lobby position of the last room seen: people, last activity (ms), sort key.
_POSITION = re.compile(r"^(\d{1,6})\.(\d{1,15})\.(\d{15}_rm_[A-Za-z0-9_-]{16})$")
Position = tuple[int, int, str]
ROOM_ERRORS = (NotFound, RoomClosed, BannedFromRoom)
OWNER_ERRORS = (NotFound, RoomClosed, NotRoomOwner)


def encode_cursor(position: Position) -> str:
    count, active_ms, sort_key = position
    text = f"{count}.{active_ms}.{sort_key}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    match = _POSITION.match(text)
    if match is None:
        raise ValidationFailed(
            details=[
                {
                    "field": "cursor",
                    "code": "invalid_cursor",
                    "message": "Not a cursor from this API.",
                }
            ]
        )
    return int(match[1]), int(match[2]), match[3]


def _invite_response(invite: Invite) -> InviteResponse:
    return InviteResponse(
        id=invite.id,
        room_id=invite.room_id,
        created_at=invite.created_at,
        expires_at=invite.expires_at,
        max_uses=invite.max_uses,
        uses=invite.uses,
    )


@api.route(
    "POST",
    "/api/rooms",
    summary="Create a room; the creator owns it",
    body=CreateRoomRequest,
    response=RoomResponse,
    status=201,
)
async def create_room(
    request: web.Request, principal: Principal, body: CreateRoomRequest
) -> RoomResponse:
    services = request.app[SERVICES]
    spec = NewRoom(
        body.topic, body.visibility, body.media, body.slots, body.max_participants, body.stage
    )
    room = await services.rooms.create(principal.user.id, spec)
    return await services.room_presenter.present_one(RoomView(room, "owner"))


@api.route(
    "GET",
    "/api/rooms",
    summary="Open public rooms in use: busiest first, then by last activity; idle ones left out",
    query=ListRoomsQuery,
    response=RoomPageResponse,
)
async def list_rooms(
    request: web.Request, principal: Principal, query: ListRoomsQuery
) -> RoomPageResponse:
    services = request.app[SERVICES]
    after = decode_cursor(query.cursor) if query.cursor else None
    listed = await services.rooms.public_listing()
    if after is not None:
        # The order is live: a room that moved up since the last page is not shown twice.
        listed = [entry for entry in listed if entry.position < after]
    page, more = listed[: query.limit], len(listed) > query.limit
    views = [
        RoomView(entry.room, "owner" if entry.room.owner_id == principal.user.id else "visitor")
        for entry in page
    ]
    return RoomPageResponse(
        rooms=await services.room_presenter.present(views),
        next_cursor=encode_cursor(page[-1].position) if more else None,
    )


@api.route(
    "GET",
    "/api/rooms/mine",
    summary="Open rooms I own or was invited to",
    response=RoomListResponse,
)
async def my_rooms(request: web.Request, principal: Principal) -> RoomListResponse:
    services = request.app[SERVICES]
    views = await services.rooms.mine(principal.user.id)
    return RoomListResponse(rooms=await services.room_presenter.present(views))


@api.route(
    "GET",
    "/api/rooms/{id}",
    summary="One room (private rooms: owner and members only)",
    response=RoomResponse,
    errors=ROOM_ERRORS,
)
async def get_room(request: web.Request, principal: Principal) -> RoomResponse:
    services = request.app[SERVICES]
    view = await services.rooms.view(principal.user.id, request.match_info["id"])
    return await services.room_presenter.present_one(view)


@api.route(
    "GET",
    "/api/rooms/{id}/participants",
    summary="Who is in the room now, by role, paged in order of arrival (a stage's audience)",
    query=ParticipantsQuery,
    response=ParticipantPageResponse,
    errors=ROOM_ERRORS,
)
async def room_participants(
    request: web.Request, principal: Principal, query: ParticipantsQuery
) -> ParticipantPageResponse:
    services = request.app[SERVICES]
    room = (await services.rooms.view(principal.user.id, request.match_info["id"])).room
    after = int(query.cursor) if query.cursor is not None else None
    page = services.presence.page(room.id, query.role, after, query.limit)
    users = await services.stores.users.by_ids([user_id for user_id, _ in page.entries])
    return ParticipantPageResponse(
        participants=[
            ParticipantResponse(
                user=PublicProfile.of(users[user_id]), role=entry.role, muted=entry.muted
            )
            for user_id, entry in page.entries
            if user_id in users  # an account deleted meanwhile
        ],
        count=page.count,
        next_cursor=None if page.next_after is None else str(page.next_after),
    )


@api.route(
    "PATCH",
    "/api/rooms/{id}",
    summary="Change the topic (owner)",
    body=UpdateRoomRequest,
    response=RoomResponse,
    errors=OWNER_ERRORS,
)
async def update_room(
    request: web.Request, principal: Principal, body: UpdateRoomRequest
) -> RoomResponse:
    services = request.app[SERVICES]
    room = await services.rooms.set_topic(principal.user.id, request.match_info["id"], body.topic)
    return await services.room_presenter.present_one(RoomView(room, "owner"))


@api.route(
    "DELETE", "/api/rooms/{id}", summary="Close the room (owner)", status=204, errors=OWNER_ERRORS
)
async def close_room(request: web.Request, principal: Principal) -> None:
    await request.app[SERVICES].rooms.close(principal.user.id, request.match_info["id"])


@api.route(
    "POST",
    "/api/rooms/{id}/invites",
    summary="Create an invite link (owner)",
    body=CreateInviteRequest,
    response=CreatedInviteResponse,
    status=201,
    errors=OWNER_ERRORS,
)
async def create_invite(
    request: web.Request, principal: Principal, body: CreateInviteRequest
) -> CreatedInviteResponse:
    services = request.app[SERVICES]
    lifetime = timedelta(seconds=body.expires_in) if body.expires_in else None
    invite, token = await services.rooms.create_invite(
        principal.user.id, request.match_info["id"], lifetime, body.max_uses
    )
    return CreatedInviteResponse(
        **_invite_response(invite).model_dump(),
        url=f"{services.settings.app_origin}/invite/{token}",
        token=token,
    )


@api.route(
    "GET",
    "/api/rooms/{id}/invites",
    summary="The room's live invites (owner)",
    response=InviteListResponse,
    errors=OWNER_ERRORS,
)
async def list_invites(request: web.Request, principal: Principal) -> InviteListResponse:
    invites = await request.app[SERVICES].rooms.invites(principal.user.id, request.match_info["id"])
    return InviteListResponse(invites=[_invite_response(invite) for invite in invites])


@api.route(
    "DELETE",
    "/api/rooms/{id}/invites/{inviteId}",
    summary="Revoke an invite (owner)",
    status=204,
    errors=OWNER_ERRORS,
)
async def revoke_invite(request: web.Request, principal: Principal) -> None:
    await request.app[SERVICES].rooms.revoke_invite(
        principal.user.id, request.match_info["id"], request.match_info["inviteId"]
    )


@api.route(
    "DELETE",
    "/api/rooms/{id}/members/{userId}",
    summary="Remove a member (owner), or leave the room's members (yourself)",
    status=204,
    errors=OWNER_ERRORS,
)
async def remove_member(request: web.Request, principal: Principal) -> None:
    room_id, member_id = request.match_info["id"], request.match_info["userId"]
    await request.app[SERVICES].rooms.remove_member(principal.user.id, room_id, member_id)


@api.route(
    "POST",
    "/api/invites/{token}/accept",
    summary="Accept an invite: become a member of its room",
    response=RoomResponse,
    errors=(NotFound, RoomClosed, InviteExpired, InviteExhausted),
)
async def accept_invite(request: web.Request, principal: Principal) -> RoomResponse:
    services = request.app[SERVICES]
    token = request.match_info["token"]
    if len(token) > 100:
        raise NotFound("No such invite.")
    view = await services.rooms.accept_invite(principal.user.id, token)
    return await services.room_presenter.present_one(view)
