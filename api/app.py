"""The aiohttp application: services wired in `cleanup_ctx`, routes, middlewares."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from api.auth.passwords import Passwords
from api.auth.rate_limiter import RateLimiter
from api.auth.routes import api as auth_api
from api.auth.service import AuthService, utc_now
from api.auth.tokens import Tokens
from api.background import BackgroundTasks
from api.drain import DRAIN, Drain
from api.endpoints import Api
from api.forwarded import forwarded_middleware
from api.hardening import origin_check, security_headers, server_handler_args
from api.health import DATABASE, add_health_routes
from api.mail import Mailer
from api.metrics import Metrics
from api.middlewares import error_middleware, request_id_middleware
from api.openapi import build_openapi
from api.rooms.access import RoomAccess
from api.rooms.events import RoomEvents
from api.rooms.presence import RoomPresence
from api.rooms.presenter import RoomPresenter
from api.rooms.routes import api as rooms_api
from api.rooms.service import RoomService
from api.rtc.routes import api as rtc_api
from api.services import SERVICES, Services
from api.settings import Settings
from api.signaling.client_fault_log import ClientFaultLog, LineBudget
from api.signaling.hub import SIGNALING, SignalingHub
from api.signaling.wire import SafeJson, SignalingServer, SocketIoEndpoint
from api.store.database import Database
from api.store.embedded import EmbeddedMongo
from api.users.routes import api as users_api
from api.users.service import ProfileService
from api.web_client import WebClient
from sfu.room_manager import RoomManager
from sfu.stats import SfuStats

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
SFU_STATS = web.AppKey("sfu_stats", SfuStats)
METRICS = web.AppKey("metrics", Metrics)
FEATURES: tuple[Api, ...] = (auth_api, users_api, rooms_api, rtc_api)
# Room for an avatar upload (issue 3); JSON bodies have their own, much smaller limit.
CLIENT_MAX_SIZE = 6 * 1024 * 1024
# An SDP offer is a few kilobytes; nothing legitimate on the socket comes near this.
MAX_SOCKET_MESSAGE_BYTES = 128 * 1024
# Engine.IO drops a websocket that sent nothing (not even a pong) for interval + timeout, and
# its sweep checks unanswered pings about once per timeout: a silently vanished client leaves
# the room's presence within 10-15 s (the issue asks 20 s, as LiveKit does; Engine.IO's own
# 25 + 20 s kept ghosts, counted against capacity, for 47-55 s). A ping every 5 s costs a
# few bytes per connection.
PING_INTERVAL_SECONDS = 5
PING_TIMEOUT_SECONDS = 5
WEB_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"


def create_app(settings: Settings, web_dist: Path = WEB_DIST) -> web.Application:
    sfu_stats = SfuStats()
    metrics = Metrics(sfu_stats)
    app = web.Application(
        client_max_size=CLIENT_MAX_SIZE,
        handler_args=server_handler_args(),
        middlewares=[
            # Outermost, so it records the status the client really got.
            metrics.middleware(),
            # Before anything reads request.remote or request.secure.
            forwarded_middleware(settings),
            request_id_middleware,
            error_middleware(settings),
            origin_check(settings),
        ],
    )
    app[SETTINGS] = settings
    app.on_response_prepare.append(security_headers(settings))
    app[SFU_STATS] = sfu_stats
    app[METRICS] = metrics
    app.cleanup_ctx.append(_services)
    app.cleanup_ctx.append(metrics.lag_monitor)
    app.on_startup.append(_announce_url)
    for feature in FEATURES:
        feature.register(app)
    client_faults = LineBudget()  # one budget for every line a client's bytes can cause
    sio = SignalingServer(
        async_mode="aiohttp",
        cors_allowed_origins=list(settings.allowed_origins),
        max_http_buffer_size=MAX_SOCKET_MESSAGE_BYTES,
        ping_interval=PING_INTERVAL_SECONDS,
        ping_timeout=PING_TIMEOUT_SECONDS,
        logger=ClientFaultLog("socketio.server", client_faults),
        engineio_logger=ClientFaultLog("engineio.server", client_faults),
        json=SafeJson,
    )
    drain = Drain(settings.drain_seconds)
    app[DRAIN] = drain
    app.on_response_prepare.append(drain.track_websocket)
    hub = SignalingHub(sio, join_refusal=drain.join_refusal)
    hub.register()
    SocketIoEndpoint(sio, ClientFaultLog("api.signaling.wire", client_faults)).attach(app)
    app[SIGNALING] = hub
    openapi = build_openapi([e for f in FEATURES for e in f.endpoints], version("gethory"))
    app.router.add_get("/api/openapi.json", _static_json(openapi))
    add_health_routes(app)
    app.router.add_get("/metrics", metrics.handle)
    app.router.add_get("/{tail:.*}", WebClient(web_dist).handle)
    return app


async def _services(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    embedded: EmbeddedMongo | None = None
    database_url = settings.database_url
    if database_url is None:
        embedded = EmbeddedMongo(settings.data_dir / "mongo")
        await embedded.start()
        database_url = embedded.url
    database = Database(database_url)
    app[DATABASE] = database
    background = BackgroundTasks()
    try:
        # Returns even when the database is down: requests answer 503 until it is back.
        await database.open()
        stores = database.stores
        tokens = Tokens(settings)
        mailer = Mailer(settings.smtp, settings.data_dir / "outbox")
        auth = AuthService(settings, stores, Passwords(), tokens, mailer, background)
        presence = RoomPresence()
        access = RoomAccess(stores.room_members)
        hub = app[SIGNALING]
        sfu = RoomManager(settings.sfu, hub.sfu_bridge, app[SFU_STATS])
        sfu.start()  # SfuStartError if aiortc's internals moved: the server must not start
        app[SERVICES] = Services(
            settings=settings,
            stores=stores,
            auth=auth,
            rate_limiter=RateLimiter(enabled=settings.rate_limits),
            background=background,
            profiles=ProfileService(stores.users, stores.avatars),
            presence=presence,
            rooms=RoomService(
                stores,
                access,
                utc_now,
                RoomEvents(),
                default_slots=settings.sfu.default_slots,
                presence=presence,
                idle_hide=settings.room_idle_hide,
            ),
            room_presenter=RoomPresenter(stores.users, presence),
            sfu=sfu,
        )
        hub.bind(app[SERVICES])
        app[METRICS].watch_signaling(hub.state.connection_count, hub.state.room_count)
        app[METRICS].watch_sfu(
            sfu.room_count, sfu.participant_count, sfu.media_port_faults, sfu.send_failures
        )
        yield
        await sfu.stop()
    finally:
        await background.drain()
        await database.close()
        if embedded is not None:
            await embedded.stop()


async def _announce_url(app: web.Application) -> None:
    """The one line a newcomer needs: where to open the app (after the services are up)."""
    settings = app[SETTINGS]
    others = settings.allowed_origins[1:]
    also = f" (or {', '.join(others)})" if others else ""
    log.info("Gethory is ready: open %s%s in your browser", settings.app_origin, also)


def _static_json(document: object) -> Handler:
    async def serve(request: web.Request) -> web.Response:
        return web.json_response(document)

    return serve
