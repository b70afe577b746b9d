"""Bodies of the room and invite endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import Field, StrictBool, model_validator

from api.models import ApiModel, RequestModel
from api.rooms.service import MESH_MAX_PARTICIPANTS, SFU_MAX_PARTICIPANTS
from api.text import DisplayText
from api.users.models import PublicProfile
from sfu.config import MAX_SLOTS

TOPIC_MAX_LENGTH = 120
Topic = Annotated[str, DisplayText(max_length=TOPIC_MAX_LENGTH)]
THIRTY_DAYS = 30 * 24 * 3600


class CreateRoomRequest(RequestModel):
    topic: Topic
    visibility: Literal["public", "private"]
    media: Literal["mesh", "sfu"]
    slots: Annotated[int, Field(ge=1, le=MAX_SLOTS)] | None = None
    max_participants: Annotated[int, Field(ge=2, le=SFU_MAX_PARTICIPANTS)] | None = None
    stage: StrictBool = Field(
        False, description="hosts and speakers talk, everyone else listens (sfu rooms only)"
    )

    @model_validator(mode="after")
    def mesh_stays_small(self) -> Self:
        if self.media == "mesh":
            if self.stage:
                raise ValueError("stage rooms are sfu rooms")
            if self.slots is not None:
                raise ValueError("slots apply to sfu rooms only")
            if (self.max_participants or 0) > MESH_MAX_PARTICIPANTS:
                raise ValueError(f"mesh rooms hold at most {MESH_MAX_PARTICIPANTS} participants")
        return self


class UpdateRoomRequest(RequestModel):
    topic: Topic


class ListRoomsQuery(RequestModel):
    cursor: Annotated[str, Field(max_length=200)] | None = None
    limit: Annotated[int, Field(ge=1, le=50)] = 20


class RoomResponse(ApiModel):
    id: str
    topic: str
    visibility: Literal["public", "private"]
    media: Literal["mesh", "sfu"]
    slots: int | None
    max_participants: int
    stage: bool
    owner: PublicProfile
    created_at: datetime
    participant_count: int
    participants: list[PublicProfile]
    role: Literal["owner", "member", "visitor"]


class ParticipantsQuery(RequestModel):
    role: Literal["host", "speaker", "listener"] | None = None
    cursor: Annotated[str, Field(pattern=r"^[0-9]{1,15}$", description="opaque")] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50


class ParticipantResponse(ApiModel):
    user: PublicProfile
    role: Literal["host", "speaker", "listener"]
    muted: bool


class ParticipantPageResponse(ApiModel):
    """One page of who is in the room now, in order of arrival. `count`: how many match the
    role now. Someone present throughout a paging appears exactly once; someone who left and
    came back may appear again, at the end."""

    participants: list[ParticipantResponse]
    count: int
    next_cursor: str | None


class RoomPageResponse(ApiModel):
    rooms: list[RoomResponse]
    next_cursor: str | None


class RoomListResponse(ApiModel):
    rooms: list[RoomResponse]


class CreateInviteRequest(RequestModel):
    expires_in: Annotated[int, Field(ge=60, le=THIRTY_DAYS, description="seconds")] | None = None
    max_uses: Annotated[int, Field(ge=1, le=10_000)] | None = None


class InviteResponse(ApiModel):
    id: str
    room_id: str
    created_at: datetime
    expires_at: datetime
    max_uses: int | None
    uses: int


class CreatedInviteResponse(InviteResponse):
    """Only at creation: the token is stored hashed, so the link cannot be shown again."""

    url: str
    token: str


class InviteListResponse(ApiModel):
    invites: list[InviteResponse]
