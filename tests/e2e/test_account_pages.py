"""Account pages in Chromium (issue 12): an invite that survives sign-up, page titles and
focus, the profile's avatar and session controls, reused verification links, a quiet console
for signed-out visitors, and the landing page."""

from __future__ import annotations

import io
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from PIL import Image
from playwright.async_api import BrowserContext, ConsoleMessage, Page, expect

from tests.e2e.conftest import Site, artifact
from tests.e2e.test_browser_calls import PASSWORD, sign_up_and_in
from tests.mailbox import Mailbox, link_in

NewContext = Callable[[], Awaitable[BrowserContext]]


async def api_post(page: Page, site: Site, path: str, data: dict[str, Any]) -> Any:
    """A state-changing API call with the page's cookies, as the page itself would send it."""
    reply = await page.request.post(path, data=data, headers={"Origin": site.base_url})
    assert reply.ok, (path, reply.status, await reply.text())
    return await reply.json()


async def fill_sign_in(page: Page, email: str) -> None:
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in", exact=True).click()


async def focused_heading(page: Page) -> str:
    text: str = await page.evaluate(
        "() => { const el = document.activeElement;"
        " return el && el.tagName === 'H1' ? el.textContent.trim() : '<' + el.tagName + '>'; }"
    )
    return text


async def test_invite_survives_sign_up_with_the_email_opened_in_a_new_tab(
    new_context: NewContext, site: Site, mailbox: Mailbox
) -> None:
    ann = await (await new_context()).new_page()
    await sign_up_and_in(ann, site, mailbox, "Ann")
    room = await api_post(
        ann, site, "/api/rooms", {"topic": "Quiet club", "visibility": "private", "media": "mesh"}
    )
    invite = await api_post(ann, site, f"/api/rooms/{room['id']}/invites", {})
    invite_path = "/invite/" + invite["token"]

    context = await new_context()
    bob = await context.new_page()
    await bob.goto(invite_path)
    await expect(bob).to_have_url(re.compile(r"/signin\?next="))
    await expect(bob.get_by_text("An invite is waiting")).to_be_visible()
    await bob.screenshot(path=artifact("sign-in-invite-waiting"), full_page=True)
    await bob.get_by_role("link", name="Create an account").click()
    await expect(bob).to_have_url(re.compile(r"/signup"))
    await expect(bob.get_by_text("An invite is waiting")).to_be_visible()
    email = f"bob-{secrets.token_hex(3)}@example.com"
    await bob.get_by_label("Name").fill("Bob")
    await bob.get_by_label("Email").fill(email)
    await bob.get_by_label("Password").fill(PASSWORD)
    await bob.get_by_role("button", name="Create account").click()
    await expect(bob.get_by_role("heading", name="Check your email")).to_be_visible()

    await expect(bob).to_have_url(re.compile(r"/check-email\?next=%2Finvite%2F"))
    await expect(bob.get_by_text("An invite is waiting")).to_be_visible()

    # The mail client opens the link in a new tab: nothing of the first tab's page state. The
    # invite travels in the link itself, so another device would do as well.
    link = link_in(await mailbox.next_for(email))
    assert "next=%2Finvite%2F" in link, link
    tab = await context.new_page()
    await tab.goto(site.local(link))
    await expect(tab.get_by_role("heading", name="Email verified")).to_be_visible()
    await expect(tab.get_by_text("An invite is waiting")).to_be_visible()
    await tab.screenshot(path=artifact("verified-invite-waiting"), full_page=True)
    await tab.get_by_role("main").get_by_role("link", name="Sign in").click()
    await expect(tab).to_have_url(re.compile(r"/signin\?next=%2Finvite%2F"))
    await expect(tab.get_by_text("An invite is waiting")).to_be_visible()
    await fill_sign_in(tab, email)
    await expect(tab).to_have_url(re.compile(rf"/rooms/{room['id']}$"))

    await tab.goto("/rooms")
    mine = tab.get_by_role("list", name="My rooms")
    await expect(mine.get_by_role("link", name="Quiet club")).to_be_visible()
    # Nothing is kept in the browser: `next` lives only in URLs.
    assert await tab.evaluate("() => localStorage.getItem('gethory.next')") is None


