"""Chromium people whose only path is a real coturn: the web client takes the ICE servers of
`/api/rtc/ice-servers` (TURN with time-limited credentials) and the call carries audio.

Relay-only is forced from outside the app, as a browser behind a UDP-blocking firewall would
experience it: an init script wraps `RTCPeerConnection` so every connection the client creates
has `iceTransportPolicy: "relay"` (and is kept for getStats). The client's own code is
unchanged: if it passed no TURN server, no candidate would be gathered and nothing heard.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page

from api.settings import Settings, TurnSettings
from tests.coturn import Coturn
from tests.e2e.conftest import Site, artifact
from tests.e2e.test_browser_calls import create_room, hears_someone, join, sign_up_and_in
from tests.mailbox import Mailbox

NewContext = Callable[[], Awaitable[BrowserContext]]

RELAY_ONLY = """
(() => {
  const Native = window.RTCPeerConnection;
  window.__peerConnections = [];
  window.__rtcConfigurations = [];
  window.RTCPeerConnection = function (config = {}) {
    const relayed = { ...config, iceTransportPolicy: "relay" };
    window.__rtcConfigurations.push(JSON.parse(JSON.stringify(relayed)));
    const pc = new Native(relayed);
    window.__peerConnections.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
  Object.setPrototypeOf(window.RTCPeerConnection, Native);
})();
"""

# The configurations the app creates its connections with, unchanged.
KEEP_CONFIGURATIONS = """
(() => {
  const Native = window.RTCPeerConnection;
  window.__rtcConfigurations = [];
  window.RTCPeerConnection = function (config = {}) {
    window.__rtcConfigurations.push(JSON.parse(JSON.stringify(config)));
    return new Native(config);
  };
  window.RTCPeerConnection.prototype = Native.prototype;
  Object.setPrototypeOf(window.RTCPeerConnection, Native);
})();
"""

# The candidate types of each connected peer connection's selected pair (RTCStats: transport →
# selectedCandidatePairId → candidate-pair → local/remote candidate).
SELECTED_PAIRS = """
async () => {
  const pairs = [];
  for (const pc of window.__peerConnections) {
    if (pc.connectionState !== "connected") continue;
    const stats = new Map();
    (await pc.getStats()).forEach((s) => stats.set(s.id, s));
    for (const s of stats.values()) {
      if (s.type !== "transport" || !s.selectedCandidatePairId) continue;
      const pair = stats.get(s.selectedCandidatePairId);
      pairs.push({
        local: stats.get(pair.localCandidateId).candidateType,
        remote: stats.get(pair.remoteCandidateId).candidateType,
        bytesReceived: pair.bytesReceived,
      });
    }
  }
  return pairs;
}
"""


@pytest.fixture
async def coturn(tmp_path: Path) -> AsyncIterator[Coturn]:
    async with Coturn(tmp_path / "coturn") as server:
        yield server


@pytest.fixture
def settings(settings: Settings, coturn: Coturn) -> Settings:
    """The site hands out credentials for this coturn (TURN_URLS, TURN_SECRET)."""
    return replace(settings, turn=TurnSettings(urls=coturn.urls, secret=coturn.secret))


async def relay_only_page(new_context: NewContext) -> Page:
    context = await new_context()
    await context.add_init_script(RELAY_ONLY)
    return await context.new_page()


async def selected_pairs(page: Page, expected: int) -> list[dict[str, Any]]:
    """Waits until `expected` connections have a selected pair (getStats has no event)."""
    async with asyncio.timeout(20):
        while True:
            pairs: list[dict[str, Any]] = await page.evaluate(SELECTED_PAIRS)
            if len(pairs) >= expected:
                return pairs
            await asyncio.sleep(0.25)


def check_turn_configuration(configurations: list[dict[str, Any]], coturn: Coturn) -> None:
    """Every connection was given this coturn with a credential it accepts (computed here)."""
    assert configurations, "the client created no peer connection"
    for configuration in configurations:
        [server] = [s for s in configuration["iceServers"] if "username" in s]
        assert server["urls"] == list(coturn.urls)
        mac = hmac.new(coturn.secret.encode(), server["username"].encode(), hashlib.sha1)
        assert server["credential"] == base64.b64encode(mac.digest()).decode()


@pytest.mark.parametrize("sfu", [False, True], ids=["mesh", "sfu"])
async def test_relay_only_browsers_hear_each_other_through_coturn(
    new_context: NewContext, site: Site, mailbox: Mailbox, coturn: Coturn, sfu: bool
) -> None:
    ann = await relay_only_page(new_context)
    await sign_up_and_in(ann, site, mailbox, "Ann")
    room_url = await create_room(ann, "Behind a firewall", private=False, sfu=sfu)
    bob = await relay_only_page(new_context)
    await sign_up_and_in(bob, site, mailbox, "Bob")
    await bob.goto(room_url)
    await join(bob)

    await hears_someone(ann)
    await hears_someone(bob)
    await bob.screenshot(path=artifact("room-turn"), full_page=True)
    for page in (ann, bob):
        check_turn_configuration(await page.evaluate("window.__rtcConfigurations"), coturn)
        [pair] = await selected_pairs(page, 1)
        # Mesh: both ends relay. SFU: the browser relays, the server answers from its host
        # candidate (it needs no TURN).
        assert pair["local"] == "relay", pair
        assert pair["remote"] == ("host" if sfu else "relay"), pair
        assert pair["bytesReceived"] > 0, pair


async def test_a_call_goes_on_without_ice_servers_when_the_endpoint_fails(
    new_context: NewContext, site: Site, mailbox: Mailbox
) -> None:
    """On one machine host candidates suffice: a failed fetch is logged, not fatal."""
    pages: list[Page] = []
    warnings: list[str] = []
    for name in ("Ann", "Bob"):
        context = await new_context()
        await context.add_init_script(KEEP_CONFIGURATIONS)
        await context.route(
            "**/api/rtc/ice-servers",
            lambda route: route.fulfill(status=503, json={"error": {"code": "unavailable"}}),
        )
        page = await context.new_page()
        page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
        await sign_up_and_in(page, site, mailbox, name)
        pages.append(page)
    ann, bob = pages
    room_url = await create_room(ann, "No TURN today", private=False, sfu=False)
    await bob.goto(room_url)
    await join(bob)
    await hears_someone(ann)
    await hears_someone(bob)
    for page in pages:
        configurations = await page.evaluate("window.__rtcConfigurations")
        assert configurations and all(c["iceServers"] == [] for c in configurations)
    assert any("no ICE servers" in text for text in warnings), warnings
