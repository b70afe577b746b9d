"""The Socket.IO event handlers: authenticate, validate, change state, tell the right sockets.

Every client event is acknowledged with `{ok: true, ...}` or `{ok: false, error: {code,
message}}`; a bad payload or a refused action never raises inside the server and never
reaches another client. See docs/protocol.md for the contract.

How membership changes stay consistent (one process, one event loop):
- every change of who is where is one synchronous call into `SignalingState`, which checks
  its rules (capacity, one presence per user) in the same step;
- a right checked before an await (room entry, a live session) is checked again when
  `SignalingState.access_epoch` moved meanwhile (a room closed, a member removed, a session
  ended), and a media session set up across an await is dropped if its connection's
  membership is no longer the one it started from;
- what tells a room about a change is sent under that room's lock (`RoomLocks`), so nobody
  hears "left" before "joined";
- cleanup starts from the connection object: the SFU participant of a connection is keyed by
  its sid, never by its user.
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
from api.auth.service import Principal
from api.errors import (
    AppError,
    DatabaseUnavailable,
    NotAuthenticated,
    NotInRoom,
    NotRoomOwner,
    NotYourself,
    PeerNotInRoom,
    ReservedEvent,
    TryAgain,
    WrongMediaMode,
)
from api.request_body import validate
from api.services import Services
from api.signaling.locks import RoomLocks
from api.signaling.payloads import (
    JoinPayload,
    MuteParticipantPayload,
    MutePayload,
    RelayIcePayload,
    RelaySdpPayload,
    RoomPayload,
    SfuJoinPayload,
)
from api.signaling.state import Arrival, Connection, Departure, SignalingState
from api.store.database import DATABASE_UNREACHABLE
from api.store.rooms import Room
from api.users.models import PublicProfile
from sfu import SpeakerUpdate
from sfu.errors import SfuError

log = logging.getLogger(__name__)

PayloadT = TypeVar("PayloadT", bound=BaseModel)
Ack = dict[str, Any]
EVENTS_PER_CONNECTION = Limit(300, 10.0)  # room for a burst of trickled ICE to seven peers
NAMESPACE = "/"
# How often a right is re-checked when rights keep changing while it is being checked.
RECHECKS = 5


class SignalingHub:
    """Owns the Socket.IO handlers; REST reaches it only through the services' events."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio
        self._services: Services | None = None
        self._state: SignalingState | None = None
        self._locks = RoomLocks()

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
        services.rooms.events.on_room_closed(self.eject_room)
        services.rooms.events.on_member_removed(self.eject_user)
        services.rooms.events.on_room_changed(self.room_changed)

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
            except DATABASE_UNREACHABLE:
                unavailable = DatabaseUnavailable()
                return _error_ack(unavailable.code, unavailable.text, unavailable.details)
            except Exception:
                log.exception("signaling handler failed for %s", sid)
                return _error_ack("internal_error", "Something went wrong on our side.")

        return handle

    # --- connection -----------------------------------------------------------------------

    async def on_connect(
        self, sid: str, environ: Any = None, auth: Any = None, *_: Any
    ) -> Ack | None:
        # python-socketio hands a client's own `connect` event to this handler too; only the
        # real handshake passes the environ python-socketio keeps for the connection.
        if environ is not self._sio.get_environ(sid, NAMESPACE):
            return _reserved()
        request: web.Request = environ["aiohttp.request"]
        token = auth.get("token") if isinstance(auth, dict) else None
        token = token if isinstance(token, str) and token else access_token_of(request)
        try:
            principal = await self._authenticate(token)
            profile = PublicProfile.of(principal.user).model_dump(mode="json", by_alias=True)
            self.state.connect(sid, principal.user.id, principal.session_id, profile)
        except AppError as error:
            # Reaches the client as connect_error {message, data: {code}}.
            raise socketio.exceptions.ConnectionRefusedError(
                error.text, {"code": error.code}
            ) from None
        except DATABASE_UNREACHABLE:
            unavailable = DatabaseUnavailable()
            raise socketio.exceptions.ConnectionRefusedError(
                unavailable.text, {"code": unavailable.code, **unavailable.details}
            ) from None
        except Exception:
            log.exception("signaling connect failed for %s", sid)
            raise socketio.exceptions.ConnectionRefusedError(
                "Something went wrong on our side.", {"code": "internal_error"}
            ) from None
        return None

    async def _authenticate(self, token: str | None) -> Principal:
        if token is None:
            raise NotAuthenticated()
        for _ in range(RECHECKS):
            epoch = self.state.access_epoch
            principal = await self.services.auth.authenticate(token)
            if self.state.access_epoch == epoch:
                return principal  # no session ended while we looked
        raise TryAgain()

    async def on_disconnect(self, sid: str, reason: Any = None, *_: Any) -> Ack | None:
        # A client's own `disconnect` event arrives while python-socketio still counts the
        # connection as connected; the real one only after it marked it as going away.
        if self._sio.manager.is_connected(sid, NAMESPACE):
            return _reserved()
        connection = self.state.connection(sid)
        if connection is not None:
            await self._depart(self.state.disconnect(connection))
        return None

    async def drop_revoked_connections(self, user_id: str) -> None:
        """Called when sessions of `user_id` end: close the sockets they were holding."""
        self.state.access_lost()
        for connection in self.state.connections_of_user(user_id):
            if await self.services.auth.session_is_live(connection.session_id):
                continue
            if not connection.live:
                continue  # gone while we asked
            await self._depart(self.state.disconnect(connection))
            await self._sio.emit("session-ended", {}, to=connection.sid)
            await self._sio.disconnect(connection.sid)

    # --- rooms ----------------------------------------------------------------------------

    async def join(self, connection: Connection, payload: JoinPayload) -> Ack:
        room = await self._room_to_enter(connection, payload.roomId)
        if not connection.live:
            raise NotAuthenticated()
        async with self._locks.hold(room.id):
            if connection.room_id == room.id:
                await self._send_room_state(connection, room.id)
                return {"peerId": connection.sid}
            arrival = self.state.join(connection, room)
            self._end_media(arrival.departures)
            await self._send_room_state(connection, room.id)
            await self._announce_arrival(connection, arrival)
        for departure in arrival.departures:
            await self._announce_departure(departure)
        return {"peerId": connection.sid}

    async def _room_to_enter(self, connection: Connection, room_id: str) -> Room:
        """The same entry rule as GET /api/rooms/{id} (404 unless allowed, 410 once closed),
        re-checked if anyone lost a right while it was being read."""
        for _ in range(RECHECKS):
            epoch = self.state.access_epoch
            room = (await self.services.rooms.view(connection.user_id, room_id)).room
            if self.state.access_epoch == epoch:
                return room
        raise TryAgain()

    async def leave(self, connection: Connection, payload: RoomPayload) -> Ack:
        if connection.room_id is None:
            return {}
        if connection.room_id != payload.roomId:
            raise NotInRoom()
        await self._depart(self.state.leave(connection))
        return {}

    async def eject_room(self, room: Room) -> None:
        """The room was closed: everyone in it is taken out at once, then told."""
        departures = self.state.close_room(room.id)
        self.services.sfu.close_room(room.id)
        async with self._locks.hold(room.id):
            await self._emit_to(
                (d.connection for d in departures), "room-closed", {"roomId": room.id}
            )

    async def eject_user(self, room_id: str, user_id: str) -> None:
        """The user lost the right to be in the room (removed from its members)."""
        self.state.access_lost()
        member = self.state.member_by_user(room_id, user_id)
        if member is None:
            return
        departure = self.state.leave(member)
        await self._sio.emit("removed-from-room", {"roomId": room_id}, to=member.sid)
        await self._depart(departure)

    async def room_changed(self, room: Room) -> None:
        self.state.update_room(room)

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
        membership = connection.membership
        sfu = self.services.sfu
        answer = await sfu.join(
            room.id, room.slots or 1, connection.sid, connection.user_id, payload.sdp
        )
        if connection.membership is not membership:
            # Left, replaced, removed, disconnected or the room closed while negotiating.
            sfu.leave(room.id, connection.sid)
            raise NotInRoom()
        sfu.set_muted(room.id, connection.sid, connection.muted)
        return {"type": "answer", "sdp": answer, "slots": room.slots}

    async def sfu_leave(self, connection: Connection, payload: RoomPayload) -> Ack:
        room = self._current_room(connection, payload.roomId)
        self.services.sfu.leave(room.id, connection.sid)
        return {}

    def on_speakers(self, room_id: str, participant_id: str, update: SpeakerUpdate) -> None:
        """From the SFU (≤ 5 a second per listener, only on change): whose voice is on each
        of this listener's slots, and who is speaking. `participant_id` is the listener's
        connection id."""
        listener = self.state.connection(participant_id)
        if listener is None or listener.room_id != room_id:
            return
        speakers = {
            "roomId": room_id,
            "slots": list(update.slots),
            "speaking": sorted(update.speaking),
        }
        self.services.background.spawn(
            self._sio.emit("speakers", speakers, to=listener.sid), name="emit-speakers"
        )

    def on_media_failed(self, room_id: str, participant_id: str) -> None:
        """The SFU lost a participant's media connection (ICE consent expired, or never set
        up in time)."""
        self.services.sfu.leave(room_id, participant_id)
        listener = self.state.connection(participant_id)
        if listener is not None and listener.room_id == room_id:
            self.services.background.spawn(
                self._sio.emit("sfu-failed", {"roomId": room_id}, to=listener.sid),
                name="emit-sfu-failed",
            )

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
        room = self.state.room(room_id) if connection.room_id == room_id else None
        if room is None:
            raise NotInRoom()
        return room

    def _mesh_peer(self, connection: Connection, peer_id: str) -> Connection:
        room_id = connection.room_id
        room = self.state.room(room_id) if room_id is not None else None
        if room is None:
            raise NotInRoom()
        if room.media != "mesh":
            raise WrongMediaMode("Peer-to-peer relays are for mesh rooms only.")
        target = self.state.connection(peer_id)
        if target is None or target is connection or target.room_id != room_id:
            raise PeerNotInRoom()
        return target

    async def _send_room_state(self, connection: Connection, room_id: str) -> None:
        room = self.state.room(room_id)
        assert room is not None, "sent only to a member"
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

    async def _announce_arrival(self, connection: Connection, arrival: Arrival) -> None:
        joined = {"peerId": connection.sid, "user": connection.profile, "muted": False}
        await self._emit_to(arrival.existing, "participant-joined", joined)
        if arrival.room.media != "mesh":
            return
        for member in arrival.existing:
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

    def _set_muted(self, connection: Connection, room: Room, muted: bool) -> None:
        """Mute state changes here only: in sfu rooms the server then drops the audio too."""
        self.state.set_muted(connection, muted)
        if room.media == "sfu":
            self.services.sfu.set_muted(room.id, connection.sid, muted)

    def _end_media(self, departures: Iterable[Departure]) -> None:
        """At once, before anything is awaited: a departed connection hears nothing more."""
        for departure in departures:
            if departure.room.media == "sfu":
                self.services.sfu.leave(departure.room.id, departure.connection.sid)

    async def _depart(self, departure: Departure | None) -> None:
        if departure is not None:
            self._end_media((departure,))
            await self._announce_departure(departure)

    async def _announce_departure(self, departure: Departure) -> None:
        sid, user_id = departure.connection.sid, departure.connection.user_id
        async with self._locks.hold(departure.room.id):
            if departure.replaced:
                await self._sio.emit("replaced", {"roomId": departure.room.id}, to=sid)
            left = {"peerId": sid, "userId": user_id}
            await self._emit_to(departure.remaining, "participant-left", left)
            if departure.room.media == "mesh":
                await self._emit_to(departure.remaining, "remove-peer", {"peerId": sid})

    async def _emit_to(self, connections: Iterable[Connection], event: str, data: Any) -> None:
        for connection in connections:
            await self._sio.emit(event, data, to=connection.sid)


SIGNALING = web.AppKey("signaling", SignalingHub)


def _reserved() -> Ack:
    error = ReservedEvent()
    return _error_ack(error.code, error.text)


def _error_ack(code: str, message: str, details: Any = None) -> Ack:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"ok": False, "error": error}