async def test_an_abandoned_invite_is_not_followed_by_the_next_sign_in(
    new_context: NewContext, site: Site, mailbox: Mailbox
) -> None:
    ann = await (await new_context()).new_page()
    await sign_up_and_in(ann, site, mailbox, "Ann")
    room = await api_post(
        ann, site, "/api/rooms", {"topic": "Private club", "visibility": "private", "media": "mesh"}
    )
    invite = await api_post(ann, site, f"/api/rooms/{room['id']}/invites", {})

    # Someone opens the invite signed out and gives up (an old client kept `next` here).
    context = await new_context()
    visitor = await context.new_page()
    await visitor.goto("/invite/" + invite["token"])
    await expect(visitor.get_by_text("An invite is waiting")).to_be_visible()
    await visitor.evaluate(
        "t => localStorage.setItem('gethory.next',"
        " JSON.stringify({path: '/invite/' + t, at: Date.now()}))",
        invite["token"],
    )
    await visitor.close()

    # Another person signs up and in, normally, in the same browser.
    other = await (await new_context()).new_page()
    email = await sign_up_and_in(other, site, mailbox, "Mallory")
    await other.context.close()
    mallory = await context.new_page()
    await mallory.goto("/signup")
    await expect(mallory.get_by_role("heading", name="Create your account")).to_be_visible()
    await expect(mallory.get_by_text("An invite is waiting")).to_have_count(0)
    assert await mallory.evaluate("() => localStorage.getItem('gethory.next')") is None
    await mallory.goto("/signin")
    await expect(mallory.get_by_text("An invite is waiting")).to_have_count(0)
    await fill_sign_in(mallory, email)
    await expect(mallory).to_have_url(re.compile(r"/rooms$"))
    await mallory.goto("/")
    await expect(mallory).to_have_url(re.compile(r"/rooms$"))
    mine = mallory.get_by_role("list", name="My rooms")
    await expect(mallory.get_by_role("heading", name="Rooms", exact=True)).to_be_visible()
    await expect(mine.get_by_role("link", name="Private club")).to_have_count(0)
    # The invite was not spent: its use count is untouched.
    reply = await ann.request.get(f"/api/rooms/{room['id']}/invites")
    assert reply.ok, reply.status
    uses = {item["id"]: item["uses"] for item in (await reply.json())["invites"]}
    assert uses[invite["id"]] == 0, uses


async def test_next_is_only_ever_a_path_on_this_site(new_context: NewContext, site: Site) -> None:
    page = await (await new_context()).new_page()
    for evil in (
        "https://evil.example/x",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:1",
        "/..//evil.example/x",
    ):
        await page.goto("/signin?next=" + evil)
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        await expect(page.get_by_text("An invite is waiting")).to_have_count(0)
        assert await page.evaluate("() => localStorage.getItem('gethory.next')") is None


async def test_pages_have_their_own_titles_and_focus_their_heading(
    new_context: NewContext, site: Site, mailbox: Mailbox
) -> None:
    page = await (await new_context()).new_page()
    signed_out = {
        "/signin": ("Sign in · Gethory", "Sign in"),
        "/signup": ("Sign up · Gethory", "Create your account"),
        "/check-email": ("Check your email · Gethory", "Check your email"),
        "/verify-email": ("Verify your email · Gethory", "We could not verify your email"),
        "/forgot-password": ("Forgot your password · Gethory", "Forgot your password?"),
        "/reset-password?token=x": ("Set a new password · Gethory", "Set a new password"),
        "/nowhere": ("Page not found · Gethory", "Page not found"),
    }
    for path, (title, heading) in signed_out.items():
        await page.goto(path)
        await expect(page).to_have_title(title)
        await expect(page.get_by_role("heading", name=heading, exact=True)).to_be_focused()
    await page.screenshot(path=artifact("not-found-focused"), full_page=True)

    await sign_up_and_in(page, site, mailbox, "Tia")
    # Signed in: the rooms page takes the focus like every other page.
    await expect(page.get_by_role("heading", name="Rooms", exact=True)).to_be_focused()
    # A room that cannot be opened: its error page focuses its heading too.
    await page.goto("/rooms/rm_does_not_exist")
    await expect(page.get_by_role("heading", name="Cannot open this room")).to_be_focused()
    # Moving between pages in the app moves the focus too.
    await page.get_by_role("link", name="Profile").click()
    await expect(page).to_have_title("Profile · Gethory")
    await expect(page.get_by_role("heading", name="Profile", exact=True)).to_be_focused()
    assert await focused_heading(page) == "Profile"


