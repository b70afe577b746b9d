"""TRUSTED_PROXIES (issue 13, "Behind a proxy"): the forwarding headers count only from a
trusted peer, and then the client is the right-most X-Forwarded-For hop that is not itself a
trusted proxy; rate limits, session IPs and Secure cookies follow it. The real app on a real
socket; the test's own connections (from 127.0.0.1) play the proxy, and connections bound to
127.0.0.2 play a client that reaches the app directly."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from api.app import create_app
from api.forwarded import parse_address
from api.settings import Settings
from tests.client import PASSWORD, ApiClient, Reply, browsers_at
from tests.conftest import RunningServer, start_server
from tests.mailbox import Mailbox

WRONG = "not the password at all"
PER_CLIENT_FAILURES = 10  # LoginPolicy.per_client: failures per client IP and account
LOOPBACK_PROXY = (ipaddress.ip_network("127.0.0.1/32"),)

Clients = Callable[..., ApiClient]


@pytest.fixture
async def proxied(with_settings: Callable[..., Settings]) -> AsyncIterator[RunningServer]:
    """The app with TRUSTED_PROXIES=127.0.0.1/32, in development with an http APP_ORIGIN."""
    running = await start_server(create_app(with_settings(trusted_proxies=LOOPBACK_PROXY)))
    yield running
    await running.runner.cleanup()


@pytest.fixture
async def via_proxy(proxied: RunningServer) -> AsyncIterator[Clients]:
    """`via_proxy()`: a browser whose requests reach the proxied app from 127.0.0.1 (the
    trusted proxy); `via_proxy("127.0.0.2")`: one that reaches it directly."""
    async with browsers_at(proxied.base_url) as make:
        yield make


@pytest.fixture
async def direct(server: RunningServer) -> AsyncIterator[Clients]:
    """Browsers of the app without TRUSTED_PROXIES."""
    async with browsers_at(server.base_url) as make:
        yield make


def forwarded_for(value: str, **more: str) -> dict[str, str]:
    return {"X-Forwarded-For": value, **more}


async def sign_in(client: ApiClient, email: str, password: str, **headers: str) -> Reply:
    body = {"email": email, "password": password}
    return await client.post("/api/auth/login", body, headers=headers)


async def fail(client: ApiClient, email: str, headers: list[dict[str, str]]) -> list[int]:
    return [
        (await sign_in(client, email, WRONG, **one)).status
        for one in headers  # one failure per header set
    ]


async def session_ips(client: ApiClient) -> dict[str, str]:
    """Session id → the IP the server stored for it at sign-in."""
    reply = await client.get("/api/auth/sessions")
    assert reply.status == 200, reply.body
    return {s["id"]: s["ip"] for s in reply.body["sessions"]}


def set_cookie_lines(reply: Reply) -> list[str]:
    lines: list[str] = reply.headers.getall("Set-Cookie", [])
    assert len(lines) == 3, lines  # access, refresh and device cookie
    return lines


def secure(line: str) -> bool:
    return any(part.strip().lower() == "secure" for part in line.split(";"))


# --- rate limits -----------------------------------------------------------------------------


async def test_without_trusted_proxies_forged_forwarded_for_shares_one_bucket(
    direct: Clients, mailbox: Mailbox
) -> None:
    client = direct()
    email = await client.register_verified(mailbox)
    headers = [forwarded_for(f"198.51.100.{n}") for n in range(PER_CLIENT_FAILURES)]
    assert await fail(client, email, headers) == [401] * PER_CLIENT_FAILURES
    # Another "client" by the header is still 127.0.0.1 to the server: told to wait.
    reply = await sign_in(client, email, WRONG, **forwarded_for("203.0.113.99"))
    assert (reply.status, reply.error_code) == (429, "rate_limited"), reply.body


async def test_a_trusted_proxy_gives_each_forwarded_client_its_own_bucket(
    via_proxy: Clients, mailbox: Mailbox
) -> None:
    proxy = via_proxy()
    email = await proxy.register_verified(mailbox)
    same = [forwarded_for("203.0.113.1")] * PER_CLIENT_FAILURES
    assert await fail(proxy, email, same) == [401] * PER_CLIENT_FAILURES
    assert (await sign_in(proxy, email, WRONG, **same[0])).status == 429
    # A different user behind the same proxy is not punished for the first one's guesses.
    assert (await sign_in(proxy, email, WRONG, **forwarded_for("203.0.113.2"))).status == 401
    assert (await sign_in(proxy, email, PASSWORD, **forwarded_for("203.0.113.3"))).status == 200


async def test_ipv6_clients_are_counted_by_their_64_bit_prefix(
    via_proxy: Clients, mailbox: Mailbox
) -> None:
    """Anyone with IPv6 holds a /64 (2^64 addresses: a home line, a cloud instance), so a
    bucket per IPv6 address is no limit at all: a new address per guess never waits. Rate
    limits count an IPv6 client by its /64, as one IPv4 address counts (RFC 6177 hands
    a /64 or more to every site)."""
    proxy = via_proxy()
    email = await proxy.register_verified(mailbox)
    rotating = [forwarded_for(f"2001:db8:1:2::{n:x}") for n in range(1, PER_CLIENT_FAILURES + 1)]
    assert await fail(proxy, email, rotating) == [401] * PER_CLIENT_FAILURES
    reply = await sign_in(proxy, email, WRONG, **forwarded_for("2001:db8:1:2:ffff::1"))
    assert (reply.status, reply.error_code) == (429, "rate_limited"), reply.body
    # Another /64 is another client; IPv4 clients keep a bucket per address.
    assert (await sign_in(proxy, email, WRONG, **forwarded_for("2001:db8:1:3::1"))).status == 401
    assert (await sign_in(proxy, email, WRONG, **forwarded_for("203.0.113.1"))).status == 401
    # The session still records the client's own address.
    signed_in = await sign_in(proxy, email, PASSWORD, **forwarded_for("2001:db8:9::5"))
    assert signed_in.status == 200, signed_in.body
    assert "2001:db8:9::5" in (await session_ips(proxy)).values()


async def test_a_forged_left_most_entry_does_not_escape_the_bucket(
    via_proxy: Clients, mailbox: Mailbox
) -> None:
    """The client sends `X-Forwarded-For: <anything>`, the proxy appends the address it saw
    (5.6.7.8): whatever the client wrote, it is 5.6.7.8."""
    proxy = via_proxy()
    email = await proxy.register_verified(mailbox)
    forged = [forwarded_for(f"1.2.3.{n}, 5.6.7.8") for n in range(PER_CLIENT_FAILURES)]
    assert await fail(proxy, email, forged) == [401] * PER_CLIENT_FAILURES
    for value in ("1.2.3.4, 5.6.7.8", "5.6.7.8", "garbage, 5.6.7.8", "127.0.0.9, 5.6.7.8"):
        reply = await sign_in(proxy, email, WRONG, **forwarded_for(value))
        assert (reply.status, reply.error_code) == (429, "rate_limited"), (value, reply.body)
    # Whereas the proxy's own entry is the client: a different one has a fresh bucket.
    assert (await sign_in(proxy, email, WRONG, **forwarded_for("1.2.3.4, 5.6.7.9"))).status == 401


async def test_an_untrusted_peer_has_its_forwarding_headers_ignored(
    via_proxy: Clients, mailbox: Mailbox
) -> None:
    stranger = via_proxy("127.0.0.2")  # not in TRUSTED_PROXIES
    email = await stranger.register_verified(mailbox)
    headers = [forwarded_for(f"198.51.100.{n}") for n in range(PER_CLIENT_FAILURES)]
    assert await fail(stranger, email, headers) == [401] * PER_CLIENT_FAILURES
    assert (await sign_in(stranger, email, WRONG, **forwarded_for("203.0.113.5"))).status == 429
    login = await sign_in(stranger, email, PASSWORD, **{"X-Forwarded-Proto": "https"})
    assert login.status == 429  # still the same address, whatever it claims


# --- session IPs -----------------------------------------------------------------------------

# (headers the proxy sends, the IP the session must show)
SESSION_CASES: list[tuple[dict[str, str], str]] = [
    (forwarded_for("203.0.113.10"), "203.0.113.10"),
    (forwarded_for("6.6.6.6, 203.0.113.11"), "203.0.113.11"),  # forged left-most entry
    # A chain of two trusted proxies (127.0.0.1 twice): the hop before them is the client.
    (forwarded_for("203.0.113.12, 127.0.0.1"), "203.0.113.12"),
    ({"X-Forwarded-For": "6.6.6.6", "x-forwarded-for": "203.0.113.13"}, "203.0.113.13"),
    (forwarded_for("203.0.113.14:51234"), "203.0.113.14"),  # Azure-style address:port
    (forwarded_for("[2001:db8::15]:443"), "2001:db8::15"),
    (forwarded_for("2001:db8::16"), "2001:db8::16"),
    (forwarded_for("::ffff:127.0.0.1, 203.0.113.17"), "203.0.113.17"),
    # RFC 7239, read the same way when there is no X-Forwarded-For.
    ({"Forwarded": "for=6.6.6.6, for=203.0.113.18;proto=https"}, "203.0.113.18"),
    ({"Forwarded": 'for="[2001:db8::19]:4711";proto=https'}, "2001:db8::19"),
    # X-Forwarded-For wins over a Forwarded header the proxy may have passed through.
    ({"Forwarded": "for=6.6.6.6", "X-Forwarded-For": "203.0.113.20"}, "203.0.113.20"),
    # Garbage where the rule must read, or too many trusted hops: the peer, never a 500.
    (forwarded_for("not-an-ip"), "127.0.0.1"),
    (forwarded_for("203.0.113.21, not-an-ip"), "127.0.0.1"),
    (forwarded_for(""), "127.0.0.1"),
    (forwarded_for(", ".join(["127.0.0.1"] * 40)), "127.0.0.1"),
    (forwarded_for(",".join(["203.0.113.1"] * 500) + ", 203.0.113.22"), "203.0.113.22"),
    (forwarded_for("x" * 6000), "127.0.0.1"),
    ({"Forwarded": "for=unknown"}, "127.0.0.1"),
    ({"Forwarded": 'for="_hidden'}, "127.0.0.1"),
    ({"Forwarded": "garbage;;;,,=="}, "127.0.0.1"),
]


async def test_sessions_store_the_forwarded_client_address(
    via_proxy: Clients, mailbox: Mailbox
) -> None:
    proxy = via_proxy()
    email = await proxy.register_verified(mailbox)
    expected: dict[str, str] = {}
    for headers, ip in SESSION_CASES:
        reply = await sign_in(via_proxy(), email, PASSWORD, **headers)
        assert reply.status == 200, (headers, reply.body)
        expected[reply.body["sessionId"]] = ip
    reply = await sign_in(via_proxy("127.0.0.2"), email, PASSWORD, **forwarded_for("6.6.6.7"))
    expected[reply.body["sessionId"]] = "127.0.0.2"  # not a trusted proxy
    await proxy.login(email)
    stored = await session_ips(proxy)
    assert {sid: stored.get(sid) for sid in expected} == expected


async def test_without_trusted_proxies_sessions_store_the_peer(
    direct: Clients, mailbox: Mailbox
) -> None:
    client = direct()
    email = await client.register_verified(mailbox)
    reply = await sign_in(client, email, PASSWORD, **forwarded_for("203.0.113.30"))
    assert (await session_ips(client))[reply.body["sessionId"]] == "127.0.0.1"


# --- Secure cookies --------------------------------------------------------------------------


async def test_forwarded_https_makes_the_cookies_secure(
    via_proxy: Clients, direct: Clients, mailbox: Mailbox
) -> None:
    """Development with an http APP_ORIGIN sets cookies without Secure, unless the trusted
    proxy says the browser came over https."""
    proxy = via_proxy()
    email = await proxy.register_verified(mailbox)
    cases: list[tuple[Clients, str, dict[str, Any], bool]] = [
        (via_proxy, "127.0.0.1", {}, False),
        (via_proxy, "127.0.0.1", {"X-Forwarded-Proto": "https"}, True),
        (via_proxy, "127.0.0.1", {"X-Forwarded-Proto": "HTTPS", **forwarded_for("6.6.6.6")}, True),
        (via_proxy, "127.0.0.1", {"X-Forwarded-Proto": "http, https"}, True),  # right-most
        (via_proxy, "127.0.0.1", {"X-Forwarded-Proto": "https, http"}, False),
        (via_proxy, "127.0.0.1", {"X-Forwarded-Proto": "gopher"}, False),
        (via_proxy, "127.0.0.1", {"Forwarded": "for=203.0.113.40;proto=https"}, True),
        (via_proxy, "127.0.0.2", {"X-Forwarded-Proto": "https"}, False),  # untrusted peer
        (direct, "127.0.0.1", {"X-Forwarded-Proto": "https"}, False),  # no TRUSTED_PROXIES
    ]
    direct_email = await direct().register_verified(mailbox)
    for make, address, headers, want_secure in cases:
        account = direct_email if make is direct else email
        reply = await sign_in(make(address), account, PASSWORD, **headers)
        assert reply.status == 200, reply.body
        flags = [secure(line) for line in set_cookie_lines(reply)]
        assert flags == [want_secure] * 3, (headers, address, reply.headers.getall("Set-Cookie"))
    # Signing out clears them the same way (Secure, so the browser matches them).
    browser = via_proxy()
    await browser.login(email, headers={"X-Forwarded-Proto": "https"})
    reply = await browser.post("/api/auth/logout", headers={"X-Forwarded-Proto": "https"})
    cleared = reply.headers.getall("Set-Cookie")
    assert reply.status == 204 and len(cleared) == 2 and all(map(secure, cleared)), cleared


# --- the socket and the address parser -------------------------------------------------------


async def test_the_signaling_socket_opens_through_a_trusted_proxy(proxied: RunningServer) -> None:
    """python-socketio serves the request the forwarding middleware cloned."""
    url = f"{proxied.base_url}/socket.io/?EIO=4&transport=websocket"
    headers = {"X-Forwarded-For": "203.0.113.50", "X-Forwarded-Proto": "https"}
    async with aiohttp.ClientSession() as http, http.ws_connect(url, headers=headers) as ws:
        opened = await ws.receive(timeout=10)
    assert opened.type == aiohttp.WSMsgType.TEXT and opened.data.startswith("0{"), opened


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("203.0.113.1", "203.0.113.1"),
        (" 203.0.113.1 ", "203.0.113.1"),
        ("203.0.113.1:8080", "203.0.113.1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:8080", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:10.1.2.3", "10.1.2.3"),
        ("", None),
        ("unknown", None),
        ("_hidden", None),
        ("300.1.1.1", None),
        ("1" * 200, None),
        (None, None),
    ],
)
def test_addresses_are_read_as_forwarding_headers_write_them(
    text: str | None, address: str | None
) -> None:
    parsed = parse_address(text)
    assert (str(parsed) if parsed is not None else None) == address
