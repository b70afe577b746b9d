"""Serving the built browser client (`web/dist`): files, long caching, and the SPA fallback."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

# Vite puts content-hashed files under assets/: a name never changes meaning, cache it forever.
IMMUTABLE = "public, max-age=31536000, immutable"
# index.html names the current hashes, so it must always be revalidated.
REVALIDATE = "no-cache"
PLACEHOLDER = (
    "<!doctype html><title>Gethory</title><h1>Gethory</h1>"
    "<p>The web client is not built yet (<code>make run</code> builds it). The API is described"
    ' at <a href="/api/openapi.json">/api/openapi.json</a>.</p>'
)


# Operations endpoints: their exact paths are routes of their own; anything under them (a probe
# or scraper configured with a slash too many) is a 404, never the page with 200, which would
# make a readiness probe pass while the database is down or the server drains.
OPERATIONS_PREFIXES = ("/healthz/", "/readyz/", "/metrics/")


class WebClient:
    def __init__(self, dist: Path) -> None:
        self._dist = dist.resolve()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith(("/api/", "/socket.io/")):
            raise web.HTTPNotFound(reason="No such API endpoint.")
        if request.path.startswith(OPERATIONS_PREFIXES):
            raise web.HTTPNotFound(reason="No such endpoint.")
        index = self._dist / "index.html"
        if not index.is_file():
            return web.Response(text=PLACEHOLDER, content_type="text/html")
        asset = self._file_for(request.match_info.get("tail", ""))
        if asset is None:
            # Client-side routes (/rooms/…, /invite/…) all load the app.
            return web.FileResponse(index, headers={"Cache-Control": REVALIDATE})
        cache = IMMUTABLE if asset.parent.name == "assets" else REVALIDATE
        return web.FileResponse(asset, headers={"Cache-Control": cache})

    def _file_for(self, tail: str) -> Path | None:
        if not tail:
            return None
        candidate = (self._dist / tail).resolve()
        # Never outside dist/, whatever the path says.
        if not candidate.is_relative_to(self._dist) or not candidate.is_file():
            return None
        return candidate
