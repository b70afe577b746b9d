"""ICE consent freshness (RFC 7675) as the SFU runs it: checks are retransmitted, late
answers count, any authenticated packet from the peer is a sign of life, and consent expires
only after a whole expiry period without one.

Before, each check waited 0.5 s with no retransmission and five misses in a row ended the
connection, so a peer whose answers came 0.7 s late (a loaded machine) lost its media within
about 8 s while it was sending audio all along.
"""

from __future__ import annotations

import asyncio
import math
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import aioice
import pytest

from api.services import SERVICES
from sfu.aiortc_hooks import ConsentPolicy, active_consent, use_consent
from sfu.config import RtcConfig
from tests.conftest import RunningServer
from tests.people import Person
from tests.rtc_probes import ice_connection, lag_sent_stun
from tests.sfu_bot import bot_process
from tests.sfu_client import SfuClient
from tests.sfu_state import is_connected

MakePerson = Callable[[str], Awaitable[Person]]
SHORT = ConsentPolicy(interval_seconds=1.0, expiry_seconds=3.0)  # quick, same shape


# --- two bare aioice connections under the SFU's consent policy ---------------------------


@pytest.fixture
def short_consent(loopback_only: RtcConfig) -> Iterator[ConsentPolicy]:
    before = active_consent()
    use_consent(SHORT)
    yield SHORT
    use_consent(before)


@pytest.fixture
async def ice_pair(short_consent: ConsentPolicy) -> AsyncIterator[tuple[aioice.Connection, ...]]:
    """`checker` (controlling) and `peer`, connected over 127.0.0.1."""
    checker = aioice.Connection(ice_controlling=True, use_ipv6=False)
    peer = aioice.Connection(ice_controlling=False, use_ipv6=False)
    await asyncio.gather(checker.gather_candidates(), peer.gather_candidates())
    for local, remote in ((checker, peer), (peer, checker)):
        local.remote_username = remote.local_username
        local.remote_password = remote.local_password
        for candidate in remote.local_candidates:
            await local.add_remote_candidate(candidate)
        await local.add_remote_candidate(None)
    await asyncio.gather(checker.connect(), peer.connect())
    yield checker, peer
    await asyncio.gather(checker.close(), peer.close())


async def closed_within(connection: aioice.Connection, seconds: float) -> bool:
    """True once `connection` closes (its ConnectionClosed event) within `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            while not isinstance(await connection.get_event(), aioice.ConnectionClosed):
                pass
    except TimeoutError:
        return False
    return True


async def test_answers_late_by_more_than_a_stun_timeout_keep_consent(
    ice_pair: tuple[aioice.Connection, ...],
) -> None:
    checker, peer = ice_pair
    # The peer's own checks never arrive, its answers come 0.7 s late: only the checker's
    # retransmitted transactions, still open when the answers land, can keep consent.
    with lag_sent_stun(peer, requests=math.inf, responses=0.7):
        assert not await closed_within(checker, 3 * SHORT.expiry_seconds)


async def test_a_peer_that_only_sends_its_own_checks_keeps_consent(
    ice_pair: tuple[aioice.Connection, ...],
) -> None:
    checker, peer = ice_pair
    # No answers at all, but the peer's authenticated Binding requests prove it is there.
    with lag_sent_stun(peer, responses=math.inf):
        assert not await closed_within(checker, 3 * SHORT.expiry_seconds)


async def test_a_silent_peer_loses_consent_after_the_expiry_not_before(
    ice_pair: tuple[aioice.Connection, ...],
) -> None:
    checker, peer = ice_pair
    with lag_sent_stun(peer, requests=math.inf, responses=math.inf):
        silent_at = time.monotonic()
        # The last answer may have landed just before; sampled once per ≤1.2 s check.
        latest = SHORT.expiry_seconds + 2.4 * SHORT.interval_seconds + 0.5
        assert await closed_within(checker, latest)
        assert time.monotonic() - silent_at >= SHORT.expiry_seconds - 1.5


# --- the SFU with real aiortc peers (production policy) -----------------------------------


async def test_a_speaker_whose_stun_answers_lag_keeps_its_media(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    server: RunningServer,
) -> None:
    """Its answers to the server's checks come 0.7 s late, longer than the old 0.5 s wait,
    while its audio flows: the server used to drop it after five checks (about 8 s)."""
    owner, lagging = await person("Owner"), await person("Lagging")
    room = await owner.create_room(media="sfu")
    sockets = [await someone.socket() for someone in (owner, lagging)]
    clients = [SfuClient(socket, loopback_only, 1, 440.0) for socket in sockets]
    sfu_clients.extend(clients)
    for socket, client in zip(sockets, clients, strict=True):
        await socket.join(room)
        await client.join(room)
    config = server.app[SERVICES].sfu.config
    lagging_stun = lag_sent_stun(ice_connection(clients[1].pc), requests=0.7, responses=0.7)
    with lagging_stun, pytest.raises(TimeoutError):
        await sockets[1].next("sfu-failed", timeout=config.consent_expiry_seconds + 4)
    assert is_connected(server.app[SERVICES].sfu, room, sockets[1].peer_id)


async def test_a_peer_frozen_for_four_seconds_keeps_its_media(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    server: RunningServer,
) -> None:
    """Everything it sends stops for 4 s (half the expiry), then resumes: no consent lost."""
    owner, frozen = await person("Owner"), await person("Paused")
    room = await owner.create_room(media="sfu")
    owner_socket = await owner.socket()
    await owner_socket.join(room)
    listener = SfuClient(owner_socket, loopback_only, 1)
    sfu_clients.append(listener)
    await listener.join(room)
    async with bot_process(server.base_url, frozen.access_token, room) as (bot, bot_sid):
        await listener.wait_for_slot(0, 660.0)
        # Updates queued while the bot joined are past; from the one that put it on a slot on.
        while frozen.user_id not in (await owner_socket.next("speakers"))["slots"]:
            pass
        bot.send_signal(signal.SIGSTOP)
        # The pause itself is what is tested: the process is frozen, there is nothing to await.
        await asyncio.sleep(4.0)
        bot.send_signal(signal.SIGCONT)
        config = server.app[SERVICES].sfu.config
        # Had consent expired, the server would drop the bot and take it off the owner's
        # slot; past the moment a 4 s silence could have done that, it is still there.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(config.consent_expiry_seconds):
                while frozen.user_id in (await owner_socket.next("speakers", 60))["slots"]:
                    pass
        assert is_connected(server.app[SERVICES].sfu, room, bot_sid)
        await listener.wait_for_slot(0, 660.0)
