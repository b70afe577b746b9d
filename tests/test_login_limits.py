"""Sign-in throttling without lock-out (issue #9, item 9, and its security review): wrong
passwords slow the client that sends them, never the account's owner: a browser that signed in
before carries a device cookie that exempts it from everyone else's failures, from any address,
even the attacker's own. Only failures count; a password reset clears them. Each client is
bound to its own loopback address, which the server sees as its IP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from tests.client import PASSWORD, ApiClient, Reply, browsers_at
from tests.conftest import RunningServer
from tests.mailbox import Mailbox, token_in

WRONG = "not the password at all"
PER_CLIENT_FAILURES = 10  # LoginPolicy.per_client
FREE_ACCOUNT_FAILURES = 20  # LoginPolicy.free_failures
PER_IP_FAILURES = 30  # LoginPolicy.per_ip
DEVICE_COOKIE_PREFIX = "gethory_device_"


@pytest.fixture
async def client_at(server: RunningServer) -> AsyncIterator[Callable[..., ApiClient]]:
    """`client_at("127.0.0.2")`: a browser whose connections come from that address;
    `client_at("127.0.0.3", same_browser_as=other)`: `other`'s browser (its cookies) on
    another network."""
    async with browsers_at(server.base_url) as make:
        yield make


async def sign_in(client: ApiClient, email: str, password: str) -> Reply:
    return await client.post("/api/auth/login", {"email": email, "password": password})


async def fail(client: ApiClient, email: str, times: int) -> list[int]:
    return [(await sign_in(client, email, WRONG)).status for _ in range(times)]


def assert_told_to_wait(reply: Reply) -> None:
    assert (reply.status, reply.error_code) == (429, "rate_limited"), reply.body
    assert int(reply.headers["Retry-After"]) > 0


async def test_guessing_from_one_ip_does_not_lock_the_owner_out(
    client_at: Callable[..., ApiClient], mailbox: Mailbox
) -> None:
    owner, attacker = client_at("127.0.0.1"), client_at("127.0.0.2")
    email = await owner.register_verified(mailbox)

    assert await fail(attacker, email, PER_CLIENT_FAILURES) == [401] * PER_CLIENT_FAILURES
    assert_told_to_wait(await sign_in(attacker, email, WRONG))
    assert (await sign_in(owner, email, PASSWORD)).status == 200
    # The owner's success lifts nothing for the attacker's address, right password or not.
    assert_told_to_wait(await sign_in(attacker, email, PASSWORD))


async def test_a_successful_sign_in_clears_the_owners_own_failures(
    client_at: Callable[..., ApiClient], mailbox: Mailbox
) -> None:
    owner = client_at("127.0.0.3")
    email = await owner.register_verified(mailbox)
    for _ in range(2):
        assert await fail(owner, email, PER_CLIENT_FAILURES - 1) == [401] * 9
        assert (await sign_in(owner, email, PASSWORD)).status == 200


async def test_guessing_from_many_ips_backs_off_but_spares_the_owners_browser(
    client_at: Callable[..., ApiClient], mailbox: Mailbox
) -> None:
    owner = client_at("127.0.0.1")
    email = await owner.register_verified(mailbox)
    assert (await sign_in(owner, email, PASSWORD)).status == 200  # the owner's browser
    for n in range(FREE_ACCOUNT_FAILURES // PER_CLIENT_FAILURES):
        attacker = client_at(f"127.0.1.{n + 1}")
        assert await fail(attacker, email, PER_CLIENT_FAILURES) == [401] * PER_CLIENT_FAILURES
    # Past the free failures every new address waits 1 s, 2 s, 4 s ... after the last failure:
    # within a few fresh addresses the wait outlasts a request, whatever the machine's load.
    answers = [await sign_in(client_at(f"127.0.2.{n + 1}"), email, WRONG) for n in range(8)]
    statuses = [reply.status for reply in answers]
    assert set(statuses) <= {401, 429} and 429 in statuses, statuses
    assert_told_to_wait(next(reply for reply in answers if reply.status == 429))

    assert (await sign_in(owner, email, PASSWORD)).status == 200

    # A password reset proves the mailbox and lifts every wait on the account.
    assert (await owner.post("/api/auth/forgot-password", {"email": email})).status == 202
    token = token_in(await mailbox.next_for(email))
    body = {"token": token, "password": "a brand new password"}
    assert (await owner.post("/api/auth/reset-password", body)).status == 204
    newcomer = client_at("127.0.3.1")
    assert (await sign_in(newcomer, email, "a brand new password")).status == 200


def device_cookie_of(client: ApiClient) -> tuple[str, str]:
    [cookie] = [c for c in client.session.cookie_jar if c.key.startswith(DEVICE_COOKIE_PREFIX)]
    assert cookie["httponly"] and cookie["path"] == "/api/auth/login", cookie
    return cookie.key, cookie.value


async def test_rotating_addresses_never_keep_the_owners_browser_out_from_a_new_address(
    client_at: Callable[..., ApiClient], mailbox: Mailbox
) -> None:
    """The review's attack, scaled down: wrong guesses from ever new addresses keep the account
    under back-off; the owner, in the browser they signed in with before but on a network
    never seen, gets in every time, while a browser without the cookie must wait."""
    home = client_at("127.0.0.1")
    email = await home.register_verified(mailbox)
    assert (await sign_in(home, email, PASSWORD)).status == 200
    device_cookie_of(home)

    guesses = 0
    for n in range(FREE_ACCOUNT_FAILURES // PER_CLIENT_FAILURES):
        attacker = client_at(f"127.0.1.{n + 1}")
        assert await fail(attacker, email, PER_CLIENT_FAILURES) == [401] * PER_CLIENT_FAILURES
        guesses += PER_CLIENT_FAILURES
    for round_ in range(6):
        # The attacker keeps guessing from fresh addresses (some get through, some must wait)...
        for n in range(3):
            await sign_in(client_at(f"127.0.2.{round_ * 3 + n + 1}"), email, WRONG)
        # ... and the owner travels: a new address each time, the same browser.
        traveller = client_at(f"127.0.3.{round_ + 1}", same_browser_as=home)
        reply = await sign_in(traveller, email, PASSWORD)
        assert reply.status == 200, (round_, reply.status, reply.body)
    # The back-off still holds for everyone else: within a few fresh addresses one must wait.
    answers = [await sign_in(client_at(f"127.0.4.{n + 1}"), email, WRONG) for n in range(8)]
    assert 429 in [reply.status for reply in answers], [reply.status for reply in answers]


async def test_a_forged_or_foreign_device_cookie_exempts_nothing(
    client_at: Callable[..., ApiClient], mailbox: Mailbox
) -> None:
    owner = client_at("127.0.0.1")
    email = await owner.register_verified(mailbox)
    assert (await sign_in(owner, email, PASSWORD)).status == 200
    name, value = device_cookie_of(owner)
    # The attacker's own account gives them a device cookie, for their account only.
    attacker = client_at("127.0.5.1")
    own = await attacker.register_verified(mailbox, name="Eve")
    assert (await sign_in(attacker, own, PASSWORD)).status == 200
    # The attacker's address is spent on the owner's account...
    assert await fail(attacker, email, PER_CLIENT_FAILURES) == [401] * PER_CLIENT_FAILURES
    assert_told_to_wait(await sign_in(attacker, email, PASSWORD))
    # ... and a tampered copy of the owner's cookie (same name) changes nothing.
    for forged in [value[:-2] + ("AA" if value[-2:] != "AA" else "BB"), value + "x", "a.0.b"]:
        attacker.session.cookie_jar.update_cookies({name: forged})
        assert_told_to_wait(await sign_in(attacker, email, PASSWORD))
    # The owner's real browser on that very address is let in.
    visiting = client_at("127.0.5.1", same_browser_as=owner)
    assert (await sign_in(visiting, email, PASSWORD)).status == 200


async def test_an_attacker_behind_the_owners_nat_does_not_lock_the_owners_browser_out(
    client_at: Callable[..., ApiClient], mailbox: Mailbox
) -> None:
    owner = client_at("127.0.7.1")
    email = await owner.register_verified(mailbox)
    assert (await sign_in(owner, email, PASSWORD)).status == 200
    neighbour = client_at("127.0.7.1")  # same public address, another browser
    assert await fail(neighbour, email, PER_CLIENT_FAILURES) == [401] * PER_CLIENT_FAILURES
    others = PER_IP_FAILURES - PER_CLIENT_FAILURES
    statuses = [
        (await sign_in(neighbour, f"nobody-{n}@example.com", WRONG)).status for n in range(others)
    ]
    assert statuses == [401] * others
    assert_told_to_wait(await sign_in(neighbour, "someone-else@example.com", WRONG))
    # The address is spent for browsers without a device cookie, not for the owner's.
    assert (await sign_in(owner, email, PASSWORD)).status == 200
    assert_told_to_wait(await sign_in(client_at("127.0.7.1"), email, PASSWORD))


async def test_only_failures_count_against_an_address(
    client_at: Callable[..., ApiClient], mailbox: Mailbox
) -> None:
    """Everyone behind one address signs in, each in a browser of their own (no device cookie
    yet): successes never use up the address's allowance of failures."""
    email = await client_at("127.0.8.1").register_verified(mailbox)
    statuses = [
        (await sign_in(client_at("127.0.8.1"), email, PASSWORD)).status
        for _ in range(PER_IP_FAILURES + 5)
    ]
    assert statuses == [200] * (PER_IP_FAILURES + 5)
