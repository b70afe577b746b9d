"""The room page in Chromium, as newcomers use it (issue 12): a pre-join step that can join
muted, a call that survives browsing the app, a confirmed "Close room", help for a blocked
microphone, speaking and mute state for assistive technology, and per-person volume."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from playwright.async_api import BrowserContext, Page, expect

from tests.client import PASSWORD, ApiClient
from tests.e2e.conftest import Site, artifact
from tests.e2e.test_browser_calls import hears_someone, join
from tests.mailbox import Mailbox
from tests.people import Person, sign_up

NewContext = Callable[[], Awaitable[BrowserContext]]
Api = Callable[[], ApiClient]


@dataclass
class Browsing:
    """Someone signed in in their own browser context, with a REST client of the same account."""

    page: Page
    http: ApiClient
    user_id: str

    async def create_room(self, topic: str, **fields: Any) -> str:
        body = {"topic": topic, "visibility": "public", "media": "mesh"} | fields
        reply = await self.http.post("/api/rooms", body)
        assert reply.status == 201, reply.body
        return str(reply.body["id"])


async def signed_in(new_context: NewContext, api: Api, mailbox: Mailbox, name: str) -> Browsing:
    http = api()
    email = await http.register_verified(mailbox, name.split()[0])
    user_id = str((await http.login(email)).body["user"]["id"])
    if " " in name:
        renamed = await http.call("PATCH", "/api/users/me", {"name": name})
        assert renamed.status == 200, renamed.body
    page = await (await new_context()).new_page()
    await page.goto("/signin")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/rooms$"))
    return Browsing(page, http, user_id)


async def enter(page: Page, room: str, topic: str, muted: bool | None = None) -> None:
    await page.goto(f"/rooms/{room}")
    await expect(page.get_by_role("heading", name=topic, level=1)).to_be_visible()
    await join(page, muted)


def participants(page: Page) -> Any:
    return page.get_by_role("list", name="Participants")


async def test_pre_join_can_join_muted_and_the_room_remembers_mute(
    new_context: NewContext, api: Api, mailbox: Mailbox, site: Site, people: list[Person]
) -> None:
    ann = await signed_in(new_context, api, mailbox, "Ann")
    room = await ann.create_room("Quiet entry")
    page = ann.page
    await page.goto(f"/rooms/{room}")

    # Before joining: the room, who is there, a live meter, and "Join muted" (off: nobody here).
    await expect(page.get_by_role("heading", name="Quiet entry", level=1)).to_be_visible()
    await expect(page.get_by_text("Nobody is here yet")).to_be_visible()
    join_muted = page.get_by_role("checkbox", name="Join muted")
    await expect(join_muted).not_to_be_checked()
    meter = page.get_by_role("meter", name="Microphone level")
    await expect(meter).to_be_visible()
    await expect(page.get_by_label("Microphone", exact=True)).to_be_visible()
    # Chromium's fake microphone beeps: the meter moves.
    await expect(meter).not_to_have_attribute("aria-valuenow", "0", timeout=5_000)
    await page.screenshot(path=artifact("room-pre-join"), full_page=True)

    await join(page, muted=True)
    await expect(page.get_by_role("button", name="Unmute", exact=True)).to_be_visible()
    await expect(participants(page).locator("[data-muted=true]")).to_have_count(1)
    await expect(page.get_by_text("You are muted")).to_be_visible()
    # The fake microphone's beeps count as speech: the hint says nobody hears it.
    await expect(page.get_by_text("You are speaking but muted")).to_be_visible(timeout=10_000)
    await page.screenshot(path=artifact("room-speaking-but-muted"), full_page=True)

    # Unmuted: the own level meter shows instead of the hint.
    await page.get_by_role("button", name="Unmute", exact=True).click()
    await expect(page.get_by_role("meter", name="Your microphone level")).to_be_visible()
    await expect(page.get_by_text("You are muted")).to_have_count(0)
    await page.get_by_role("button", name="Mute", exact=True).click()
    await expect(page.get_by_role("button", name="Unmute", exact=True)).to_be_visible()

    # A reload comes back to the pre-join with the mute it left with.
    await page.reload()
    await expect(page.get_by_role("checkbox", name="Join muted")).to_be_checked()
    await join(page)
    await expect(page.get_by_role("button", name="Unmute", exact=True)).to_be_visible()

    # A room with more than a handful of people present: "Join muted" starts on.
    crowded = await ann.create_room("Crowded")
    for n in range(5):
        someone = await sign_up(f"Guest{n}", api, mailbox, site.base_url)
        people.append(someone)
        await (await someone.socket()).join(crowded)
    await page.goto(f"/rooms/{crowded}")
    await expect(page.get_by_role("heading", name="5 people are here")).to_be_visible()
    await expect(
        page.get_by_role("list", name="5 people are here").get_by_role("listitem")
    ).to_have_count(5)
    await expect(page.get_by_role("checkbox", name="Join muted")).to_be_checked()
    await page.screenshot(path=artifact("room-pre-join-crowded"), full_page=True)


async def test_the_call_goes_on_while_browsing_the_app(
    new_context: NewContext, api: Api, mailbox: Mailbox
) -> None:
    ann = await signed_in(new_context, api, mailbox, "Ann")
    bob = await signed_in(new_context, api, mailbox, "Bob")
    room = await ann.create_room("Walk and talk")
    await enter(ann.page, room, "Walk and talk")
    await enter(bob.page, room, "Walk and talk")
    await expect(participants(bob.page).get_by_role("listitem")).to_have_count(2)
    await ann.page.evaluate("() => { window.gethoryCall.marker = 'first-join'; }")

    await ann.page.get_by_role("navigation", name="Main").get_by_role("link", name="Rooms").click()
    bar = ann.page.get_by_role("complementary", name="Current call")
    await expect(bar).to_be_visible()
    await expect(bar.get_by_role("link", name="Walk and talk")).to_be_visible()
    await (
        ann.page.get_by_role("navigation", name="Main").get_by_role("link", name="Profile").click()
    )
    await expect(bar).to_be_visible()
    await ann.page.screenshot(path=artifact("call-bar"), full_page=True)
    # Still in the call: Bob still sees Ann, and Ann still hears Bob (fresh packets).
    await expect(participants(bob.page).get_by_role("listitem")).to_have_count(2)
    await hears_someone(ann.page)

    await bar.get_by_role("button", name="Mute", exact=True).click()
    await expect(bar.get_by_role("button", name="Unmute", exact=True)).to_be_visible()
    await expect(participants(bob.page).locator("[data-muted=true]")).to_have_count(1)

    # Back in the room: the same call (no pre-join, no new join), still muted.
    await bar.get_by_role("link", name="Walk and talk").click()
    await expect(ann.page.get_by_role("button", name="Unmute", exact=True)).to_be_visible()
    await expect(ann.page.get_by_role("button", name="Join", exact=True)).to_have_count(0)
    await expect(bar).to_have_count(0)
    assert await ann.page.evaluate("() => window.gethoryCall.marker") == "first-join"

    # Leaving from the bar elsewhere leaves the call.
    await ann.page.get_by_role("navigation", name="Main").get_by_role("link", name="Rooms").click()
    await bar.get_by_role("button", name="Leave", exact=True).click()
    await expect(bar).to_have_count(0)
    await expect(participants(bob.page).get_by_role("listitem")).to_have_count(1)


async def test_closing_a_room_asks_first_and_names_the_consequence(
    new_context: NewContext, api: Api, mailbox: Mailbox
) -> None:
    ann = await signed_in(new_context, api, mailbox, "Ann")
    bob = await signed_in(new_context, api, mailbox, "Bob")
    room = await ann.create_room("Last call")
    await enter(ann.page, room, "Last call")
    await enter(bob.page, room, "Last call")
    await expect(participants(ann.page).get_by_role("listitem")).to_have_count(2)

    await ann.page.get_by_role("button", name="Close room").click()
    dialog = ann.page.get_by_role("dialog", name="Close this room for everyone?")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("2 people will be disconnected")
    # A stray Enter must not end the room: Cancel, not "Close", holds the focus.
    await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    await ann.page.screenshot(path=artifact("close-room-confirm"), full_page=True)
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_have_count(0)
    # The focus goes back to the button that opened the dialog, not to <body>.
    close_button = ann.page.get_by_role("button", name="Close room", exact=True)
    await expect(close_button).to_be_focused()
    # Escape likewise.
    await close_button.click()
    await expect(dialog).to_be_visible()
    await ann.page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    await expect(close_button).to_be_focused()
    # Cancel sends nothing: the room is still open for everyone.
    assert (await ann.http.get(f"/api/rooms/{room}")).status == 200
    await expect(bob.page.get_by_text("This room was closed")).to_have_count(0)
    await expect(participants(bob.page).get_by_role("listitem")).to_have_count(2)

    await ann.page.get_by_role("button", name="Close room").click()
    await dialog.get_by_role("button", name="Close room for everyone").click()
    await expect(bob.page.get_by_text("This room was closed")).to_be_visible()
    await expect(ann.page.get_by_text("This room was closed")).to_be_visible()


async def test_a_blocked_microphone_is_explained_and_unmute_works_once_allowed(
    new_asking_context: NewContext, api: Api, mailbox: Mailbox
) -> None:
    ann = await signed_in(new_asking_context, api, mailbox, "Ann")
    page = ann.page
    room = await ann.create_room("No mic")
    await page.goto(f"/rooms/{room}")
    await expect(
        page.get_by_role("heading", name="Your browser blocks the microphone")
    ).to_be_visible()
    await join(page)
    await expect(page.get_by_role("button", name="Unmute", exact=True)).to_be_visible()

    await page.get_by_role("button", name="Unmute", exact=True).click()
    help_box = page.get_by_role("region", name="Your browser blocks the microphone")
    await expect(help_box.get_by_role("alert")).to_contain_text("this site needs your microphone")
    await expect(help_box).to_contain_text("Set Microphone to Allow")
    await expect(page.get_by_role("button", name="Unmute", exact=True)).to_be_visible()
    await page.screenshot(path=artifact("microphone-blocked"), full_page=True)

    # Allowed in the site settings: Unmute now opens the microphone, without a reload.
    await page.context.grant_permissions(["microphone"])
    await expect(page.get_by_text("The microphone is allowed now")).to_be_visible()
    await page.get_by_role("button", name="Unmute", exact=True).click()
    await expect(page.get_by_role("button", name="Mute", exact=True)).to_be_visible()
    await expect(help_box).to_have_count(0)
    await expect(participants(page).locator("[data-muted=false]")).to_have_count(1)


async def test_speaking_and_mute_state_reach_assistive_technology(
    new_context: NewContext, api: Api, mailbox: Mailbox
) -> None:
    ann = await signed_in(new_context, api, mailbox, "Ann")
    bob = await signed_in(new_context, api, mailbox, "Bob")
    room = await ann.create_room("Who speaks")
    await enter(ann.page, room, "Who speaks")
    # Focus on the room's heading after entering; the tab titled by the room.
    focused = await ann.page.evaluate(
        "() => [document.activeElement.tagName, document.activeElement.textContent]"
    )
    assert focused == ["H1", "Who speaks"], focused
    await expect(ann.page).to_have_title("Who speaks · Gethory")

    await enter(bob.page, room, "Who speaks")
    announcements = ann.page.locator("#room-announcements")
    await expect(announcements).to_have_attribute("aria-live", "polite")
    await expect(announcements).to_contain_text("Bob started speaking", timeout=10_000)
    # Bob's fake microphone beeps every second; the region says so at most every 8 s. What is
    # checked is that nothing more is said over a window of six beeps: there is no event.
    await asyncio.sleep(6.0)
    said = await announcements.inner_text()
    assert said.count("Bob started speaking") == 1, said

    bob_item = participants(ann.page).get_by_role("listitem", name=re.compile(r"^Bob, "))
    await expect(bob_item).to_have_attribute("aria-label", re.compile(r"microphone on"))
    await bob.page.get_by_role("button", name="Mute", exact=True).click()
    await expect(bob_item).to_have_attribute("aria-label", re.compile(r"^Bob, muted"))
    await expect(announcements).to_contain_text("Bob muted")


async def test_owner_mute_warns_cards_align_and_a_full_room_can_be_retried(
    new_context: NewContext, api: Api, mailbox: Mailbox
) -> None:
    ann = await signed_in(new_context, api, mailbox, "Ann")
    long_name = "Bartholomew Maximilian Fitzgerald-Worthington of the Long Names"
    bob = await signed_in(new_context, api, mailbox, long_name)
    cat = await signed_in(new_context, api, mailbox, "Cat")
    room = await ann.create_room("Two seats", maxParticipants=2)
    await enter(ann.page, room, "Two seats")
    await enter(bob.page, room, "Two seats")
    await expect(participants(ann.page).get_by_role("listitem")).to_have_count(2)

    # The owner's mute reads as a warning, not a success.
    await ann.page.get_by_role("button", name=f"Mute {long_name}").click()
    notice = bob.page.get_by_text("The room's owner muted you")
    await expect(notice).to_be_visible()
    colours = await notice.evaluate(
        """(el) => {
          const probe = (name) => {
            const span = document.createElement("span");
            span.style.color = `var(${name})`;
            document.body.append(span);
            const value = getComputedStyle(span).color;
            span.remove();
            return value;
          };
          return [getComputedStyle(el).color, probe("--warn"), probe("--ok")];
        }"""
    )
    assert colours[0] == colours[1] != colours[2], colours
    await bob.page.screenshot(path=artifact("owner-muted-you"), full_page=True)

    # Cards line up however a name wraps: the avatar sits at the same place in each.
    await ann.page.set_viewport_size({"width": 560, "height": 900})
    offsets = await participants(ann.page).evaluate(
        """(list) => [...list.querySelectorAll(".participant")].map((card) => {
          const avatar = card.querySelector(".participant-avatar").getBoundingClientRect();
          return Math.round(avatar.top - card.getBoundingClientRect().top);
        })"""
    )
    assert len(offsets) == 2 and offsets[0] == offsets[1], offsets
    await ann.page.screenshot(path=artifact("participants-long-name"), full_page=True)

    # A third person finds the room full, and gets in with "Try again" once a seat frees.
    await enter_full(cat.page, room)
    await expect(cat.page.get_by_text("This room is full")).to_be_visible()
    await cat.page.screenshot(path=artifact("room-full"), full_page=True)
    await bob.page.get_by_role("button", name="Leave", exact=True).click()
    await expect(participants(ann.page).get_by_role("listitem")).to_have_count(1)
    await cat.page.get_by_role("button", name="Try again").click()
    await expect(participants(cat.page).get_by_role("listitem")).to_have_count(2)


async def enter_full(page: Page, room: str) -> None:
    await page.goto(f"/rooms/{room}")
    await page.get_by_role("button", name="Join", exact=True).click()


async def audio_volume(page: Page, source: str) -> float:
    volume: float = await page.evaluate(
        "(source) => document.querySelector(`audio[data-source='${source}']`)?.volume ?? -1",
        source,
    )
    return volume


async def source_of(page: Page, user_id: str) -> str:
    """The <audio> source that carries `user_id` (mesh: the peer; sfu: its current slot)."""
    async with asyncio.timeout(20):
        while True:
            source: str | None = await page.evaluate(
                """(userId) => {
                  const state = window.gethoryCall.state;
                  if (state.media === "sfu") {
                    const slot = state.slotOwners.indexOf(userId);
                    return slot < 0 ? null : `slot-${slot}`;
                  }
                  const p = state.participants.find((p) => p.user.id === userId);
                  return p ? p.peerId : null;
                }""",
                user_id,
            )
            if source and await audio_volume(page, source) >= 0:
                return source
            await asyncio.sleep(0.2)


async def volume_becomes(page: Page, user_id: str, wanted: float) -> None:
    """Until the element playing `user_id` has that volume (sfu slots may move meanwhile)."""
    async with asyncio.timeout(5):
        while True:
            volume = await audio_volume(page, await source_of(page, user_id))
            if abs(volume - wanted) < 1e-6:
                return
            await asyncio.sleep(0.1)


async def test_listeners_set_each_persons_volume_and_owner_edits_the_topic(
    new_context: NewContext, api: Api, mailbox: Mailbox
) -> None:
    ann = await signed_in(new_context, api, mailbox, "Ann")
    bob = await signed_in(new_context, api, mailbox, "Bob")
    for media in ("mesh", "sfu"):
        topic = f"Loud and quiet {media}"
        room = await ann.create_room(topic, media=media)
        await enter(ann.page, room, topic)
        await enter(bob.page, room, topic)
        await hears_someone(ann.page)
        source = await source_of(ann.page, bob.user_id)
        assert await audio_volume(ann.page, source) == 1.0

        await ann.page.get_by_label("Volume of Bob").fill("30")
        await volume_becomes(ann.page, bob.user_id, 0.3)
        silence = ann.page.get_by_role("button", name="Silence Bob for me")
        await silence.click()
        await expect(silence).to_have_attribute("aria-pressed", "true")
        await volume_becomes(ann.page, bob.user_id, 0.0)
        # Only for Ann: Bob is not muted for anyone else.
        await expect(participants(ann.page).locator("[data-muted=true]")).to_have_count(0)
        await ann.page.screenshot(path=artifact(f"listener-volume-{media}"), full_page=True)
        await silence.click()
        await expect(silence).to_have_attribute("aria-pressed", "false")
        await volume_becomes(ann.page, bob.user_id, 0.3)

    # A public room's link to share, and the owner renames the room from its page.
    await ann.page.get_by_role("button", name="Copy room link").click()
    link = ann.page.get_by_label("Room link")
    await expect(link).to_have_text(re.compile(rf"/rooms/{room}$"))
    await ann.page.get_by_role("button", name="Edit topic").click()
    await ann.page.get_by_role("textbox", name="Topic").fill("Renamed on the stage")
    await ann.page.get_by_role("button", name="Save topic").click()
    await expect(
        ann.page.get_by_role("heading", name="Renamed on the stage", level=1)
    ).to_be_visible()
    await expect(ann.page).to_have_title("Renamed on the stage · Gethory")
    fetched = await ann.http.get(f"/api/rooms/{room}")
    assert fetched.body["topic"] == "Renamed on the stage"
    await expect(bob.page.get_by_role("button", name="Edit topic")).to_have_count(0)
    # Everyone in the room sees the new topic at once (`room-updated`), without reloading.
    await expect(
        bob.page.get_by_role("heading", name="Renamed on the stage", level=1)
    ).to_be_visible()
    await expect(bob.page).to_have_title("Renamed on the stage · Gethory")
    await ann.page.screenshot(path=artifact("room-topic-edited"), full_page=True)


# The browser takes 2 s to hand over the microphone (a slow device, or a slow "Allow").
SLOW_MICROPHONE = """
(() => {
  const media = navigator.mediaDevices;
  const open = media.getUserMedia.bind(media);
  media.getUserMedia = (constraints) =>
    new Promise((resolve) => setTimeout(resolve, 2000)).then(() => open(constraints));
})();
"""

TRACK_ENABLED = "() => window.gethoryCall?.mic?.track?.enabled ?? null"


async def test_mute_follows_the_choice_while_the_microphone_is_still_opening(
    new_context: NewContext, api: Api, mailbox: Mailbox
) -> None:
    ann = await signed_in(new_context, api, mailbox, "Ann")
    page = ann.page
    await page.add_init_script(SLOW_MICROPHONE)
    room = await ann.create_room("Slow microphone")
    await page.goto(f"/rooms/{room}")
    await expect(page.get_by_role("heading", name="Slow microphone", level=1)).to_be_visible()

    # Joined live, then Mute at once, before the browser hands over the microphone.
    await page.get_by_role("checkbox", name="Join muted").set_checked(False)
    await page.get_by_role("button", name="Join", exact=True).click()
    await page.get_by_role("button", name="Mute", exact=True).click()
    await expect(page.get_by_role("button", name="Unmute", exact=True)).to_be_visible()
    await page.wait_for_function("() => window.gethoryCall?.state.status === 'connected'")
    await page.wait_for_function("() => window.gethoryCall?.mic?.track != null")
    # What the page says is what the track does: nothing goes out.
    assert await page.evaluate(TRACK_ENABLED) is False
    await expect(participants(page).locator("[data-muted=true]")).to_have_count(1)
    await page.get_by_role("button", name="Unmute", exact=True).click()
    await expect(page.get_by_role("button", name="Mute", exact=True)).to_be_visible()
    assert await page.evaluate(TRACK_ENABLED) is True

    # "Join muted": the page says muted from the first moment, not "Mute" until the
    # microphone opens; the track opens muted.
    await page.get_by_role("button", name="Leave", exact=True).click()
    await page.goto(f"/rooms/{room}")
    await page.get_by_role("checkbox", name="Join muted").set_checked(True)
    await page.get_by_role("button", name="Join", exact=True).click()
    await expect(page.get_by_role("button", name="Unmute", exact=True)).to_be_visible(timeout=1_000)
    await expect(page.get_by_role("button", name="Mute", exact=True)).to_have_count(0)
    await page.wait_for_function("() => window.gethoryCall?.mic?.track != null")
    assert await page.evaluate(TRACK_ENABLED) is False


async def test_a_blocked_microphone_is_no_mute_choice_and_the_pre_join_recovers(
    new_asking_context: NewContext, api: Api, mailbox: Mailbox
) -> None:
    ann = await signed_in(new_asking_context, api, mailbox, "Ann")
    page = ann.page
    room = await ann.create_room("Blocked at first")
    await page.goto(f"/rooms/{room}")
    help_box = page.get_by_role("region", name="Your browser blocks the microphone")
    await expect(help_box).to_be_visible()
    # The pre-join has no Unmute button: its help does not send people looking for one.
    await expect(help_box).to_contain_text("the microphone check starts by itself")
    await expect(help_box).not_to_contain_text("Unmute")

    # Joined with "Join muted" off; the blocked microphone mutes by force.
    await join(page, muted=False)
    await expect(page.get_by_role("button", name="Unmute", exact=True)).to_be_visible()
    # That was not the person's choice: the next visit does not start muted for it.
    await page.reload()
    await expect(page.get_by_role("checkbox", name="Join muted")).not_to_be_checked()
    await expect(help_box).to_be_visible()

    # Allowed in the site settings while the pre-join is open: it recovers by itself.
    await page.context.grant_permissions(["microphone"])
    await expect(page.get_by_role("meter", name="Microphone level")).to_be_visible()
    await expect(help_box).to_have_count(0)
    await expect(page.get_by_label("Microphone", exact=True)).to_be_visible()
    await page.screenshot(path=artifact("pre-join-microphone-allowed"), full_page=True)


async def test_the_pre_join_keeps_who_is_there_up_to_date(
    new_context: NewContext, api: Api, mailbox: Mailbox, site: Site, people: list[Person]
) -> None:
    ann = await signed_in(new_context, api, mailbox, "Ann")
    page = ann.page
    room = await ann.create_room("Filling up")
    await page.goto(f"/rooms/{room}")
    await expect(page.get_by_text("Nobody is here yet")).to_be_visible()
    join_muted = page.get_by_role("checkbox", name="Join muted")
    await expect(join_muted).not_to_be_checked()

    for n in range(5):
        someone = await sign_up(f"Guest{n}", api, mailbox, site.base_url)
        people.append(someone)
        await (await someone.socket()).join(room)
    # Without a reload: the list and the "Join muted" default follow the room.
    await expect(page.get_by_role("heading", name="5 people are here")).to_be_visible(
        timeout=10_000
    )
    await expect(join_muted).to_be_checked()

    # The person's own choice is not overridden by the next refresh.
    await join_muted.set_checked(False)
    await asyncio.sleep(4)
    await expect(join_muted).not_to_be_checked()


async def test_announcements_insert_one_node_per_message_and_coalesce_mute_toggles(
    new_context: NewContext, api: Api, mailbox: Mailbox
) -> None:
    ann = await signed_in(new_context, api, mailbox, "Ann")
    bob = await signed_in(new_context, api, mailbox, "Bob")
    room = await ann.create_room("Toggles")
    await enter(ann.page, room, "Toggles")
    await enter(bob.page, room, "Toggles")
    announcements = ann.page.locator("#room-announcements")
    await expect(announcements).to_contain_text("Bob joined")
    await ann.page.evaluate(
        """() => {
          window.inserted = [];
          new MutationObserver((records) => {
            for (const r of records)
              for (const n of r.addedNodes) window.inserted.push(n.textContent);
          }).observe(document.getElementById('room-announcements'),
                     { childList: true, subtree: true, characterData: true });
        }"""
    )
    bob_item = participants(ann.page).get_by_role("listitem", name=re.compile(r"^Bob, "))
    # Bob toggles his microphone ten times in a row (muted, unmuted, …, unmuted).
    for n in range(10):
        await bob.page.keyboard.press("m")
        wanted = "Unmute" if n % 2 == 0 else "Mute"
        await expect(bob.page.get_by_role("button", name=wanted, exact=True)).to_be_visible()
        await expect(bob_item).to_have_attribute(
            "aria-label", re.compile(r"^Bob, muted" if n % 2 == 0 else r"microphone on")
        )
    # Said once at once, and once more with where he ended up; never the whole list again.
    await expect(announcements).to_contain_text("Bob unmuted", timeout=10_000)
    await asyncio.sleep(1)
    inserted = await ann.page.evaluate("() => window.inserted")
    assert inserted == ["Bob muted", "Bob unmuted"], inserted
