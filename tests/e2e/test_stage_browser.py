"""A stage room in Chromium (issue 15): a host and two listeners. One listener raises a hand,
the host invites them, they accept and the other listener hears them; the host moves them back
to the audience and they are heard no more. Also: the same by keyboard with a declined
invitation, "Leave stage", a removal and its ban, an audience of 60 paged in as it scrolls, and
axe-core on the stage views.

Listeners offer their microphone's sendonly transceiver from the start without a track; going
on the stage is `replaceTrack(mic)`, going back `replaceTrack(null)` (no renegotiation). The
host joins muted, so every sound the other listener receives is the promoted listener's.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.client import ApiClient
from tests.conftest import RunningServer
from tests.e2e.conftest import Site, artifact
from tests.e2e.test_accessibility import AXE_SCRIPT, BLOCKING, axe_violations
from tests.e2e.test_browser_calls import hears_someone, inbound, join
from tests.e2e.test_room_page import signed_in
from tests.mailbox import Mailbox
from tests.stage_people import CrowdSockets, crowd

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


class SfuOffers:
    """The `sfu-join` offers a page sends over its Socket.IO websocket, as sent."""

    def __init__(self, page: Page) -> None:
        self.sdps: list[str] = []
        self.offered = asyncio.Event()
        page.on("websocket", lambda ws: ws.on("framesent", self._sent))

    def _sent(self, frame: str | bytes) -> None:
        # Socket.IO event packet: 4 (message) 2 (event), an ack id, then [name, payload].
        if isinstance(frame, str) and (match := SFU_JOIN.match(frame)):
            self.sdps.append(json.loads(match.group(1))[1]["sdp"])
            self.offered.set()


SFU_JOIN = re.compile(r'^42\d*(\["sfu-join",.*)$', re.DOTALL)


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
    bob_offers = SfuOffers(bob.page)
    await enter_as_listener(bob.page, room)
    await enter_as_listener(cat.page, room)
    # Bob's one offer carries his microphone's section (sendonly, no track yet) and the slots.
    await asyncio.wait_for(bob_offers.offered.wait(), 10)
    assert bob_offers.sdps[0].count("a=sendonly") == 1
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
    # On the stage and back by replaceTrack: never a new offer.
    assert len(bob_offers.sdps) == 1


async def hears_nothing(page: Page) -> None:
    """No voice reaches `page` any more: (almost) no packets and no rising energy."""
    await asyncio.sleep(SETTLE_SECONDS)  # packets in flight may still land
    gained, received = await quiet_for(page, QUIET_WINDOW_SECONDS)
    assert received <= 5, f"{received} packets in {QUIET_WINDOW_SECONDS} s"
    assert gained < 1e-4, f"audio energy rose by {gained}"


async def test_by_keyboard_decline_accept_leave_the_stage_and_a_removal_with_its_ban(
    new_context: NewContext, api: Api, mailbox: Mailbox
) -> None:
    ann = await signed_in(new_context, api, mailbox, "Ann")
    room = await ann.create_room(TOPIC, media="sfu", stage=True)
    host = ann.page
    await host.goto(f"/rooms/{room}")
    await join(host, muted=True)
    bob = await signed_in(new_context, api, mailbox, "Bob")
    cat = await signed_in(new_context, api, mailbox, "Cat")
    await enter_as_listener(bob.page, room)
    await enter_as_listener(cat.page, room)
    await expect(audience(host).get_by_text("2 listening")).to_be_visible()

    # Bob raises his hand with the space bar; Ann invites him with Enter.
    raise_hand = bob.page.get_by_role("button", name="Raise hand")
    await raise_hand.focus()
    await bob.page.keyboard.press("Space")
    await expect(raise_hand).to_have_attribute("aria-pressed", "true")
    hands = host.get_by_role("region", name="Raised hands")
    invite = hands.get_by_role("button", name="Invite Bob to speak")
    await invite.focus()
    await host.keyboard.press("Enter")

    # Escape says "Not now": the host sees it declined, nothing else changes.
    prompt = bob.page.get_by_role("alertdialog", name="Ann invites you to speak")
    await expect(prompt.get_by_role("button", name="Join the stage")).to_be_focused()
    await bob.page.keyboard.press("Escape")
    await expect(prompt).to_have_count(0)
    await expect(hands.get_by_text("Declined the invitation")).to_be_visible()
    await expect(stage(host).get_by_role("listitem")).to_have_count(1)
    await expect(bob.page.get_by_role("button", name="Mute", exact=True)).to_have_count(0)

    # Invited again, Bob accepts with Enter; then steps down with "Leave stage".
    await invite.focus()
    await host.keyboard.press("Enter")
    await expect(prompt.get_by_role("button", name="Join the stage")).to_be_focused()
    await bob.page.keyboard.press("Enter")
    leave_stage = bob.page.get_by_role("button", name="Leave stage")
    await expect(leave_stage).to_be_visible()
    await expect(stage(host).get_by_role("listitem")).to_have_count(2)

    # The owner makes Bob a co-host (he then sees the queue, Cat's hand in it) and back.
    await cat.page.get_by_role("button", name="Raise hand").click()
    await expect(hands.get_by_role("listitem")).to_have_count(1)
    await stage(host).get_by_role("button", name="Make Bob a co-host").click()
    await expect(bob.page.get_by_text("You are a co-host now")).to_be_visible()
    await expect(
        stage(host).get_by_role("listitem", name=re.compile(r"^Bob, co-host"))
    ).to_be_visible()
    bob_hands = bob.page.get_by_role("region", name="Raised hands")
    await expect(bob_hands.get_by_role("listitem", name=re.compile(r"^Cat, "))).to_be_visible()
    await stage(host).get_by_role("button", name="Make Bob a speaker").click()
    await expect(
        bob.page.get_by_text("You are a speaker now, no longer a co-host.")
    ).to_be_visible()
    await expect(bob_hands).to_have_count(0)
    await leave_stage.focus()
    await bob.page.keyboard.press("Enter")
    await expect(
        bob.page.get_by_text("You are a listener again: you left the stage.")
    ).to_be_visible()
    await expect(bob.page.get_by_role("button", name="Raise hand")).to_be_focused()
    await expect(stage(host).get_by_role("listitem")).to_have_count(1)

    # Ann removes Cat (a public room: banned while it is open); Cat cannot come back.
    await audience(host).get_by_role("button", name="Remove Cat").click()
    dialog = host.get_by_role("dialog", name="Remove Cat from the room?")
    await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    await dialog.get_by_role("button", name="Remove from the room").click()
    await expect(
        cat.page.get_by_text(
            "Ann removed you from this room. You cannot come back while it is open."
        )
    ).to_be_visible()
    await expect(audience(host).get_by_text("1 listening")).to_be_visible()
    await cat.page.screenshot(path=artifact("stage-removed"), full_page=True)
    await cat.page.goto(f"/rooms/{room}")
    await expect(cat.page.get_by_role("heading", name="Cannot open this room")).to_be_visible()
    await expect(cat.page.get_by_text("you cannot come back while it is open")).to_be_visible()

    # Ann ends the room: Bob is told.
    await host.get_by_role("button", name="Close room", exact=True).click()
    await host.get_by_role("dialog").get_by_role("button", name="Close room for everyone").click()
    await expect(bob.page.get_by_text("This room was closed")).to_be_visible()


async def test_an_audience_of_sixty_pages_in_as_it_scrolls_and_follows_leaves(
    new_context: NewContext, api: Api, mailbox: Mailbox, site: Site
) -> None:
    ann = await signed_in(new_context, api, mailbox, "Ann")
    room = await ann.create_room(TOPIC, media="sfu", stage=True)
    # 60 listeners over Socket.IO (accounts written through the server's stores: fast).
    server = RunningServer(site.runner.app, site.runner, site.base_url)
    members = await crowd(server, 60, prefix="listener")
    sockets = CrowdSockets(site.base_url)
    try:
        connected = [await sockets.open(member) for member in members]
        for socket in connected:
            await socket.join(room)

        bob = await signed_in(new_context, api, mailbox, "Bob")
        await enter_as_listener(bob.page, room)
        listeners = audience(bob.page)
        await expect(listeners.get_by_text("61 listening")).to_be_visible()
        # room-state brought the first page of 50; the rest comes as the list scrolls.
        items = listeners.get_by_role("list", name="Audience").get_by_role("listitem")
        await expect(items).to_have_count(50)
        await bob.page.screenshot(path=artifact("stage-audience-first-page"), full_page=True)
        await listeners.locator(".audience-scroll").evaluate(
            "(el) => { el.scrollTop = el.scrollHeight; }"
        )
        await expect(items).to_have_count(61)
        await expect(items.filter(has_text="Bob")).to_have_count(1)
        await expect(listeners.get_by_role("button", name="Show more listeners")).to_have_count(0)

        # Two leave: the audience-update (at most a second later) takes them off the list.
        for socket in connected[:2]:
            await socket.close()
        await expect(listeners.get_by_text("59 listening")).to_be_visible()
        await expect(items).to_have_count(59)
    finally:
        await sockets.close()


async def blocking_axe_violations(page: Page) -> list[str]:
    """Serious and critical axe violations in the light and the dark colour scheme."""
    found = []
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        for v in await axe_violations(page):
            if v["impact"] in BLOCKING:
                targets = "; ".join(n["target"] for n in v["nodes"][:5])
                found.append(f"{scheme}: {v['id']} ({v['impact']}) {v['help']}: {targets}")
    return found


async def test_no_serious_axe_violation_on_the_stage_views(
    browser: Browser, api: Api, mailbox: Mailbox, site: Site
) -> None:
    assert AXE_SCRIPT.is_file(), "web/node_modules is not installed: `make test` installs it"
    contexts: list[BrowserContext] = []

    async def axe_context() -> BrowserContext:
        # CSP bypassed only so that the injected axe script may run (as test_accessibility).
        context = await browser.new_context(
            base_url=site.base_url, permissions=["microphone"], bypass_csp=True
        )
        contexts.append(context)
        return context

    try:
        ann = await signed_in(axe_context, api, mailbox, "Ann")
        room = await ann.create_room(TOPIC, media="sfu", stage=True)
        await ann.page.goto(f"/rooms/{room}")
        await join(ann.page)
        bob = await signed_in(axe_context, api, mailbox, "Bob")
        await enter_as_listener(bob.page, room)
        await bob.page.get_by_role("button", name="Raise hand").click()
        hands = ann.page.get_by_role("region", name="Raised hands")
        await hands.get_by_role("button", name="Invite Bob to speak").click()
        await expect(bob.page.get_by_role("alertdialog")).to_be_visible()
        await expect(hands.get_by_text("Invited: waiting for an answer")).to_be_visible()
        found = await blocking_axe_violations(ann.page)
        found += await blocking_axe_violations(bob.page)
        await bob.page.get_by_role("button", name="Join the stage").click()
        await expect(bob.page.get_by_role("button", name="Leave stage")).to_be_visible()
        found += await blocking_axe_violations(bob.page)
        assert not found, "axe found serious or critical violations:\n" + "\n".join(found)
    finally:
        for context in contexts:
            await context.close()
