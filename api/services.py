"""What handlers reach through `request.app[SERVICES]`."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from api.auth.rate_limiter import RateLimiter
from api.auth.service import AuthService
from api.background import BackgroundTasks
from api.settings import Settings
from api.store.database import Stores


@dataclass(frozen=True)
class Services:
    settings: Settings
    stores: Stores
    auth: AuthService
    rate_limiter: RateLimiter
    background: BackgroundTasks


SERVICES = web.AppKey("services", Services)
