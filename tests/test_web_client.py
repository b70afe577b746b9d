"""The built client is served with the right caching, client-side routes fall back to it."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from api.app import create_app
from api.settings import Settings
from tests.conftest import start_server


async def test_dist_files_cache_and_spa_fallback(settings: Settings, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><div id=root></div>")
    (dist / "assets" / "index-4f3a2b.js").write_text("console.log('app')")
    (dist / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("not for the web")
    running = await start_server(create_app(settings, web_dist=dist))
    try:
        async with aiohttp.ClientSession(base_url=running.base_url) as http:
            async with http.get("/assets/index-4f3a2b.js") as response:
                assert response.status == 200
                assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            for route in ("/", "/rooms/rm_AAAAAAAAAAAAAAAA", "/invite/some-token", "/verify-email"):
                async with http.get(route) as response:
                    assert response.status == 200, route
                    assert "id=root" in await response.text()
                    assert response.headers["Cache-Control"] == "no-cache"
            async with http.get("/favicon.svg") as response:
                assert await response.text() == "<svg/>"
            async with http.get("/%2e%2e/secret.txt") as response:
                assert "not for the web" not in await response.text()
            async with http.get("/api/nope") as response:
                assert response.status == 404
                assert (await response.json())["error"]["code"] == "not_found"
    finally:
        await running.runner.cleanup()


async def test_a_placeholder_until_the_client_is_built(settings: Settings, tmp_path: Path) -> None:
    running = await start_server(create_app(settings, web_dist=tmp_path / "missing"))
    try:
        async with (
            aiohttp.ClientSession(base_url=running.base_url) as http,
            http.get("/rooms") as response,
        ):
            assert response.status == 200
            assert "/api/openapi.json" in await response.text()
    finally:
        await running.runner.cleanup()


async def test_probe_and_metrics_paths_never_fall_back_to_the_page(
    settings: Settings, tmp_path: Path
) -> None:
    """A probe or scraper configured with a slash too many (`/readyz/`, `/healthz/`,
    `/metrics/`) or a sub-path must get 404, not the web page with 200: a readiness probe
    answered by the page would pass while the database is down or the server drains."""
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><div id=root></div>")
    for web_dist in (dist, tmp_path / "missing"):  # built client, and the placeholder
        running = await start_server(create_app(settings, web_dist=web_dist))
        try:
            async with aiohttp.ClientSession(base_url=running.base_url) as http:
                for path in ("/healthz/", "/readyz/", "/metrics/", "/readyz/x", "/metrics/x"):
                    for method in ("GET", "HEAD"):
                        async with http.request(method, path) as response:
                            assert response.status == 404, (method, path, web_dist)
                            assert "text/html" not in response.headers["Content-Type"]
                async with http.get("/healthz") as response:
                    assert response.status == 200
                async with http.get("/healthzone") as response:  # only the probe paths
                    assert "id=root" in await response.text() or web_dist != dist
        finally:
            await running.runner.cleanup()
