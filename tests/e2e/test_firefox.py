"""Firefox ESR in calls: it publishes into and listens in an sfu room next to an aiortc
participant, and holds a mesh call with Chromium (issue 11: every standards-following WebRTC
client can publish and listen).

Firefox differs from Chromium where it matters here: Opus on payload type 109 (Chromium and
aiortc use 111), its own ICE agent and DTLS stack, and it never pairs ICE candidates on
127.0.0.1. scripts/isolated therefore also puts 192.0.2.1 on loopback, and the server gathers
on it too (the `settings` override below).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, expect

from api.settings import Settings
from tests.client import PASSWORD, ApiClient
from tests.e2e.conftest import Site, artifact
from tests.e2e.firefox import Firefox
from tests.e2e.test_browser_calls import create_room, hears_someone, sign_up_and_in
from tests.e2e.test_rtcp_browser import KEEP_PEER_CONNECTIONS
from tests.mailbox import Mailbox
from tests.people import Person, sign_up
from tests.sfu_client import SfuClient

NewContext = Callable[[], Awaitable[BrowserContext]]
# The address Firefox gathers on inside scripts/isolated's namespace.
FIREFOX_ADDRESS = "192.0.2.1"
# Firefox's fake microphone tone (firefox_driver.mjs sets media.navigator.audio.fake_frequency).
FIREFOX_TONE = 1000.0
AIORTC_TONE = 440.0
AUDIO_TIMEOUT = 20.0

# Firefox's audio RTP counters, from the peer connections KEEP_PEER_CONNECTIONS kept: the
# app's own stats helper is not what this test should trust for a browser it never ran in.
AUDIO_RTP = """
async () => {
  const found = [];
  for (const pc of window.__peerConnections || []) {
    if (pc.connectionState !== "connected") continue;
    (await pc.getStats()).forEach((s) => {
      const wanted = s.type === "inbound-rtp" || s.type === "outbound-rtp";
      if (!wanted || s.kind !== "audio") return;
      found.push({
        type: s.type,
        ssrc: s.ssrc,
        packetsReceived: s.packetsReceived ?? 0,
        totalAudioEnergy: s.totalAudioEnergy ?? 0,
        packetsSent: s.packetsSent ?? 0,
      });
    });
  }
  return found;
}
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings, with the server also gathering ICE candidates on Firefox's
    address (Firefox pairs nothing on 127.0.0.1; Chromium and aiortc keep using it)."""
    rtc = replace(settings.sfu.rtc, host_addresses=("127.0.0.1", FIREFOX_ADDRESS))
    return replace(settings, sfu=replace(settings.sfu, rtc=rtc))


@pytest.fixture
async def firefox(site: Site, tmp_path: Path) -> AsyncIterator[Firefox]:
    browser = await Firefox.launch(tmp_path / "firefox-profile", site.base_url)
    await browser.init_script(KEEP_PEER_CONNECTIONS)
    yield browser
    await browser.close()


async def account(api: Callable[[], ApiClient], mailbox: Mailbox, name: str) -> tuple[str, str]:
    """A verified account made over REST; returns (email, user id)."""
    http = api()
    email = await http.register_verified(mailbox, name)
    reply = await http.login(email)
    return email, str(reply.body["user"]["id"])


async def sign_in(firefox: Firefox, email: str) -> None:
    """Through the sign-in page, as a person would; done once the rooms page shows."""
    await firefox.goto("/signin")
    await firefox.type("#signin-email", email)
    await firefox.type("#signin-password", PASSWORD)
    await firefox.click("form button[type=submit]")
    await firefox.wait_for('::-p-aria([name="Rooms"][role="heading"])')


async def enter_room(firefox: Firefox, room_url: str, topic: str) -> None:
    """Opens the room and passes its pre-join step (microphone check, "Join")."""
    await firefox.goto(room_url.removeprefix(firefox.base_url))
    await firefox.wait_for(f'::-p-aria([name="{topic}"][role="heading"])')
    await firefox.click('::-p-aria([name="Join"][role="button"])')
    await firefox.wait_for('::-p-aria([name="Leave"][role="button"])')


async def firefox_hears(firefox: Firefox) -> dict[str, Any]:
    """Waits until some inbound audio stream in Firefox has packets and rising energy; returns
    it with Firefox's outbound streams beside it."""
    seen: list[dict[str, Any]] = []
    first: dict[int, float] = {}
    try:
        async with asyncio.timeout(AUDIO_TIMEOUT):
            while True:
                seen = await firefox.evaluate(AUDIO_RTP)
                outbound = [s for s in seen if s["type"] == "outbound-rtp"]
                for s in seen:
                    if s["type"] != "inbound-rtp":
                        continue
                    rising = s["ssrc"] in first and s["totalAudioEnergy"] > first[s["ssrc"]]
                    if s["packetsReceived"] > 0 and rising:
                        return {**s, "outbound": outbound}
                    first.setdefault(s["ssrc"], s["totalAudioEnergy"])
                # Sampling getStats: the browser offers no event for "audio arrived".
                await asyncio.sleep(0.25)
    except TimeoutError:
        raise AssertionError(f"Firefox heard nothing in {AUDIO_TIMEOUT} s: {seen}") from None


