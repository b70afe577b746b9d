"""The Socket.IO event handlers: authenticate, validate, change state, tell the right sockets.

Every client event is acknowledged with `{ok: true, ...}` or `{ok: false, error: {code,
message}}`; a bad payload or a refused action never raises inside the server and never
reaches another client. See docs/protocol.md for the contract.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import socketio
from aiohttp import web
from pydantic import BaseModel

from api.auth.cookies import access_token_of
from api.auth.rate_limiter import Limit
from api.errors import (
    AppError,
    NotAuthenticated,
    NotInRoom,
    NotRoomOwner,
    NotYourself,
    PeerNotInRoom,
    RoomFull,
    WrongMediaMode,
)
from api.request_body import validate
from api.services import Services
from api.signaling.payloads import (
    JoinPayload,
    MuteParticipantPayload,
    MutePayload,
    RelayIcePayload,
    RelaySdpPayload,
    RoomPayload,
    SfuJoinPayload,
)
from api.signaling.state import Connection, Departure, SignalingState
from api.store.rooms import Room
from api.users.models import PublicProfile
from sfu.errors import SfuError
from sfu.room import SpeakerUpdate

log = logging.getLogger(__name__)

PayloadT = TypeVar("PayloadT", bound=BaseModel)
Ack = dict[str, Any]
EVENTS_PER_CONNECTION = Limit(300, 10.0)  # room for a burst of trickled ICE to seven peers


class SignalingHub:
    """Owns the Socket.IO handlers; REST reaches it (to eject people) through `SIGNALING`."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio
        self._services: Services | None = None
        self._state: SignalingState | None = None

    # --- wiring ---------------------------------------------------------------------------

    def register(self) -> None:
        self._sio.on("connect", self.on_connect)
        self._sio.on("disconnect", self.on_disconnect)
        handlers: dict[str, tuple[type[BaseModel], Callable[[Connection, Any], Awaitable[Ack]]]] = {
            "join": (JoinPayload, self.join),
            "leave": (RoomPayload, self.leave),
            "relay-ice": (RelayIcePayload, self.relay_ice),
            "relay-sdp": (RelaySdpPayload, self.relay_sdp),
            "mute": (MutePayload, self.mute),
            "unmute": (MutePayload, self.unmute),
            "mute-participant": (MuteParticipantPayload, self.mute_participant),
            "sfu-join": (SfuJoinPayload, self.sfu_join),
            "sfu-leave": (RoomPayload, self.sfu_leave),
        }
        for event, (model, handler) in handlers.items():
            self._sio.on(event, self._guarded(model, handler))

    def bind(self, services: Services) -> None:
        self._services = services
        self._state = SignalingState(services.presence)
        services.auth.on_sessions_revoked(self.drop_revoked_connections)

    @property
    def services(self) -> Services:
        assert self._services is not None, "the hub is bound at start-up"
        return self._services

    @property
    def state(self) -> SignalingState:
        assert self._state is not None, "the hub is bound at start-up"
        return self._state

    def _guarded(
        self, model: type[PayloadT], handler: Callable[[Connection, PayloadT], Awaitable[Ack]]
    ) -> Callable[..., Awaitable[Ack]]:
        async def handle(sid: str, data: Any = None, *_: Any) -> Ack:
            try:
                connection = self.state.connection(sid)
                if connection is None:
                    raise NotAuthenticated()
                self.services.rate_limiter.hit("socket-event", sid, EVENTS_PER_CONNECTION)
                return {"ok": True, **await handler(connection, validate(model, data))}
            except AppError as error:
                return _error_ack(error.code, error.text, error.details)
            except SfuError as error:
                return _error_ack(error.code, str(error))
            except Exception:
                log.exception("signaling handler failed for %s", sid)
                return _error_ack("internal_error", "Something went wrong on our side.")

        return handle

    # --- connection -----------------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        request: web.Request = environ["aiohttp.request"]
        token = auth.get("token") if isinstance(auth, dict) else None
        token = token if isinstance(token, str) and token else access_token_of(request)
        try:
            if token is None:
                raise NotAuthenticated()
            principal = await self.services.auth.authenticate(token)
        except AppError as error:
            # Reaches the client as connect_error {message, data: {code}}.
            raise socketio.exceptions.ConnectionRefusedError(
                error.text, {"code": error.code}
            ) from None
        profile = PublicProfile.of(principal.user).model_dump(mode="json", by_alias=True)
        self.state.connect(sid, principal.user.id, principal.session_id, profile)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        departure = self.state.disconnect(sid)
        if departure is not None:
            await self._depart(departure)

    async def drop_revoked_connections(self, user_id: str) -> None:
        """Called when sessions of `user_id` end: close the sockets they were holding."""
        for connection in self.state.connections_of_user(user_id):
            if not await self.services.auth.session_is_live(connection.session_id):
                await self._sio.emit("session-ended", {}, to=connection.sid)
                await self._sio.disconnect(connection.sid)

    # --- rooms ----------------------------------------------------------------------------

    async def join(self, connection: Connection, payload: JoinPayload) -> Ack:
        # The same entry rule as GET /api/rooms/{id}: 404 unless allowed, 410 once closed.
        room = (await self.services.rooms.view(connection.user_id, payload.roomId)).room
        if connection.room is not None and connection.room.id == room.id:
            await self._send_room_state(connection, room)
            return {"peerId": connection.sid}
        others = [c for c in self.state.members(room.id) if c.user_id != connection.user_id]
        if len(others) >= room.max_participants:
            raise RoomFull()
        await self._replace_other_tabs(connection)
        departure = self.state.leave(connection.sid)
        if departure is not None:
            await self._depart(departure)
        existing = self.state.join(connection.sid, room)
        await self._send_room_state(connection, room)
        joined = {"peerId": connection.sid, "user": connection.profile, "muted": False}
        for member in existing:
            await self._sio.emit("participant-joined", joined, to=member.sid)
        if room.media == "mesh":
            for member in existing:
                await self._sio.emit(
                    "add-peer",
                    {"peerId": connection.sid, "createOffer": False, "user": connection.profile},
                    to=member.sid,
                )
                await self._sio.emit(
                    "add-peer",
                    {"peerId": member.sid, "createOffer": True, "user": member.profile},
                    to=connection.sid,
                )
        return {"peerId": connection.sid}

    async def leave(self, connection: Connection, payload: RoomPayload) -> Ack:
        if connection.room is None:
            return {}
        if connection.room.id != payload.roomId:
            raise NotInRoom()
        departure = self.state.leave(connection.sid)
        if departure is not None:
            await self._depart(departure)
        return {}

    async def eject_room(self, room_id: str) -> None:
        """The room was closed: everyone in it is told and taken out."""
        await self.services.sfu.close_room(room_id)
        for member in self.state.members(room_id):
            await self._sio.emit("room-closed", {"roomId": room_id}, to=member.sid)
            departure = self.state.leave(member.sid)
            if departure is not None and departure.room.media == "mesh":
                await self._announce_departure(departure)

    async def eject_user(self, room_id: str, user_id: str) -> None:
        """The user lost the right to be in the room (removed from its members)."""
        member = self.state.member_by_user(room_id, user_id)
        if member is None:
            return
        await self._sio.emit("removed-from-room", {"roomId": room_id}, to=member.sid)
        departure = self.state.leave(member.sid)
        if departure is not None:
            await self._depart(departure)

    # --- relays (mesh) ----------------------------------------------------------------------

    async def relay_ice(self, connection: Connection, payload: RelayIcePayload) -> Ack:
        target = self._mesh_peer(connection, payload.peerId)
        candidate = payload.icecandidate.model_dump() if payload.icecandidate else None
        await self._sio.emit(
            "ice-candidate", {"peerId": connection.sid, "icecandidate": candidate}, to=target.sid
        )
        return {}

    async def relay_sdp(self, connection: Connection, payload: RelaySdpPayload) -> Ack:
        target = self._mesh_peer(connection, payload.peerId)
        description = payload.sessionDescription.model_dump()
        await self._sio.emit(
            "session-description",
            {"peerId": connection.sid, "sessionDescription": description},
            to=target.sid,
        )
        return {}

    # --- sfu media ---------------------------------------------------------------------------

    async def sfu_join(self, connection: Connection, payload: SfuJoinPayload) -> Ack:
        room = self._current_room(connection, payload.roomId)
        if room.media != "sfu":
            raise WrongMediaMode("This room is peer to peer; use the mesh events.")
        sfu = self.services.sfu
        answer = await sfu.join(room.id, room.slots or 1, connection.user_id, payload.sdp)
        if connection.muted:
            sfu.set_muted(room.id, connection.user_id, True)
        return {"type": "answer", "sdp": answer, "slots": room.slots}

    async def sfu_leave(self, connection: Connection, payload: RoomPayload) -> Ack:
        room = self._current_room(connection, payload.roomId)
        await self.services.sfu.leave(room.id, connection.user_id)
        return {}

    def send_speakers(self, room_id: str, user_id: str, update: SpeakerUpdate) -> None:
        """From the SFU (≤ 5 a second per listener, only on change): whose voice is on each
        of this listener's slots, and who is speaking."""
        listener = self.state.member_by_user(room_id, user_id)
        if listener is None:
            return
        speakers = {
            "roomId": room_id,
            "slots": list(update.slots),
            "speaking": sorted(update.speaking),
        }
        self.services.background.spawn(
            self._sio.emit("speakers", speakers, to=listener.sid), name="emit-speakers"
        )

    def media_failed(self, room_id: str, user_id: str) -> None:
        """The SFU lost a participant's media connection (ICE consent expired)."""
        self.services.background.spawn(self._media_failed(room_id, user_id), name="media-failed")

    async def _media_failed(self, room_id: str, user_id: str) -> None:
        await self.services.sfu.leave(room_id, user_id)
        listener = self.state.member_by_user(room_id, user_id)
        if listener is not None:
            await self._sio.emit("sfu-failed", {"roomId": room_id}, to=listener.sid)

    # --- mute -----------------------------------------------------------------------------

    async def mute(self, connection: Connection, payload: MutePayload) -> Ack:
        return await self._set_own_mute(connection, payload, muted=True)

    async def unmute(self, connection: Connection, payload: MutePayload) -> Ack:
        return await self._set_own_mute(connection, payload, muted=False)

    async def mute_participant(
        self, connection: Connection, payload: MuteParticipantPayload
    ) -> Ack:
        room = self._current_room(connection, payload.roomId)
        if room.owner_id != connection.user_id:
            raise NotRoomOwner()
        target = self.state.member_by_user(room.id, payload.userId)
        if target is None:
            raise PeerNotInRoom()
        self._set_muted(target, room, True)
        # Everyone, the target included: its client must obey and show it.
        info = {"userId": target.user_id, "mute": True, "by": connection.user_id}
        await self._emit_to(self.state.members(room.id), "mute-info", info)
        return {}

    async def _set_own_mute(self, connection: Connection, payload: MutePayload, muted: bool) -> Ack:
        room = self._current_room(connection, payload.roomId)
        if payload.userId is not None and payload.userId != connection.user_id:
            raise NotYourself("Owners mute others with mute-participant.")
        self._set_muted(connection, room, muted)
        others = [c for c in self.state.members(room.id) if c.sid != connection.sid]
        await self._emit_to(others, "mute-info", {"userId": connection.user_id, "mute": muted})
        return {}

    # --- helpers ----------------------------------------------------------------------------

    def _current_room(self, connection: Connection, room_id: str) -> Room:
        if connection.room is None or connection.room.id != room_id:
            raise NotInRoom()
        return connection.room

    def _mesh_peer(self, connection: Connection, peer_id: str) -> Connection:
        if connection.room is None:
            raise NotInRoom()
        if connection.room.media != "mesh":
            raise WrongMediaMode("Peer-to-peer relays are for mesh rooms only.")
        target = self.state.connection(peer_id)
        if target is None or target.sid == connection.sid or target.room != connection.room:
            raise PeerNotInRoom()
        return target

    async def _replace_other_tabs(self, connection: Connection) -> None:
        """One presence per user: joining from a second tab ends the first one's."""
        for other in self.state.connections_of_user(connection.user_id):
            if other.sid != connection.sid and other.room is not None:
                await self._sio.emit("replaced", {"roomId": other.room.id}, to=other.sid)
                departure = self.state.leave(other.sid)
                if departure is not None:
                    await self._depart(departure)

    async def _send_room_state(self, connection: Connection, room: Room) -> None:
        participants = [
            {"peerId": c.sid, "user": c.profile, "muted": c.muted}
            for c in self.state.members(room.id)
        ]
        state = {
            "roomId": room.id,
            "media": room.media,
            "ownerId": room.owner_id,
            "selfPeerId": connection.sid,
            "participants": participants,
        }
        await self._sio.emit("room-state", state, to=connection.sid)

    def _set_muted(self, connection: Connection, room: Room, muted: bool) -> None:
        """Mute state changes here only: in sfu rooms the server then drops the audio too."""
        self.state.set_muted(connection.sid, muted)
        if room.media == "sfu":
            self.services.sfu.set_muted(room.id, connection.user_id, muted)

    async def _depart(self, departure: Departure) -> None:
        if departure.room.media == "sfu":
            await self.services.sfu.leave(departure.room.id, departure.connection.user_id)
        await self._announce_departure(departure)

    async def _announce_departure(self, departure: Departure) -> None:
        sid, user_id = departure.connection.sid, departure.connection.user_id
        left = {"peerId": sid, "userId": user_id}
        await self._emit_to(departure.remaining, "participant-left", left)
        if departure.room.media == "mesh":
            await self._emit_to(departure.remaining, "remove-peer", {"peerId": sid})

    async def _emit_to(self, connections: Iterable[Connection], event: str, data: Any) -> None:
        for connection in connections:
            await self._sio.emit(event, data, to=connection.sid)


SIGNALING = web.AppKey("signaling", SignalingHub)


def _error_ack(code: str, message: str, details: Any = None) -> Ack:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"ok": False, "error": error}
