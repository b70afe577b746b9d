"""Pre-account-takeover (issue #9, item 5): verifying a mailbox never activates a password
its owner did not set, whichever of attacker and owner signs the address up first."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from urllib.parse import urlparse

import pytest

from tests.client import ApiClient
from tests.mailbox import Mailbox, link_in, token_in

ATTACKER_PASSWORD = "attacker's own password"
VICTIM_PASSWORD = "victim's real password"


@pytest.fixture
def victim() -> str:
    """The victim's address, fresh per test: the SMTP fixture's mailboxes outlive a test."""
    return f"victim-{secrets.token_hex(4)}@example.com"


async def sign_up(client: ApiClient, email: str, password: str, name: str) -> None:
    body = {"email": email, "password": password, "name": name}
    assert (await client.post("/api/auth/register", body)).status == 202


async def follow_newest_link(client: ApiClient, mailbox: Mailbox, email: str, password: str) -> int:
    """Open the next link in the mailbox as the web client does: a verification link is posted
    as it is; on the password page the owner types `password`. Returns the answer's status."""
    message = await mailbox.next_for(email)
    path, token = urlparse(link_in(message)).path, token_in(message)
    if path == "/verify-email":
        return (await client.post("/api/auth/verify-email", {"token": token})).status
    assert path == "/reset-password", path
    body = {"token": token, "password": password}
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

    reply = await owner.post("/api/auth/verify-email", {"token": attackers_link})
    assert (reply.status, reply.error_code) == (400, "invalid_token")
    # The victim's sign-up replaced the attacker's pending password.
    assert await sign_in_status(attacker, victim, ATTACKER_PASSWORD) == 401
    assert await follow_newest_link(owner, mailbox, victim, VICTIM_PASSWORD) in (200, 204)
    assert await sign_in_status(attacker, victim, ATTACKER_PASSWORD) == 401
    reply = await owner.post("/api/auth/login", {"email": victim, "password": VICTIM_PASSWORD})
    assert reply.status == 200 and reply.body["user"]["name"] == "Victor"


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
