"""Payloads of the client→server Socket.IO events (field names are the documented contract).

What is relayed to another client is always re-serialized from these models, so nothing a
client adds beyond the contract ever reaches anyone else.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

RoomId = Annotated[str, Field(min_length=1, max_length=40)]
PeerId = Annotated[str, Field(min_length=1, max_length=64)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class JoinPayload(Payload):
    roomId: RoomId
    # The seed's clients send their own profile; the server ignores it and uses the session's.
    user: Any = None


class RoomPayload(Payload):
    roomId: RoomId


class MutePayload(Payload):
    roomId: RoomId
    userId: Annotated[str, Field(max_length=40)] | None = None


class MuteInfoPayload(Payload):
    """`mute-info {userId, roomId, isMute}`, which clients written for the original Gethory
    send when their own state changes (and when a peer's track arrives). Strict: "false" or 0
    must not pass for a boolean someone's microphone state depends on."""

    roomId: RoomId
    userId: Annotated[str, Field(max_length=40)] | None = None
    isMute: StrictBool


class MuteParticipantPayload(Payload):
    roomId: RoomId
    userId: Annotated[str, Field(min_length=1, max_length=40)]


class IceCandidate(Payload):
    candidate: Annotated[str, Field(max_length=2048)]
    sdpMid: Annotated[str, Field(max_length=64)] | None = None
    sdpMLineIndex: Annotated[int, Field(ge=0, le=1024)] | None = None
    usernameFragment: Annotated[str, Field(max_length=256)] | None = None


class SessionDescription(Payload):
    type: Literal["offer", "answer", "pranswer", "rollback"]
    sdp: Annotated[str, Field(max_length=64 * 1024)] = ""


class RelayIcePayload(Payload):
    peerId: PeerId
    icecandidate: IceCandidate | None  # None: end of candidates


class RelaySdpPayload(Payload):
    peerId: PeerId
    sessionDescription: SessionDescription


class SfuJoinPayload(Payload):
    roomId: RoomId
    sdp: Annotated[str, Field(min_length=1, max_length=64 * 1024)]
    type: Literal["offer"] = "offer"


class TargetPayload(Payload):
    """A host's action on one participant: `invite-to-speak`, `remove-participant`."""

    roomId: RoomId
    userId: Annotated[str, Field(min_length=1, max_length=40)]


class SetRolePayload(Payload):
    roomId: RoomId
    userId: Annotated[str, Field(min_length=1, max_length=40)]
    role: Literal["host", "speaker", "listener"]