async def test_username_error_clears_once_the_field_changes(
    new_context: NewContext, site: Site, mailbox: Mailbox
) -> None:
    page = await (await new_context()).new_page()
    await sign_up_and_in(page, site, mailbox, "Uma")
    await page.goto("/profile")
    username = page.get_by_label("Username")
    await username.fill("x!")
    await page.get_by_role("button", name="Save profile").click()
    error = page.get_by_text("Usernames are 3 to 30")
    await expect(error).to_be_visible()
    await username.fill(f"uma_{secrets.token_hex(2)}")
    await expect(error).to_have_count(0)
    await expect(username).not_to_have_attribute("aria-invalid", "true")
    await page.screenshot(path=artifact("profile-username-fixed"), full_page=True)
    await page.get_by_role("button", name="Save profile").click()
    await expect(page.get_by_text("Saved", exact=True)).to_be_visible()
    # The error is tied to the field it is about, for assistive technology.
    await username.fill("no spaces")
    await page.get_by_role("button", name="Save profile").click()
    await expect(error).to_be_visible()
    await expect(username).to_have_attribute("aria-invalid", "true")
    assert "profile-username-error" in (await username.get_attribute("aria-describedby") or "")


async def test_profile_removes_the_avatar_and_signs_out_one_session(
    new_context: NewContext, site: Site, mailbox: Mailbox
) -> None:
    laptop = await (await new_context()).new_page()
    email = await sign_up_and_in(laptop, site, mailbox, "Val")
    phone = await (await new_context()).new_page()
    await phone.goto("/signin")
    await fill_sign_in(phone, email)
    await expect(phone).to_have_url(re.compile(r"/rooms$"))

    await laptop.goto("/profile")
    remove = laptop.get_by_role("button", name="Remove picture")
    await expect(remove).to_have_count(0)  # nothing to remove yet: the generated picture
    png = io.BytesIO()
    Image.new("RGB", (64, 64), "orange").save(png, "PNG")
    await laptop.get_by_label("Avatar").set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": png.getvalue()}
    )
    await expect(laptop.get_by_text("Your new picture is uploaded.")).to_be_visible()
    picture = laptop.locator("img.avatar-large")
    uploaded = await picture.get_attribute("src")
    assert uploaded is not None and "v=u" in uploaded
    await laptop.screenshot(path=artifact("profile-remove-picture"), full_page=True)
    await remove.click()
    await expect(laptop.get_by_text("Your picture is removed.")).to_be_visible()
    await expect(remove).to_have_count(0)
    assert "v=d" in (await picture.get_attribute("src") or "")
    me = await (await laptop.request.get("/api/users/me")).json()
    assert "v=d" in me["avatarUrl"]

    sessions = laptop.get_by_role("list", name="Where you are signed in")
    await expect(sessions.get_by_role("listitem")).to_have_count(2)
    await laptop.screenshot(path=artifact("profile-two-sessions"), full_page=True)
    other = sessions.get_by_role("listitem").filter(has_not_text="This device")
    await other.get_by_role("button", name=re.compile(r"^Sign out ")).click()
    await expect(sessions.get_by_role("listitem")).to_have_count(1)
    await expect(laptop.get_by_text("Signed out of that session.")).to_be_visible()
    await laptop.screenshot(path=artifact("profile-session-ended"), full_page=True)
    # The phone's session is over; the laptop's goes on.
    await phone.goto("/profile")
    await expect(phone).to_have_url(re.compile(r"/signin"))
    await laptop.reload()
    await expect(laptop.get_by_role("heading", name="Profile", exact=True)).to_be_visible()


