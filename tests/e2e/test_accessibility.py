"""axe-core on every page of the web client (issue 12, item 8): no serious or critical
violation, in the light and the dark colour scheme.

axe-core comes from the `@axe-core/playwright` npm package (web/node_modules/axe-core); our
browser tests are Python Playwright, so the script is injected into each page and `axe.run()`
evaluated there. The contexts bypass our CSP only to let that injected script run.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import REPO, Site, artifact
from tests.e2e.test_lobby import NewApi, account, enter_call, new_room, sign_in
from tests.mailbox import Mailbox, link_in

AXE_SCRIPT = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
Scheme = Literal["light", "dark"]
Violations = dict[str, list[dict[str, Any]]]


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """The page's axe violations, of any impact: rule id, impact, help, elements."""
    await page.add_script_tag(path=str(AXE_SCRIPT))
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => {
            const result = await axe.run(document, { resultTypes: ["violations"] });
            return result.violations.map((v) => ({
                id: v.id,
                impact: v.impact,
                help: v.help,
                nodes: v.nodes.map((n) => ({
                    target: n.target.join(" "),
                    summary: n.failureSummary,
                })),
            }));
        }"""
    )
    return found


@pytest.fixture
async def axe_context(
    browser: Browser, site: Site
) -> AsyncIterator[Callable[[Scheme], Awaitable[BrowserContext]]]:
    contexts: list[BrowserContext] = []

    async def make(scheme: Scheme) -> BrowserContext:
        context = await browser.new_context(
            base_url=site.base_url,
            permissions=["microphone"],
            color_scheme=scheme,
            bypass_csp=True,  # only so that the injected axe script may run
        )
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        await context.close()


class Checker:
    """Runs axe on each page visited and keeps what it found, page by page."""

    def __init__(self, scheme: Scheme) -> None:
        self.scheme = scheme
        self.found: Violations = {}  # serious and critical: these fail the test
        self.minor: Violations = {}  # moderate and minor: reported in the artifact only
        self.pages: list[str] = []

    async def check(self, page: Page, name: str) -> None:
        # Each page is checked once it shows its main heading (and has settled its requests).
        await expect(page.locator("h1").first).to_be_visible()
        await page.wait_for_load_state("networkidle")
        self.pages.append(name)
        violations = await axe_violations(page)
        if minor := [v for v in violations if v["impact"] not in BLOCKING]:
            self.minor[name] = minor
        if blocking := [v for v in violations if v["impact"] in BLOCKING]:
            self.found[name] = blocking
            await page.screenshot(path=artifact(f"axe-{self.scheme}-{name}"), full_page=True)

    def report(self) -> str:
        lines = []
        for name, violations in self.found.items():
            for v in violations:
                targets = "; ".join(n["target"] for n in v["nodes"][:5])
                lines.append(
                    f"{self.scheme} {name}: {v['id']} ({v['impact']}) {v['help']}: {targets}"
                )
        return "\n".join(lines)


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_no_serious_or_critical_axe_violation_on_any_page(
    axe_context: Callable[[Scheme], Awaitable[BrowserContext]],
    api: NewApi,
    mailbox: Mailbox,
    site: Site,
    scheme: Scheme,
) -> None:
    assert AXE_SCRIPT.is_file(), "web/node_modules is not installed: `make test` installs it"
    checker = Checker(scheme)
    page = await (await axe_context(scheme)).new_page()

    # Signed out: the landing page, the account pages, a bad link, a missing page.
    for name, path in (
        ("landing", "/"),
        ("sign-in", "/signin"),
        ("sign-up", "/signup"),
        ("forgot-password", "/forgot-password"),
        ("reset-password", "/reset-password?token=" + "x" * 43),
        ("verify-bad-link", "/verify-email?token=" + "x" * 43),
        ("not-found-signed-out", "/no/such/page"),
    ):
        await page.goto(path)
        await checker.check(page, name)

    # Signing up: the form, then "check your email", then the verified page.
    email = f"axe-{scheme}-{re.sub(r'[^a-z]', '', site.base_url)[-6:]}@example.com"
    await page.goto("/signup")
    await page.get_by_label("Name").fill("Axe Tester")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("correct horse battery staple")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    await checker.check(page, "check-email")
    await page.goto(site.local(link_in(await mailbox.next_for(email))))
    await expect(page.get_by_role("heading", name="Email verified")).to_be_visible()
    await checker.check(page, "verify-email")

    # Signed in: the lobby (with rooms in it), profile, a room before and in its call, invites.
    owner, _, _ = await account(api, mailbox, "Owner")
    public = await new_room(owner, "Open to all")
    private = await new_room(owner, "Invited only", visibility="private", media="sfu")
    invite = (await owner.post(f"/api/rooms/{private}/invites", {})).body["url"]
    await sign_in(page, email)
    await expect(page.get_by_role("link", name="Open to all")).to_be_visible()
    await checker.check(page, "rooms")
    await page.goto("/profile")
    await checker.check(page, "profile")
    await page.goto(f"/rooms/{public}")
    await expect(page.get_by_role("heading", name="Open to all", level=1)).to_be_visible()
    await checker.check(page, "room-before-joining")
    await enter_call(page)
    await checker.check(page, "room-in-call")
    await page.get_by_role("button", name="Leave", exact=True).click()
    # A room of one's own: the owner's controls, then the lobby's "Close" question.
    await page.goto("/rooms")
    form = page.get_by_role("form", name="Create a room")
    await form.get_by_label("Topic").fill("My own room")
    await form.get_by_role("button", name="Create room").click()
    await expect(page.get_by_role("heading", name="My own room", level=1)).to_be_visible()
    await checker.check(page, "own-room-before-joining")
    await enter_call(page)
    await checker.check(page, "own-room-in-call")
    await page.get_by_role("button", name="Leave", exact=True).click()
    await page.goto("/rooms")
    await page.get_by_role("button", name="Close My own room").first.click()
    await expect(page.get_by_role("dialog", name="Close “My own room”?")).to_be_visible()
    await checker.check(page, "rooms-close-question")
    await page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    await page.goto("/invite/" + "y" * 43)
    await checker.check(page, "invite-unknown")
    await page.goto(site.local(invite))
    await expect(page.get_by_role("heading", name="Invited only", level=1)).to_be_visible()
    await checker.check(page, "invite-accepted-room")
    await page.goto("/no/such/page")
    await checker.check(page, "not-found-signed-in")

    Path(artifact(f"axe-{scheme}-report")).with_suffix(".json").write_text(
        json.dumps(
            {"pages": checker.pages, "violations": checker.found, "minor": checker.minor},
            indent=2,
        )
    )
    assert not checker.found, "axe found serious or critical violations:\n" + checker.report()


async def test_the_check_sees_a_violation(
    axe_context: Callable[[Scheme], Awaitable[BrowserContext]],
) -> None:
    """The harness itself: an image without a text alternative is a critical violation."""
    page = await (await axe_context("light")).new_page()
    await page.set_content('<html lang="en"><title>t</title><main><img src="x.png"></main></html>')
    assert "image-alt" in [v["id"] for v in await axe_violations(page)]
