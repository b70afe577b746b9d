"""The lobby in Chromium (issue 12, items 5 and 7): rooms in use first, idle ones out of the
public list but still under "My rooms", a "Full" marker, the owner's "Close" with a question
naming the consequence, and a newcomer who opens the other loopback spelling of the address."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Page, expect

from api.services import SERVICES
from api.settings import Settings
from tests.client import PASSWORD, ApiClient
from tests.e2e.conftest import Site, artifact
from tests.mailbox import Mailbox
from tests.store_edits import age_room

NewContext = Callable[[], Awaitable[BrowserContext]]
NewApi = Callable[[], ApiClient]


async def sign_in(page: Page, email: str, base: str = "") -> None:
    await page.goto(f"{base}/signin")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/rooms$"))


async def account(api: NewApi, mailbox: Mailbox, name: str) -> tuple[ApiClient, str, str]:
    """A verified, REST-signed-in account: (client, email, user id)."""
    http = api()
    email = await http.register_verified(mailbox, name)
    user_id = str((await http.login(email)).body["user"]["id"])
    return http, email, user_id


async def new_room(http: ApiClient, topic: str, **fields: Any) -> str:
    body = {"topic": topic, "visibility": "public", "media": "mesh"} | fields
    reply = await http.post("/api/rooms", body)
    assert reply.status == 201, reply.body
    return str(reply.body["id"])


async def enter_call(page: Page) -> None:
    """Into the call: through the pre-join step's "Join" when the room page has one."""
    join = page.get_by_role("button", name="Join", exact=True)
    leave = page.get_by_role("button", name="Leave", exact=True)
    await expect(join.or_(leave)).to_be_visible()
    if await join.is_visible():
        await join.click()
    await expect(leave).to_be_visible()


def topics(page: Page, list_name: str) -> Any:
    return page.get_by_role("list", name=list_name, exact=True).get_by_role("link")


async def test_lobby_orders_rooms_hides_idle_ones_marks_full_ones_and_owner_closes_one(
    new_context: NewContext, api: NewApi, mailbox: Mailbox, site: Site, settings: Settings
) -> None:
    ann_http, ann_email, _ = await account(api, mailbox, "Ann")
    bob_http, bob_email, bob_id = await account(api, mailbox, "Bob")
    _, _, cat_id = await account(api, mailbox, "Cat")
    presence = site.runner.app[SERVICES].presence

    fresh = await new_room(ann_http, "Fresh and empty")
    full = await new_room(bob_http, "Duet", maxParticipants=2)
    one = await new_room(ann_http, "Quiet chat")
    idle = await new_room(ann_http, "Forgotten room")
    for room in (full, one, idle):
        await age_room(settings, room, settings.room_idle_hide + timedelta(minutes=5))
    # Signaling reports who is where through presence; two people fill the duet.
    presence.enter(full, bob_id)
    presence.enter(full, cat_id)
    presence.enter(one, cat_id)

    ann = await (await new_context()).new_page()
    await sign_in(ann, ann_email)
    public = topics(ann, "Public rooms")
    await expect(public).to_have_text(["Duet", "Quiet chat", "Fresh and empty"])
    mine = topics(ann, "My rooms")
    await expect(mine).to_contain_text(["Forgotten room"])
    duet = ann.get_by_role("listitem").filter(has=ann.get_by_role("link", name="Duet"))
    await expect(duet.get_by_text("Full", exact=True)).to_be_visible()
    quiet = ann.get_by_role("list", name="Public rooms", exact=True).get_by_role("listitem")
    await expect(quiet.filter(has_text="Quiet chat").get_by_text("Full", exact=True)).to_have_count(
        0
    )
    # Ann owns all but the duet: only those have her "Close".
    await expect(ann.get_by_role("button", name="Close Duet")).to_have_count(0)
    await ann.screenshot(path=artifact("lobby-busy-first"), full_page=True)

    # Closing asks first and says what it does; Cancel changes nothing.
    await ann.get_by_role("button", name="Close Quiet chat").first.click()
    dialog = ann.get_by_role("dialog", name="Close “Quiet chat”?")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("The call ends for the person in it now")
    await expect(dialog).to_contain_text("Nobody can enter the room again")
    await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    await ann.screenshot(path=artifact("lobby-close-question"), full_page=True)
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_have_count(0)
    assert (await ann_http.get(f"/api/rooms/{one}")).status == 200

    await ann.get_by_role("button", name="Close Quiet chat").first.click()
    await dialog.get_by_role("button", name="Close the room").click()
    await expect(
        ann.get_by_role("status").filter(has_text="“Quiet chat” is closed.")
    ).to_be_visible()
    await expect(public).to_have_text(["Duet", "Fresh and empty"])
    await expect(mine.filter(has_text="Quiet chat")).to_have_count(0)
    assert (await ann_http.get(f"/api/rooms/{one}")).status == 410
    assert (await ann_http.get(f"/api/rooms/{fresh}")).status == 200
    # Closed without ever entering the room: Ann's microphone was never asked for.
    assert urlsplit(ann.url).path == "/rooms"
    await ann.screenshot(path=artifact("lobby-after-close"), full_page=True)

    # Someone else's rooms have no "Close" in Bob's lobby; his own duet has (public and mine).
    bob = await (await new_context()).new_page()
    await sign_in(bob, bob_email)
    await expect(topics(bob, "Public rooms")).to_have_text(["Duet", "Fresh and empty"])
    await expect(bob.get_by_role("button", name="Close Fresh and empty")).to_have_count(0)
    await expect(bob.get_by_role("button", name="Close Duet")).to_have_count(2)


async def test_the_other_loopback_spelling_signs_in_and_calls(
    new_context: NewContext, api: NewApi, mailbox: Mailbox, site: Site
) -> None:
    """The site's APP_ORIGIN is http://127.0.0.1:PORT; a newcomer opens http://localhost:PORT."""
    http, email, _ = await account(api, mailbox, "Newcomer")
    room = await new_room(http, "First run")
    other = site.base_url.replace("127.0.0.1", "localhost")
    page = await (await new_context()).new_page()
    await sign_in(page, email, base=other)
    assert page.url.startswith(other)
    await page.goto(f"{other}/rooms/{room}")
    await expect(page.get_by_role("heading", name="First run", level=1)).to_be_visible()
    await enter_call(page)  # the socket's origin check lets this spelling in too
    people = page.get_by_role("list", name="Participants")
    await expect(people.get_by_role("listitem")).to_have_count(1)
    await page.screenshot(path=artifact("other-loopback-spelling"), full_page=True)
