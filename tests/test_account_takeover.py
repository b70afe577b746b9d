"""Pre-account-takeover (issue #9, item 5, and its security review): verifying a mailbox never
activates a password or a name its owner did not set, whichever of attacker and owner signs the
address up first; mail to an unverified address carries no text a sign-up chose; and signing in
tells a stranger nothing their pending password does not already."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from urllib.parse import urlparse

import pytest

from tests.client import PASSWORD, ApiClient
from tests.mailbox import Mailbox, link_in, token_in

ATTACKER_PASSWORD = "attacker's own password"
VICTIM_PASSWORD = "victim's real password"
ATTACKER_NAME = "Eve from evil.example"
NEUTRAL_NAME = "New member"  # api.auth.service.CONTESTED_NAME


@pytest.fixture
def victim() -> str:
    """The victim's address, fresh per test: the SMTP fixture's mailboxes outlive a test."""
    return f"victim-{secrets.token_hex(4)}@example.com"


async def sign_up(client: ApiClient, email: str, password: str, name: str) -> None:
    body = {"email": email, "password": password, "name": name}
    assert (await client.post("/api/auth/register", body)).status == 202


async def follow_newest_link(
    client: ApiClient, mailbox: Mailbox, email: str, password: str, name: str | None = None
) -> int:
    """Open the next link in the mailbox as the web client does: a verification link is posted
    as it is; on the password page the owner types `password` (and `name`, if given). Returns
    the answer's status."""
    return await follow_link(client, await mailbox.next_for(email), password, name)


async def follow_link(
    client: ApiClient, message: EmailMessage, password: str, name: str | None = None
) -> int:
    path, token = urlparse(link_in(message)).path, token_in(message)
    if path == "/verify-email":
        return (await client.post("/api/auth/verify-email", {"token": token})).status
    assert path == "/reset-password", path
    body = {"token": token, "password": password}
    if name is not None:
        body["name"] = name
    return (await client.post("/api/auth/reset-password", body)).status


async def sign_in_status(client: ApiClient, email: str, password: str) -> int:
    return (await client.post("/api/auth/login", {"email": email, "password": password})).status


async def test_attacker_first_then_victim_registers_resends_and_verifies(
    new_client: Callable[[], ApiClient], mailbox: Mailbox, victim: str
) -> None:
    """The issue's attack, step by step."""
    attacker, owner = new_client(), new_client()
    await sign_up(attacker, victim, ATTACKER_PASSWORD, "Eve")
    attackers_link = token_in(await mailbox.next_for(victim))  # lands in the victim's mailbox
    await sign_up(owner, victim, VICTIM_PASSWORD, "Victor")
    await mailbox.next_for(victim)  # whatever it says, the victim asks for a fresh link
    assert (await owner.post("/api/auth/resend-verification", {"email": victim})).status == 202
    assert await follow_newest_link(owner, mailbox, victim, VICTIM_PASSWORD) in (200, 204)

    assert await sign_in_status(attacker, victim, ATTACKER_PASSWORD) == 401
    assert await sign_in_status(owner, victim, VICTIM_PASSWORD) == 200
    # The link of the attacker's sign-up, clicked late, changes nothing either.
    reply = await owner.post("/api/auth/verify-email", {"token": attackers_link})
    assert (reply.status, reply.error_code) == (400, "invalid_token")
    assert await sign_in_status(attacker, victim, ATTACKER_PASSWORD) == 401


async def test_attacker_first_and_victim_clicks_the_attackers_link(
    new_client: Callable[[], ApiClient], mailbox: Mailbox, victim: str
) -> None:
    """Once the victim has signed up too, the attacker's earlier link activates nothing, and
    the account ends with the victim's password and name."""
    attacker, owner = new_client(), new_client()
    await sign_up(attacker, victim, ATTACKER_PASSWORD, "Eve")
    attackers_link = token_in(await mailbox.next_for(victim))
    await sign_up(owner, victim, VICTIM_PASSWORD, "Victor")
    finish = await mailbox.next_for(victim)  # the victim's sign-up has been taken in

    reply = await owner.post("/api/auth/verify-email", {"token": attackers_link})
    assert (reply.status, reply.error_code) == (400, "invalid_token")
    # The victim's sign-up replaced the attacker's pending password.
    assert await sign_in_status(attacker, victim, ATTACKER_PASSWORD) == 401
    assert await follow_link(owner, finish, VICTIM_PASSWORD) in (200, 204)
    assert await sign_in_status(attacker, victim, ATTACKER_PASSWORD) == 401
    reply = await owner.post("/api/auth/login", {"email": victim, "password": VICTIM_PASSWORD})
    # Two sign-ups disagreed on the name: it is neither until the owner chooses one.
    assert reply.status == 200 and reply.body["user"]["name"] == NEUTRAL_NAME