async def next_speakers(
    client: SfuClient, wanted: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first `speakers` event (who is on which of the client's slots) that fits."""
    async with asyncio.timeout(AUDIO_TIMEOUT):
        while True:
            update: dict[str, Any] = await client.socket.next("speakers", AUDIO_TIMEOUT)
            if wanted(update):
                return update


async def test_firefox_publishes_into_and_listens_in_an_sfu_room(
    site: Site,
    settings: Settings,
    mailbox: Mailbox,
    firefox: Firefox,
    api: Callable[[], ApiClient],
    people: list[Person],
    sfu_clients: list[SfuClient],
) -> None:
    ann = await sign_up("Ann", api, mailbox, site.base_url)
    people.append(ann)
    topic = "Firefox on the stage"
    room = await ann.create_room(topic=topic, visibility="public", media="sfu")
    # Ann is aiortc: a 440 Hz tone up, the room's slots down, each slot probed.
    socket = await ann.socket()
    await socket.join(room)
    listener = SfuClient(socket, settings.sfu.rtc, slots=3, frequency=AIORTC_TONE)
    sfu_clients.append(listener)
    await listener.join(room)

    email, fox_id = await account(api, mailbox, "Fox")
    await sign_in(firefox, email)
    await enter_room(firefox, f"{site.base_url}/rooms/{room}", topic)

    # Firefox → server → aiortc: Firefox's fake microphone takes a slot and is heard there.
    update = await next_speakers(listener, lambda u: fox_id in u["slots"])
    await listener.wait_for_slot(update["slots"].index(fox_id), FIREFOX_TONE, AUDIO_TIMEOUT)
    # aiortc → server → Firefox: Ann's tone plays in Firefox.
    heard = await firefox_hears(firefox)
    assert heard["outbound"] and all(s["packetsSent"] > 0 for s in heard["outbound"]), heard
    await firefox.screenshot(artifact("firefox-room-sfu"))


async def test_firefox_and_chromium_hear_each_other_in_a_mesh_room(
    site: Site,
    mailbox: Mailbox,
    firefox: Firefox,
    api: Callable[[], ApiClient],
    new_context: NewContext,
) -> None:
    chromium = await (await new_context()).new_page()
    await sign_up_and_in(chromium, site, mailbox, "Ann")
    topic = "Two browsers"
    room_url = await create_room(chromium, topic, private=False, sfu=False)

    email, _ = await account(api, mailbox, "Fox")
    await sign_in(firefox, email)
    await enter_room(firefox, room_url, topic)
    participants = chromium.get_by_role("list", name="Participants")
    await expect(participants.get_by_role("listitem")).to_have_count(2)

    await hears_someone(chromium)
    await firefox_hears(firefox)
    await firefox.screenshot(artifact("firefox-room-mesh"))
