"""Sign-in throttling without lock-out (issue #9, item 9): wrong passwords slow the client
that sends them, never the account's owner elsewhere; success and a password reset clear
them. Each client is bound to its own loopback address, which the server sees as its IP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from tests.client import PASSWORD, ApiClient, Reply
from tests.conftest import RunningServer
from tests.mailbox import Mailbox, token_in

WRONG = "not the password at all"
PER_CLIENT_FAILURES = 10  # LoginPolicy.per_client
FREE_ACCOUNT_FAILURES = 20  # LoginPolicy.free_failures


@pytest.fixture
async def client_at(server: RunningServer) -> AsyncIterator[Callable[[str], ApiClient]]:
    """`client_at("127.0.0.2")`: a browser whose connections come from that address."""
    sessions: list[aiohttp.ClientSession] = []

    def make(address: str) -> ApiClient:
        session = aiohttp.ClientSession(
            base_url=server.base_url,
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(local_addr=(address, 0)),
        )
        sessions.append(session)
        return ApiClient(session)

    yield make
    for session in sessions:
        await session.close()


async def sign_in(client: ApiClient, email: str, password: str) -> Reply:
    return await client.post("/api/auth/login", {"email": email, "password": password})


async def fail(client: ApiClient, email: str, times: int) -> list[int]:
    return [(await sign_in(client, email, WRONG)).status for _ in range(times)]


def assert_told_to_wait(reply: Reply) -> None:
    assert (reply.status, reply.error_code) == (429, "rate_limited"), reply.body
    assert int(reply.headers["Retry-After"]) > 0


async def test_guessing_from_one_ip_does_not_lock_the_owner_out(
    client_at: Callable[[str], ApiClient], mailbox: Mailbox
) -> None:
    owner, attacker = client_at("127.0.0.1"), client_at("127.0.0.2")
    email = await owner.register_verified(mailbox)

    assert await fail(attacker, email, PER_CLIENT_FAILURES) == [401] * PER_CLIENT_FAILURES
    assert_told_to_wait(await sign_in(attacker, email, WRONG))
    assert (await sign_in(owner, email, PASSWORD)).status == 200
    # The owner's success lifts nothing for the attacker's address, right password or not.
    assert_told_to_wait(await sign_in(attacker, email, PASSWORD))


async def test_a_successful_sign_in_clears_the_owners_own_failures(
    client_at: Callable[[str], ApiClient], mailbox: Mailbox
) -> None:
    owner = client_at("127.0.0.3")
    email = await owner.register_verified(mailbox)
    for _ in range(2):
        assert await fail(owner, email, PER_CLIENT_FAILURES - 1) == [401] * 9
        assert (await sign_in(owner, email, PASSWORD)).status == 200


async def test_guessing_from_many_ips_backs_off_but_spares_the_owners_ip(
    client_at: Callable[[str], ApiClient], mailbox: Mailbox
) -> None:
    owner = client_at("127.0.0.1")
    email = await owner.register_verified(mailbox)
    assert (await sign_in(owner, email, PASSWORD)).status == 200  # the owner's usual address
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
