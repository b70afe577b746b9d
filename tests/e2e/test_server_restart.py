"""A server restart seen from the room page: the drain's notice, then the call back on the
restarted server without the person doing anything (docs/protocol.md, "Server restarts")."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, expect

from api.app import create_app
from api.drain import DRAIN
from api.settings import Settings
from api.signaling.hub import SIGNALING
from tests.e2e.conftest import WEB_DIST, Site, artifact
from tests.e2e.test_browser_calls import create_room, sign_up_and_in
from tests.mailbox import Mailbox

DRAIN_SECONDS = 3.0
RESTARTING = "The server is restarting; you will be reconnected."
RECONNECTING = "The server is restarting; reconnecting you…"


class Restartable:
    """The app on one port, stopped and started again (same settings, same database), the
    way an operator's restart replaces one process with the next."""

    def __init__(self, settings: Settings) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.settings = replace(settings, app_origin=self.origin, drain_seconds=DRAIN_SECONDS)
        self.app: web.Application | None = None
        self.runner: web.AppRunner | None = None

    async def start(self) -> Site:
        self.app = create_app(self.settings, web_dist=WEB_DIST)
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return Site(self.origin, self.runner)

    async def drain_and_stop(self) -> str:
        """What `gethory` does on SIGTERM (api.__main__.serve): drain, then stop."""
        assert self.app is not None and self.runner is not None
        outcome = await self.app[DRAIN].run(self.app[SIGNALING])
        await self.stop()
        return outcome

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def restartable(settings: Settings) -> AsyncIterator[Restartable]:
    server = Restartable(settings)
    yield server
    await server.stop()


async def call_state(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = await page.evaluate("() => window.gethoryCall.state")
    return state


async def test_the_room_page_shows_the_restart_and_rejoins_by_itself(
    browser: Browser, restartable: Restartable, mailbox: Mailbox
) -> None:
    site = await restartable.start()
    context = await browser.new_context(base_url=site.base_url, permissions=["microphone"])
    try:
        page = await context.new_page()
        await sign_up_and_in(page, site, mailbox, "Ann")
        await create_room(page, "Restart drill", private=False, sfu=True)
        # The call's status line (role=status, aria-live=polite): read by screen readers.
        status = page.locator(".call-status")
        await expect(status).to_have_attribute("role", "status")
        await expect(status).to_have_attribute("aria-live", "polite")
        await expect(status).to_have_text("Connected", timeout=15_000)

        draining = asyncio.create_task(restartable.drain_and_stop())
        await expect(status).to_have_text(RESTARTING, timeout=5_000)
        await page.screenshot(path=artifact("server-restarting"), full_page=True)
        assert (await call_state(page))["restart"] == "announced"
        # Ann stays: the drain waits DRAIN_SECONDS, then closes her call.
        assert await asyncio.wait_for(draining, DRAIN_SECONDS + 10) == "deadline"
        await expect(status).to_have_text(RECONNECTING)

        await restartable.start()
        await expect(status).to_have_text("Connected", timeout=20_000)
        state = await call_state(page)
        assert state["restart"] is None and state["status"] == "connected", state
        assert state["serverConnection"] == "connected", state
        assert restartable.app is not None
        hub = restartable.app[SIGNALING]
        assert hub.state.room_count() == 1, "Ann is in the room on the restarted server"
        assert hub.services.sfu.participant_count() == 1, "with her media connection"
    finally:
        await context.close()
