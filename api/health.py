"""Liveness and readiness.

- `GET /healthz`: liveness — the process is up and its event loop answers; never touches the
  database, so an orchestrator does not restart the app because the database is down.
- `GET /readyz`: readiness — the database answers a `ping` within READY_DEADLINE_SECONDS and
  its indexes exist, the media server is started (and its shared UDP port bound when
  RTC_UDP_PORT is set: `RoomManager.media_ready`), and the server is not draining; 503
  `{"status": "unavailable", "checks": {...}}` otherwise, and 503 `{"status": "draining",
  "checks": {..., "drain": {"status": "draining", "remainingSeconds": s}}}` from the first
  SIGTERM on (api.drain), whatever the other checks say, so a load balancer stops sending
  new people to a process that is about to end. `/healthz` stays 200 while draining.
- `GET /api/health`: the readiness answer, kept for existing clients and probes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pymongo.errors import PyMongoError

from api.drain import DRAIN
from api.services import SERVICES, Services
from api.store.database import Database

DATABASE = web.AppKey("database", Database)
READY_DEADLINE_SECONDS = 1.0
RETRY_AFTER_SECONDS = 2
NO_STORE = {"Cache-Control": "no-store"}


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/health", readyz)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"}, headers=NO_STORE)


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks: dict[str, Any] = {
        "database": await database_check(app.get(DATABASE)),
        "media": media_check(app.get(SERVICES)),
    }
    drain = app.get(DRAIN)
    if drain is not None and drain.draining:
        checks["drain"] = {
            "status": "draining",
            "remainingSeconds": round(drain.remaining_seconds(), 1),
        }
        return _unready("draining", checks, RETRY_AFTER_SECONDS)
    if all(check["status"] == "ok" for check in checks.values()):
        return web.json_response({"status": "ok", "checks": checks}, headers=NO_STORE)
    return _unready("unavailable", checks, RETRY_AFTER_SECONDS)


def _unready(status: str, checks: dict[str, Any], retry_after: int) -> web.Response:
    return web.json_response(
        {"status": status, "checks": checks},
        status=503,
        headers={**NO_STORE, "Retry-After": str(retry_after)},
    )


def media_check(services: Services | None) -> dict[str, Any]:
    if services is None:
        return {"status": "unavailable", "reason": "starting"}
    if not services.sfu.media_ready():
        return {"status": "unavailable", "reason": "media server not started"}
    return {"status": "ok"}


async def database_check(database: Database | None) -> dict[str, Any]:
    if database is None:
        return {"status": "unavailable", "reason": "starting"}
    try:
        seconds = await database.ping(READY_DEADLINE_SECONDS)
    except PyMongoError as error:
        # The class name only: the message names hosts and ports, which this public
        # endpoint has no reason to reveal.
        return {"status": "unavailable", "reason": type(error).__name__}
    if not database.indexes_ready:
        return {"status": "unavailable", "reason": "indexes pending"}
    return {"status": "ok", "latencyMs": round(seconds * 1000, 1)}
