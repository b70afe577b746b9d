"""A stage room in Chromium (issue 15): a host and two listeners. One listener raises a hand,
the host invites them, they accept and the other listener hears them; the host moves them back
to the audience and they are heard no more.

Listeners offer their microphone's sendonly transceiver from the start without a track; going
on the stage is `replaceTrack(mic)`, going back `replaceTrack(null)` (no renegotiation). The
host joins muted, so every sound the other listener receives is the promoted listener's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import BrowserContext, Page, expect

from tests.client import ApiClient
from tests.e2e.conftest import artifact
from tests.e2e.test_browser_calls import hears_someone, inbound, join
from tests.e2e.test_room_page import signed_in
from tests.mailbox import Mailbox

NewContext = Callable[[], Awaitable[BrowserContext]]
Api = Callable[[], ApiClient]
TOPIC = "Town hall"
# Packets already in flight when a voice stops may still land; after this, none should.
SETTLE_SECONDS = 1.5
QUIET_WINDOW_SECONDS = 2.0


async def create_stage_room(page: Page) -> str:
    """Through the lobby's form, "Stage room" ticked (it needs SFU); returns the room's id."""
    await page.goto("/rooms")
    form = page.get_by_role("form", name="Create a room")
    await form.get_by_label("Topic").fill(TOPIC)
    stage_box = form.get_by_role("checkbox", name="Stage room")
    await form.get_by_label("Mesh").check()
    await expect(stage_box).to_be_disabled()
    await form.get_by_label("SFU").check()
    await stage_box.check()
    await form.get_by_role("button", name="Create room").click()
    await expect(page).to_have_url(re.compile(r"/rooms/rm_[A-Za-z0-9_-]+$"))
    await expect(page.get_by_text("Stage", exact=True)).to_be_visible()
    return page.url.rsplit("/", 1)[1]


async def enter_as_listener(page: Page, room: str) -> None:
    await page.goto(f"/rooms/{room}")
    await expect(page.get_by_role("heading", name=TOPIC, level=1)).to_be_visible()
    await expect(page.get_by_role("button", name="Join", exact=True)).to_be_visible()
    # Unmuted: once on the stage, the listener is heard at once.
    await page.get_by_role("checkbox", name="Join muted").set_checked(False)
    await page.get_by_role("button", name="Join", exact=True).click()
    await expect(page.get_by_role("button", name="Raise hand")).to_be_visible()
    # A listener has no microphone to mute: it is not sent at all.
    await expect(page.get_by_role("button", name="Mute", exact=True)).to_have_count(0)
    await expect(page.get_by_role("button", name="Unmute", exact=True)).to_have_count(0)


def stage(page: Page) -> Any:
    return page.get_by_role("region", name="Stage").get_by_role("list", name="Stage")


def audience(page: Page) -> Any:
    return page.get_by_role("region", name="Audience")


async def energy(page: Page) -> tuple[float, int]:
    """The total audio energy and packets received over every receive slot."""
    streams = await inbound(page)
    return (
        sum(float(s["totalAudioEnergy"]) for s in streams),
        sum(int(s["packetsReceived"]) for s in streams),
    )


async def quiet_for(page: Page, seconds: float) -> tuple[float, int]:
    """How much energy and how many packets arrived over `seconds`."""
    energy_before, packets_before = await energy(page)
    await asyncio.sleep(seconds)  # a measuring window, not a wait for an event
    energy_after, packets_after = await energy(page)
    return energy_after - energy_before, packets_after - packets_before


async def slot_carrying(page: Page, user_id: str) -> int:
    """The receive slot that carries `user_id`'s voice, once `speakers` says so."""
    async with asyncio.timeout(10):
        while True:
            owners: list[str | None] = await page.evaluate(
                "() => window.gethoryCall ? window.gethoryCall.state.slotOwners : []"
            )
            if user_id in owners:
                return owners.index(user_id)
            await asyncio.sleep(0.1)  # polling state: `speakers` may lag the first packets


