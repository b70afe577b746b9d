"""`/metrics` in production (issue 13): only with `Authorization: Bearer <METRICS_TOKEN>`, off
(404) without METRICS_TOKEN, open in development. The real app, in production mode, on the
tests' Mongo-wire server and SMTP server."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from multidict import CIMultiDictProxy
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.settings import Settings
from tests.conftest import RunningServer, start_server

TOKEN = secrets.token_urlsafe(32)


async def _serve(settings: Settings) -> AsyncIterator[str]:
    running: RunningServer = await start_server(create_app(settings))
    yield running.base_url
    await running.runner.cleanup()


@pytest.fixture
async def production(with_settings: Callable[..., Settings]) -> AsyncIterator[str]:
    async for url in _serve(with_settings(environment="production", metrics_token=TOKEN)):
        yield url


@pytest.fixture
async def production_without_token(with_settings: Callable[..., Settings]) -> AsyncIterator[str]:
    async for url in _serve(with_settings(environment="production", metrics_token=None)):
        yield url


async def scrape(base_url: str, **headers: str) -> tuple[int, CIMultiDictProxy[str], str]:
    async with (
        aiohttp.ClientSession(base_url=base_url) as http,
        http.get("/metrics", headers=headers) as response,
    ):
        return response.status, response.headers, await response.text()


def metric_names(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Bearer {TOKEN[:-1]}",  # one character short
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}{'A' if TOKEN[-1] != 'A' else 'B'}",  # same length, one differs
        f"Basic {TOKEN}",
        f"Token {TOKEN}",
        f"Bearer {TOKEN.upper() if TOKEN.upper() != TOKEN else TOKEN.lower()}",
        "Bearer \u00e9t\u00e9",  # not ASCII: compared as bytes, never an error
    ],
)
async def test_production_refuses_metrics_without_the_token(
    production: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    status, response_headers, text = await scrape(production, **headers)
    assert status == 401, text
    assert response_headers["WWW-Authenticate"] == "Bearer"
    assert response_headers["Content-Type"].startswith("application/json")
    assert '"code":"not_authenticated"' in text
    assert "gethory_" not in text and "# HELP" not in text


async def test_production_serves_metrics_with_the_token(production: str) -> None:
    for scheme in ("Bearer", "bearer"):  # RFC 9110 §11.1: the scheme is case-insensitive
        status, _, text = await scrape(production, Authorization=f"{scheme} {TOKEN}")
        assert status == 200, text
        assert {"gethory_http_requests", "gethory_sfu_rooms"} <= metric_names(text)


async def test_production_without_a_metrics_token_has_no_metrics(
    production_without_token: str,
) -> None:
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": f"Bearer {TOKEN}"}):
        status, _, text = await scrape(production_without_token, **headers)
        assert status == 404, text
        assert '"code":"not_found"' in text and "gethory_" not in text


async def test_development_metrics_stay_open(server: RunningServer) -> None:
    status, _, text = await scrape(server.base_url)
    assert status == 200, text
    assert "gethory_http_requests" in metric_names(text)
