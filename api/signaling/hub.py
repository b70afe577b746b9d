"""The Socket.IO adapter: connect and disconnect, the event table, and `_guarded` (validation,
rate limit, error acks). What each event does is a job of its own:

- `presence.Presence`: join, leave, disconnect, replacements and ejections, and what a room
  is told about them (its docstring says how membership changes stay consistent);
- `mesh.MeshRelay`: the mesh rooms' SDP and ICE relays;
- `mute.MuteControl`: mute, unmute, and the hosts' mute-participant;
- `stage.StageControl`: stage rooms' roles, hands and invitations, and removing someone
  (`audience.AudienceUpdates` tells a large room's audience changes once a second);
- `sfu_bridge.SfuBridge`: media sessions in the SFU, and the SFU's listener (speaker updates,
  media failures);
- `sockets.Sockets`: the jobs' one handle on Socket.IO (one emit per broadcast, through
  Socket.IO rooms that hold each signaling room's occupants).

Every client event is acknowledged with `{ok: true, ...}` or `{ok: false, error: {code,
message}}`; a bad payload or a refused action never raises inside the server and never
reaches another client. See docs/protocol.md for the contract. REST reaches signaling only
through the services' events (`AuthService.on_sessions_revoked`, `RoomService.events`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
    ReservedEvent,
    TryAgain,
    UnknownEvent,
)
from api.log_context import bind_user
from api.request_body import validate
from api.services import Services
from api.signaling.audience import AudienceUpdates
from api.signaling.locks import RoomLocks
from api.signaling.mesh import MeshRelay
from api.signaling.mute import MuteControl
from api.signaling.payloads import (
    JoinPayload,
    MuteInfoPayload,
    MuteParticipantPayload,
    MutePayload,
    RelayIcePayload,
    RelaySdpPayload,
    RoomPayload,
    SetRolePayload,
    SfuJoinPayload,
    TargetPayload,
)
from api.signaling.presence import RECHECKS, Presence
from api.signaling.profiles import participant_user
from api.signaling.rights_log import sessions_key
from api.signaling.sfu_bridge import SfuBridge
from api.signaling.sockets import NAMESPACE, Sockets
from api.signaling.stage import StageControl
from api.signaling.state import Connection, SignalingState
from api.store.database import DATABASE_UNREACHABLE
from api.users.models import PublicProfile
from sfu.errors import SfuError

log = logging.getLogger(__name__)

PayloadT = TypeVar("PayloadT", bound=BaseModel)
Ack = dict[str, Any]
Handler = Callable[[Connection, Any], Awaitable[Ack]]
EVENTS_PER_CONNECTION = Limit(300, 10.0)  # room for a burst of trickled ICE to seven peers


@dataclass(frozen=True)
class _Jobs:
    state: SignalingState
    presence: Presence
    mesh: MeshRelay
    mute: MuteControl
    stage: StageControl


class SignalingHub:
    """Owns the Socket.IO handlers. Built with the app; `bind` builds the jobs once the
    services exist (the SFU, built before them, is given `sfu_bridge` as its listener)."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        join_refusal: Callable[[], AppError | None] = lambda: None,
    ) -> None:
        """`join_refusal`: asked before each `join` and `sfu-join`; the error it returns (the
        drain's `ServerDraining`, api.drain) is the ack instead."""
        self.sio = sio
        self._join_refusal = join_refusal
        self._sockets = Sockets(sio)
        self.sfu_bridge = SfuBridge(self._sockets)
        self._services: Services | None = None
        self._jobs: _Jobs | None = None

    # --- wiring ---------------------------------------------------------------------------

    def register(self) -> None:
        self.sio.on("connect", self.on_connect)
        self.sio.on("disconnect", self.on_disconnect)
        self.sio.on("*", self.on_unknown_event)
        # Looked up per event: the jobs are built by `bind`, at start-up.
        handlers: dict[str, tuple[type[BaseModel], Callable[[], Handler]]] = {
            "join": (JoinPayload, lambda: self._unless_refused(self.presence.join)),
            "leave": (RoomPayload, lambda: self.presence.leave),
            "relay-ice": (RelayIcePayload, lambda: self.mesh.relay_ice),
            "relay-sdp": (RelaySdpPayload, lambda: self.mesh.relay_sdp),
            "mute": (MutePayload, lambda: self.mute.mute),
            "unmute": (MutePayload, lambda: self.mute.unmute),
            # Sent by clients written for the original Gethory: their own mute state.
            "mute-info": (MuteInfoPayload, lambda: self.mute.mute_info),
            "mute-participant": (MuteParticipantPayload, lambda: self.mute.mute_participant),
            "unmute-participant": (
                MuteParticipantPayload,
                lambda: self.mute.unmute_participant,
            ),
            "sfu-join": (SfuJoinPayload, lambda: self._unless_refused(self.sfu_bridge.join)),
            "sfu-leave": (RoomPayload, lambda: self.sfu_bridge.leave),
            "raise-hand": (RoomPayload, lambda: self.stage.raise_hand),
            "lower-hand": (RoomPayload, lambda: self.stage.lower_hand),
            "invite-to-speak": (TargetPayload, lambda: self.stage.invite_to_speak),
            "accept-speak": (RoomPayload, lambda: self.stage.accept_speak),
            "decline-speak": (RoomPayload, lambda: self.stage.decline_speak),
            "set-role": (SetRolePayload, lambda: self.stage.set_role),
            "leave-stage": (RoomPayload, lambda: self.stage.leave_stage),
            "remove-participant": (TargetPayload, lambda: self.stage.remove_participant),
        }
        for event, (model, handler) in handlers.items():
            self.sio.on(event, self._guarded(model, handler))

    def bind(self, services: Services) -> None:
        self._services = services
        state = SignalingState(services.presence)
        self.sfu_bridge.bind(state, services.sfu, services.background)
        locks = RoomLocks()
        audience = AudienceUpdates(state, self._sockets, services.background)
        presence = Presence(
            state, self._sockets, self.sfu_bridge, services.rooms, services.auth, audience, locks
        )
        mesh = MeshRelay(state, self._sockets)
        mute = MuteControl(state, self._sockets, self.sfu_bridge)
        stage = StageControl(
            state,
            self._sockets,
            self.sfu_bridge,
            services.rooms,
            services.background,
            locks,
            services.rate_limiter,
        )
        self._jobs = _Jobs(state, presence, mesh, mute, stage)
        services.auth.on_sessions_revoked(presence.drop_revoked_connections)
        services.rooms.events.on_room_closed(presence.eject_room)
        services.rooms.events.on_member_removed(stage.member_removed)
        services.rooms.events.on_member_removed(presence.eject_user)
        services.rooms.events.on_room_changed(presence.room_changed)

    @property
    def services(self) -> Services:
        assert self._services is not None, "the hub is bound at start-up"
        return self._services

    @property
    def state(self) -> SignalingState:
        return self._bound.state

    @property
    def presence(self) -> Presence:
        return self._bound.presence

    @property
    def mesh(self) -> MeshRelay:
        return self._bound.mesh

    @property
    def mute(self) -> MuteControl:
        return self._bound.mute

    @property
    def stage(self) -> StageControl:
        return self._bound.stage

    @property
    def _bound(self) -> _Jobs:
        assert self._jobs is not None, "the hub is bound at start-up"
        return self._jobs

    def _unless_refused(self, handler: Handler) -> Handler:
        async def entry(connection: Connection, payload: Any) -> Ack:
            refusal = self._join_refusal()
            if refusal is not None:
                raise refusal
            return await handler(connection, payload)

        return entry

    def _guarded(
        self, model: type[PayloadT], handler: Callable[[], Handler]
    ) -> Callable[..., Awaitable[Ack]]:
        async def handle(sid: str, data: Any = None, *_: Any) -> Ack:
            try:
                connection = self.state.connection(sid)
                if connection is None:
                    raise NotAuthenticated()
                # Each event runs in a task of its own (python-socketio's async_handlers), so
                # the user bound here is on this event's log lines only.
                bind_user(connection.user_id)
                self.services.rate_limiter.hit("socket-event", sid, EVENTS_PER_CONNECTION)
                return {"ok": True, **await handler()(connection, validate(model, data))}
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

    async def on_unknown_event(self, event: Any, sid: str, *_: Any) -> Ack:
        """Any event without a handler (python-socketio's catch-all): an error ack, counted
        against the connection's event budget like any other."""
        try:
            if self.state.connection(sid) is None:
                raise NotAuthenticated()
            self.services.rate_limiter.hit("socket-event", sid, EVENTS_PER_CONNECTION)
            raise UnknownEvent()
        except AppError as error:
            return _error_ack(error.code, error.text, error.details)

    # --- connection -----------------------------------------------------------------------

    async def on_connect(
        self, sid: str, environ: Any = None, auth: Any = None, *_: Any
    ) -> Ack | None:
        # python-socketio hands a client's own `connect` event to this handler too; only the
        # real handshake passes the environ python-socketio keeps for the connection.
        if environ is not self.sio.get_environ(sid, NAMESPACE):
            return _reserved()
        request: web.Request = environ["aiohttp.request"]
        token = auth.get("token") if isinstance(auth, dict) else None
        token = token if isinstance(token, str) and token else access_token_of(request)
        try:
            principal = await self._authenticate(token)
            bind_user(principal.user.id)
            profile = participant_user(PublicProfile.of(principal.user))
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
        rights = self.state.rights
        for _ in range(RECHECKS):
            mark = rights.mark()
            principal = await self.services.auth.authenticate(token)
            if not rights.changed_since(sessions_key(principal.user.id), mark):
                return principal  # none of this user's sessions ended while we looked
        raise TryAgain()

    async def on_disconnect(self, sid: str, reason: Any = None, *_: Any) -> Ack | None:
        # A client's own `disconnect` event arrives while python-socketio still counts the
        # connection as connected; the real one only after it marked it as going away.
        if self.sio.manager.is_connected(sid, NAMESPACE):
            return _reserved()
        connection = self.state.connection(sid)
        if connection is not None:
            await self.presence.disconnect(connection)
        return None


SIGNALING = web.AppKey("signaling", SignalingHub)


def _reserved() -> Ack:
    error = ReservedEvent()
    return _error_ack(error.code, error.text)


def _error_ack(code: str, message: str, details: Any = None) -> Ack:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"ok": False, "error": error}
