"""The whole product in Chromium: two people sign up, meet in a room and hear each other."""

from __future__ import annotations

import asyncio
import io
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from PIL import Image
from playwright.async_api import BrowserContext, Page, expect

from tests.e2e.conftest import Site, artifact
from tests.mailbox import Mailbox, link_in

NewContext = Callable[[], Awaitable[BrowserContext]]
PASSWORD = "correct horse battery staple"
AUDIO_TIMEOUT = 20.0


async def sign_up_and_in(page: Page, site: Site, mailbox: Mailbox, name: str) -> str:
    email = f"{name.lower()}-{secrets.token_hex(3)}@example.com"
    await page.goto("/signup")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.screenshot(path=artifact("sign-up"), full_page=True)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    await page.screenshot(path=artifact("check-email"), full_page=True)
    link = site.local(link_in(await mailbox.next_for(email)))
    await page.goto(link)
    await expect(page.get_by_role("heading", name="Email verified")).to_be_visible()
    await page.goto("/signin")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/rooms$"))
    return email


async def join(page: Page, muted: bool | None = None) -> None:
    """Passes the room's pre-join step: optionally sets "Join muted", then "Join"."""
    await expect(page.get_by_role("button", name="Join", exact=True)).to_be_visible()
    if muted is not None:
        await page.get_by_role("checkbox", name="Join muted").set_checked(muted)
    await page.get_by_role("button", name="Join", exact=True).click()
    await expect(page.get_by_role("button", name="Leave", exact=True)).to_be_visible()


async def create_room(page: Page, topic: str, private: bool, sfu: bool, enter: bool = True) -> str:
    """Creates the room through the lobby's form; `enter`: also joins its call."""
    await page.goto("/rooms")
    form = page.get_by_role("form", name="Create a room")
    await form.get_by_label("Topic").fill(topic)
    await form.get_by_label("Private" if private else "Public").check()
    await form.get_by_label("SFU" if sfu else "Mesh").check()
    await form.get_by_role("button", name="Create room").click()
    await expect(page).to_have_url(re.compile(r"/rooms/rm_[A-Za-z0-9_-]+$"))
    await expect(page.get_by_role("heading", name=topic)).to_be_visible()
    if enter:
        await join(page)
    return page.url


async def inbound(page: Page) -> list[dict[str, Any]]:
    stats: list[dict[str, Any]] = await page.evaluate(
        "() => window.gethoryCall ? window.gethoryCall.inboundAudioStats() : []"
    )
    return stats


async def hears_someone(page: Page) -> dict[str, Any]:
    """Waits until some inbound stream has packets and rising audio energy."""
    async with asyncio.timeout(AUDIO_TIMEOUT):
        first: dict[str, float] = {}
        while True:
            for stream in await inbound(page):
                source = stream["source"]
                rising = source in first and stream["totalAudioEnergy"] > first[source]
                if stream["packetsReceived"] > 0 and rising:
                    return stream
                first.setdefault(source, stream["totalAudioEnergy"])
            # Sampling getStats: the browser offers no event for "audio arrived".
            await asyncio.sleep(0.25)


async def packets(page: Page) -> int:
    return sum(int(s["packetsReceived"]) for s in await inbound(page))


async def test_private_sfu_room_with_an_invite(
    new_context: NewContext, site: Site, mailbox: Mailbox
) -> None:
    ann = await (await new_context()).new_page()
    await sign_up_and_in(ann, site, mailbox, "Ann")
    await ann.screenshot(path=artifact("rooms"), full_page=True)

    await ann.goto("/profile")
    await ann.get_by_label("Username").fill(f"ann_{secrets.token_hex(2)}")
    await ann.get_by_label("Bio").fill("Hosts the book club")
    await ann.get_by_role("button", name="Save profile").click()
    await expect(ann.get_by_text("Saved")).to_be_visible()
    png = io.BytesIO()
    Image.new("RGB", (320, 200), "teal").save(png, "PNG")
    await ann.get_by_label("Avatar").set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": png.getvalue()}
    )
    await ann.screenshot(path=artifact("profile"), full_page=True)

    room_url = await create_room(ann, "Book club", private=True, sfu=True)
    await expect(ann.get_by_text("SFU", exact=True)).to_be_visible()
    await ann.get_by_role("button", name="Copy invite link").click()
    invite = (await ann.get_by_label("Invite link").inner_text()).strip()
    assert "/invite/" in invite

    bob = await (await new_context()).new_page()
    await sign_up_and_in(bob, site, mailbox, "Bob")
    await bob.goto(invite)
    await expect(bob).to_have_url(room_url)
    await join(bob)
    participants = bob.get_by_role("list", name="Participants")
    await expect(participants.get_by_role("listitem")).to_have_count(2)

    await hears_someone(ann)
    await hears_someone(bob)
    await ann.screenshot(path=artifact("room-sfu"), full_page=True)

    await ann.get_by_role("button", name="Mute", exact=True).click()
    await expect(ann.get_by_role("button", name="Unmute", exact=True)).to_be_visible()
    await expect(participants.locator("[data-muted=true]")).to_have_count(1)
    # Packets already in flight may land; after that nothing more comes from Ann.
    await asyncio.sleep(1.0)
    before = await packets(bob)
    await asyncio.sleep(1.5)
    assert await packets(bob) - before <= 5

    await ann.get_by_role("button", name="Close room").click()
    await ann.get_by_role("dialog").get_by_role("button", name="Close room for everyone").click()
    await expect(bob.get_by_text("This room was closed")).to_be_visible()


async def test_public_mesh_room(new_context: NewContext, site: Site, mailbox: Mailbox) -> None:
    ann = await (await new_context()).new_page()
    await sign_up_and_in(ann, site, mailbox, "Ann")
    room_url = await create_room(ann, "Open mic", private=False, sfu=False)
    await expect(ann.get_by_text("Mesh", exact=True)).to_be_visible()

    bob = await (await new_context()).new_page()
    await sign_up_and_in(bob, site, mailbox, "Bob")
    await bob.get_by_role("link", name="Open mic").first.click()
    await expect(bob).to_have_url(room_url)
    await join(bob)

    await hears_someone(ann)
    await hears_someone(bob)
    await bob.screenshot(path=artifact("room-mesh"), full_page=True)

    await bob.get_by_role("button", name="Leave").click()
    participants = ann.get_by_role("list", name="Participants")
    await expect(participants.get_by_role("listitem")).to_have_count(1)