async def test_raise_hand_invite_speak_and_back_to_the_audience(
    new_context: NewContext, api: Api, mailbox: Mailbox
) -> None:
    ann = await signed_in(new_context, api, mailbox, "Ann")
    room = await create_stage_room(ann.page)
    await join(ann.page, muted=True)
    host = ann.page
    await expect(stage(host).get_by_role("listitem")).to_have_count(1)
    await expect(
        stage(host).get_by_role("listitem", name=re.compile(r"^Ann \(you\), host"))
    ).to_be_visible()

    bob = await signed_in(new_context, api, mailbox, "Bob")
    cat = await signed_in(new_context, api, mailbox, "Cat")
    await enter_as_listener(bob.page, room)
    await enter_as_listener(cat.page, room)
    # Audience joins reach the room together, at most once a second.
    await expect(audience(host).get_by_text("2 listening")).to_be_visible()
    await expect(audience(host).get_by_role("listitem")).to_have_count(2)
    await expect(audience(cat.page).get_by_role("listitem", name="Cat (you)")).to_be_visible()

    # Nobody on the stage speaks (the host is muted) and a listener sends nothing.
    await hears_nothing(cat.page)

    # Bob raises a hand; the host sees it in the queue and invites him.
    raise_hand = bob.page.get_by_role("button", name="Raise hand")
    await raise_hand.click()
    await expect(raise_hand).to_have_attribute("aria-pressed", "true")
    hands = host.get_by_role("region", name="Raised hands")
    await expect(hands.get_by_role("listitem")).to_have_count(1)
    await expect(hands.get_by_role("listitem").first).to_have_accessible_name(re.compile(r"^Bob, "))
    await host.screenshot(path=artifact("stage-host-raised-hand"), full_page=True)
    await hands.get_by_role("button", name="Invite Bob to speak").click()
    await expect(hands.get_by_text("Invited: waiting for an answer")).to_be_visible()

    # Bob accepts: he is on the stage, with Mute and "Leave stage", and Cat hears him.
    prompt = bob.page.get_by_role("alertdialog", name="Ann invites you to speak")
    await expect(prompt).to_be_visible()
    await expect(prompt.get_by_role("button", name="Join the stage")).to_be_focused()
    await bob.page.screenshot(path=artifact("stage-invite-prompt"), full_page=True)
    await prompt.get_by_role("button", name="Join the stage").click()
    await expect(prompt).to_have_count(0)
    await expect(bob.page.get_by_role("button", name="Mute", exact=True)).to_be_visible()
    await expect(bob.page.get_by_role("button", name="Leave stage")).to_be_visible()
    await expect(
        bob.page.get_by_role("status").filter(has_text="You are on the stage")
    ).to_be_visible()
    for page in (host, cat.page, bob.page):
        await expect(stage(page).get_by_role("listitem")).to_have_count(2)
        await expect(audience(page).get_by_text("1 listening")).to_be_visible()
    await expect(hands.get_by_role("listitem")).to_have_count(0)

    heard = await hears_someone(cat.page)
    bob_slot = await slot_carrying(cat.page, bob.user_id)
    assert heard["source"] == f"slot-{bob_slot}"
    await expect(
        stage(cat.page).get_by_role("listitem", name=re.compile(r"^Bob, microphone on"))
    ).to_be_visible()
    await host.screenshot(path=artifact("stage-view"), full_page=True)

    # The host moves Bob back: he is told, is a listener again, and Cat hears nothing more.
    await stage(host).get_by_role("button", name="Move Bob to the audience").click()
    await expect(bob.page.get_by_text("You are a listener again")).to_be_visible()
    await expect(bob.page.get_by_text("Ann moved you to the audience")).to_be_visible()
    await expect(bob.page.get_by_role("button", name="Raise hand")).to_have_attribute(
        "aria-pressed", "false"
    )
    await expect(bob.page.get_by_role("button", name="Mute", exact=True)).to_have_count(0)
    for page in (host, cat.page):
        await expect(stage(page).get_by_role("listitem")).to_have_count(1)
        await expect(audience(page).get_by_text("2 listening")).to_be_visible()
    await hears_nothing(cat.page)
    await bob.page.screenshot(path=artifact("stage-audience-view"), full_page=True)


async def hears_nothing(page: Page) -> None:
    """No voice reaches `page` any more: (almost) no packets and no rising energy."""
    await asyncio.sleep(SETTLE_SECONDS)  # packets in flight may still land
    gained, received = await quiet_for(page, QUIET_WINDOW_SECONDS)
    assert received <= 5, f"{received} packets in {QUIET_WINDOW_SECONDS} s"
    assert gained < 1e-4, f"audio energy rose by {gained}"
