"""Liveness and readiness.

- `GET /healthz`: liveness — the process is up and its event loop answers; never touches the
  database, so an orchestrator does not restart the app because the database is down.
- `GET /readyz`: readiness — the database answers a `ping` within READY_DEADLINE_SECONDS and
  its indexes exist; 503 `{"status": "unavailable", "checks": {...}}` otherwise.
- `GET /api/health`: the readiness answer, kept for existing clients and probes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pymongo.errors import PyMongoError

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
    database = await database_check(request.app.get(DATABASE))
    if database["status"] == "ok":
        return web.json_response(
            {"status": "ok", "checks": {"database": database}}, headers=NO_STORE
        )
    return web.json_response(
        {"status": "unavailable", "checks": {"database": database}},
        status=503,
        headers={**NO_STORE, "Retry-After": str(RETRY_AFTER_SECONDS)},
    )


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
