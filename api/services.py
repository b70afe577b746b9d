"""What handlers reach through `request.app[SERVICES]`."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from api.auth.rate_limiter import RateLimiter
from api.auth.service import AuthService
from api.background import BackgroundTasks
from api.rooms.presence import RoomPresence
from api.rooms.presenter import RoomPresenter
from api.rooms.service import RoomService
from api.settings import Settings
from api.store.database import Stores
from api.users.service import ProfileService
from sfu.room_manager import RoomManager


@dataclass(frozen=True)
class Services:
    settings: Settings
    stores: Stores
    auth: AuthService
    rate_limiter: RateLimiter
    background: BackgroundTasks
    profiles: ProfileService
    presence: RoomPresence
    rooms: RoomService
    room_presenter: RoomPresenter
    sfu: RoomManager


SERVICES = web.AppKey("services", Services)