async def test_reused_verification_link_says_the_address_is_verified(
    new_context: NewContext, site: Site, mailbox: Mailbox
) -> None:
    page = await (await new_context()).new_page()
    email = f"rae-{secrets.token_hex(3)}@example.com"
    await page.goto("/signup")
    await page.get_by_label("Name").fill("Rae")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    link = site.local(link_in(await mailbox.next_for(email)))
    await page.goto(link)
    await expect(page.get_by_role("heading", name="Email verified")).to_be_visible()

    again = await (await new_context()).new_page()
    await again.goto(link)
    already = again.get_by_role("heading", name="Your email is already verified")
    await expect(already).to_be_visible()
    await again.screenshot(path=artifact("verify-already-verified"), full_page=True)
    await again.get_by_role("main").get_by_role("link", name="Sign in").click()
    await fill_sign_in(again, email)
    await expect(again).to_have_url(re.compile(r"/rooms$"))

    # On the wire: still 400 invalid_token (the link does nothing), with the reason for its
    # holder; tokens stay single use.
    token = link.split("token=", 1)[1]
    headers = {"Origin": site.base_url}
    reply = await again.request.post(
        "/api/auth/verify-email", data={"token": token}, headers=headers
    )
    error = (await reply.json())["error"]
    assert (reply.status, error["code"], error["details"]) == (
        400,
        "invalid_token",
        {"emailVerified": True},
    )
    reply = await again.request.post(
        "/api/auth/verify-email", data={"token": secrets.token_urlsafe(32)}, headers=headers
    )
    error = (await reply.json())["error"]
    assert (reply.status, error["code"], error.get("details")) == (400, "invalid_token", None)

    # A link nobody ever issued still just fails: it tells nothing about any account.
    await again.goto("/verify-email?token=" + secrets.token_urlsafe(32))
    failed = again.get_by_role("heading", name="We could not verify your email")
    await expect(failed).to_be_visible()


async def test_signed_out_pages_log_no_errors(new_context: NewContext, site: Site) -> None:
    page = await (await new_context()).new_page()
    problems: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"{message.type}: {message.text} ({message.location.get('url')})")

    page.on("console", note)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    for path in ("/", "/signin", "/signup", "/check-email", "/forgot-password", "/rooms"):
        await page.goto(path)
        await expect(page.locator("h1")).to_be_visible()
        await page.wait_for_load_state("networkidle")
    assert problems == []
    assert not [url for url in requests if "/api/users/me" in url or "/api/auth/refresh" in url]


async def test_landing_page_for_visitors_and_rooms_for_members(
    new_context: NewContext, site: Site, mailbox: Mailbox
) -> None:
    page = await (await new_context()).new_page()
    email = await sign_up_and_in(page, site, mailbox, "Lee")
    await page.get_by_role("button", name="Sign out", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/signin"))

    await page.goto("/")
    await expect(page).to_have_url(site.base_url + "/")
    await expect(page).to_have_title("Voice rooms in your browser · Gethory")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Voice rooms")
    await expect(page.get_by_role("heading", level=1)).to_be_focused()
    intro = page.get_by_role("region", name=re.compile("Voice rooms"))
    await expect(intro).to_contain_text("invite-only")
    await expect(intro).to_contain_text("SFU")
    await page.screenshot(path=artifact("landing"), full_page=True)
    await fill_sign_in(page, email)
    await expect(page).to_have_url(re.compile(r"/rooms$"))
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/rooms$"))


async def spa_visit(page: Page, path: str) -> None:
    """Opens `path` inside the running app (as a link would), keeping the page's memory."""
    await page.evaluate(
        "p => { history.pushState({}, '', p); dispatchEvent(new PopStateEvent('popstate')); }",
        path,
    )


async def test_an_invite_accepted_in_a_tab_works_for_the_next_person_in_it(
    new_context: NewContext, site: Site, mailbox: Mailbox
) -> None:
    ann = await (await new_context()).new_page()
    await sign_up_and_in(ann, site, mailbox, "Ann")
    room = await api_post(
        ann, site, "/api/rooms", {"topic": "Shared desk", "visibility": "private", "media": "mesh"}
    )
    invite = await api_post(ann, site, f"/api/rooms/{room['id']}/invites", {})
    invite_path = "/invite/" + invite["token"]
    dora_page = await (await new_context()).new_page()
    dora = await sign_up_and_in(dora_page, site, mailbox, "Dora")
    await dora_page.context.close()

    tab = await (await new_context()).new_page()
    await sign_up_and_in(tab, site, mailbox, "Carl")
    await spa_visit(tab, invite_path)
    await expect(tab.get_by_role("heading", name="Shared desk", level=1)).to_be_visible()
    await tab.get_by_role("button", name="Sign out").click()
    await expect(tab.get_by_role("button", name="Sign out")).to_have_count(0)
    await spa_visit(tab, "/signin")
    await fill_sign_in(tab, dora)
    await expect(tab).to_have_url(re.compile(r"/rooms$"))
    # The same link in the same tab, without a reload: accepted for Dora this time.
    await spa_visit(tab, invite_path)
    await expect(tab.get_by_role("heading", name="Shared desk", level=1)).to_be_visible()
    await expect(tab.get_by_role("button", name="Join", exact=True)).to_be_visible()
