"""Headless Chromium (Debian's) driven by Playwright against the real server and built client."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, async_playwright

from api.app import create_app
from api.settings import Settings
from tests.client import ApiClient
from tests.people import Person

REPO = Path(__file__).resolve().parents[2]
# GETHORY_WEB_DIST: another build of the client (e.g. an older commit's, to see a test fail).
WEB_DIST = Path(os.environ.get("GETHORY_WEB_DIST") or REPO / "web" / "dist")
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
# DESIGN §5: fake microphone (a beeping tone), no permission prompts, loopback ICE allowed,
# and none of Chromium's own traffic to the outside.
CHROMIUM_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--no-first-run",
    "--no-sandbox",
]


@pytest.fixture(scope="session", autouse=True)
def only_loopback() -> None:
    interfaces = [name for _, name in socket.if_nameindex()]
    if interfaces != ["lo"]:
        pytest.fail(
            f"browser tests run only where loopback is the sole interface (found {interfaces}):"
            " run them through `make test` (scripts/isolated)"
        )
    if not (WEB_DIST / "index.html").is_file():
        pytest.fail("web/dist is not built: run `make test` (it runs `npm run build`)")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture(scope="session")
async def asking_browser() -> AsyncIterator[Browser]:
    """Chromium that asks for the microphone as a real one does (no fake prompt that always
    says yes): a context's permissions decide, so a test can deny and later allow it."""
    args = [arg for arg in CHROMIUM_ARGS if arg != "--use-fake-ui-for-media-stream"]
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=args, headless=True
        )
        yield launched
        await launched.close()


class Site:
    def __init__(self, base_url: str, runner: web.AppRunner) -> None:
        self.base_url = base_url
        self.runner = runner

    def local(self, link: str) -> str:
        """An emailed link, which already points at this site."""
        assert link.startswith(self.base_url), link
        return link


@pytest.fixture
async def site(settings: Settings) -> AsyncIterator[Site]:
    """The app on a port chosen first, so APP_ORIGIN (links, the origin check) matches it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    origin = f"http://127.0.0.1:{port}"
    app = create_app(replace(settings, app_origin=origin), web_dist=WEB_DIST)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield Site(origin, runner)
    await runner.cleanup()


@pytest.fixture
async def new_context(
    browser: Browser, site: Site
) -> AsyncIterator[Callable[[], Awaitable[BrowserContext]]]:
    contexts: list[BrowserContext] = []

    async def make() -> BrowserContext:
        context = await browser.new_context(base_url=site.base_url, permissions=["microphone"])
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        await context.close()


@pytest.fixture
async def new_asking_context(
    asking_browser: Browser, site: Site
) -> AsyncIterator[Callable[[], Awaitable[BrowserContext]]]:
    """Contexts of `asking_browser` with the microphone not allowed (yet)."""
    contexts: list[BrowserContext] = []

    async def make() -> BrowserContext:
        context = await asking_browser.new_context(base_url=site.base_url)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        await context.close()


def artifact(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / f"{name}-{secrets.token_hex(2)}.png")


@pytest.fixture
async def api(site: Site) -> AsyncIterator[Callable[[], ApiClient]]:
    """REST clients of the test's site, each with its own cookie jar."""
    sessions: list[aiohttp.ClientSession] = []

    def make() -> ApiClient:
        session = aiohttp.ClientSession(
            base_url=site.base_url, cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        sessions.append(session)
        return ApiClient(session)

    yield make
    for session in sessions:
        await session.close()


@pytest.fixture
async def people() -> AsyncIterator[list[Person]]:
    """Socket-only people a test signed up; their sockets closed after it."""
    signed_up: list[Person] = []
    yield signed_up
    for someone in signed_up:
        await someone.close()