async def test_attacker_registers_after_the_victim(
    new_client: Callable[[], ApiClient], mailbox: Mailbox, victim: str
) -> None:
    """The victim's own link cannot end up activating the attacker's password: after the
    attacker's sign-up it is void, and every newer link makes the victim choose the password."""
    attacker, owner = new_client(), new_client()
    await sign_up(owner, victim, VICTIM_PASSWORD, "Victor")
    victims_link = token_in(await mailbox.next_for(victim))
    await sign_up(attacker, victim, ATTACKER_PASSWORD, "Eve")
    await mailbox.next_for(victim)

    reply = await owner.post("/api/auth/verify-email", {"token": victims_link})
    assert (reply.status, reply.error_code) == (400, "invalid_token")
    assert (await owner.post("/api/auth/resend-verification", {"email": victim})).status == 202
    assert await follow_newest_link(owner, mailbox, victim, VICTIM_PASSWORD) in (200, 204)
    assert await sign_in_status(attacker, victim, ATTACKER_PASSWORD) == 401
    assert await sign_in_status(owner, victim, VICTIM_PASSWORD) == 200


def greeting_and_text(message: EmailMessage) -> tuple[str, str]:
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    text = plain.get_content() + html.get_content()
    return plain.get_content().splitlines()[0], text


async def test_the_victim_does_not_finish_with_the_attackers_name(
    new_client: Callable[[], ApiClient], mailbox: Mailbox, victim: str
) -> None:
    attacker, owner = new_client(), new_client()
    await sign_up(owner, victim, VICTIM_PASSWORD, "Victor")
    await mailbox.next_for(victim)
    await sign_up(attacker, victim, ATTACKER_PASSWORD, ATTACKER_NAME)
    assert await follow_newest_link(owner, mailbox, victim, VICTIM_PASSWORD) == 204
    reply = await owner.post("/api/auth/login", {"email": victim, "password": VICTIM_PASSWORD})
    assert reply.status == 200 and reply.body["user"]["name"] == NEUTRAL_NAME


async def test_the_owner_names_a_contested_account_as_they_choose_its_password(
    new_client: Callable[[], ApiClient], mailbox: Mailbox, victim: str
) -> None:
    attacker, owner = new_client(), new_client()
    await sign_up(attacker, victim, ATTACKER_PASSWORD, ATTACKER_NAME)
    await mailbox.next_for(victim)
    await sign_up(owner, victim, VICTIM_PASSWORD, "Victor")
    assert await follow_newest_link(owner, mailbox, victim, VICTIM_PASSWORD, "Victor") == 204
    reply = await owner.post("/api/auth/login", {"email": victim, "password": VICTIM_PASSWORD})
    assert reply.status == 200 and reply.body["user"]["name"] == "Victor"


async def test_mail_to_an_unverified_address_carries_no_name_a_sign_up_chose(
    new_client: Callable[[], ApiClient], mailbox: Mailbox, victim: str
) -> None:
    """Otherwise anyone could have us mail their text ("Hi <name>,") to any address."""
    attacker, owner = new_client(), new_client()
    # Each request's mail work runs 0.2-2 s after its answer: wait for each mail before the
    # next request, or a reset asked for too soon finds no account yet (and mails nothing).
    steps: list[Callable[[], Awaitable[object]]] = [
        lambda: sign_up(attacker, victim, ATTACKER_PASSWORD, ATTACKER_NAME),  # verification
        lambda: attacker.post("/api/auth/forgot-password", {"email": victim}),  # reset link
        lambda: sign_up(owner, victim, VICTIM_PASSWORD, "Victor"),  # choose-your-password link
        lambda: sign_up(attacker, victim, ATTACKER_PASSWORD, ATTACKER_NAME),  # and again
    ]
    for step in steps:
        await step()
        first_line, text = greeting_and_text(await mailbox.next_for(victim))
        assert first_line == "Hi,", first_line
        assert "Eve" not in text and "Victor" not in text, text

    # A verified account's own name is still used.
    email = await owner.register_verified(mailbox, name="Ann")
    assert (await owner.post("/api/auth/forgot-password", {"email": email})).status == 202
    first_line, _ = greeting_and_text(await mailbox.next_for(email))
    assert first_line == "Hi Ann,"


async def test_only_the_current_password_of_an_unverified_account_hears_it_is_unverified(
    new_client: Callable[[], ApiClient], mailbox: Mailbox, victim: str
) -> None:
    """A stranger whose pending password was replaced gets the plain 401 of any wrong
    password; only the password the account holds now answers 403 email_not_verified."""
    attacker, owner = new_client(), new_client()
    await sign_up(attacker, victim, ATTACKER_PASSWORD, ATTACKER_NAME)
    await mailbox.next_for(victim)
    reply = await attacker.post("/api/auth/login", {"email": victim, "password": ATTACKER_PASSWORD})
    assert (reply.status, reply.error_code) == (403, "email_not_verified")
    assert "gethory_access" not in {c.key for c in attacker.session.cookie_jar}

    await sign_up(owner, victim, VICTIM_PASSWORD, "Victor")
    await mailbox.next_for(victim)
    for password in (ATTACKER_PASSWORD, PASSWORD):
        reply = await attacker.post("/api/auth/login", {"email": victim, "password": password})
        assert (reply.status, reply.error_code) == (401, "invalid_credentials")
    reply = await owner.post("/api/auth/login", {"email": victim, "password": VICTIM_PASSWORD})
    assert (reply.status, reply.error_code) == (403, "email_not_verified")
    # No device cookie for a sign-in that did not happen.
    assert not [c for c in owner.session.cookie_jar if c.key.startswith("gethory_device_")]
