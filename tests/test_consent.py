"""ICE consent freshness (RFC 7675) as the SFU runs it: checks are retransmitted, late
answers count, and consent expires only after a whole expiry period without a sign of life
from the selected pair's remote address: an authenticated answer to one of our own checks, or
SRTP/SRTCP that unprotects. The peer's own Binding requests are no sign of life (a byte copy of
an old one passes MESSAGE-INTEGRITY), and once ICE has selected a pair nothing but STUN is
taken from any other address.

Before, each check waited 0.5 s with no retransmission and five misses in a row ended the
connection, so a peer whose answers came 0.7 s late (a loaded machine) lost its media within
about 8 s while it was sending audio all along.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import socket as pysocket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aioice
import aioice.ice
import aioice.stun
import pytest
from aiortc.rtp import RtpPacket

from api.services import SERVICES
from sfu.aiortc_hooks import ConsentPolicy, active_consent, use_consent
from sfu.config import RtcConfig
from tests.conftest import RunningServer
from tests.ice_pairs import loopback_pair
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
    checker, peer = await loopback_pair()
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
    # Its answers come 0.7 s late: only the checker's retransmitted transactions, still
    # open when the answers land, can keep consent (the peer's own checks never count).
    with lag_sent_stun(peer, responses=0.7):
        assert not await closed_within(checker, 3 * SHORT.expiry_seconds)


async def test_a_peer_that_only_sends_its_own_checks_loses_consent(
    ice_pair: tuple[aioice.Connection, ...],
) -> None:
    checker, peer = ice_pair
    # No answers at all: the peer's own Binding requests prove nothing (RFC 7675 §5.1 counts
    # responses to our checks only), so consent expires as if it were silent.
    with lag_sent_stun(peer, responses=math.inf):
        latest = SHORT.expiry_seconds + 2.4 * SHORT.interval_seconds + 0.5
        assert await closed_within(checker, latest)


@contextlib.contextmanager
def other_socket() -> Iterator[pysocket.socket]:
    """A UDP socket on 127.0.0.1 that is no candidate of anyone."""
    other = pysocket.socket(pysocket.AF_INET, pysocket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    other.setblocking(False)
    try:
        yield other
    finally:
        other.close()


def selected_pair(connection: aioice.Connection) -> aioice.ice.CandidatePair:
    pair: aioice.ice.CandidatePair = connection._nominated[1]  # aioice's private selected pair
    return pair


async def test_a_replayed_binding_request_keeps_no_consent(
    ice_pair: tuple[aioice.Connection, ...],
) -> None:
    checker, peer = ice_pair
    captured: list[bytes] = []
    one_captured = asyncio.Event()
    protocol: Any = selected_pair(peer).protocol  # the peer's own socket: record what leaves
    stock = protocol.send_stun

    def capture(message: aioice.stun.Message, addr: tuple[str, int]) -> None:
        if message.message_class == aioice.stun.Class.REQUEST:
            captured.append(bytes(message))
            one_captured.set()
        stock(message, addr)

    protocol.send_stun = capture
    await asyncio.wait_for(one_captured.wait(), 5)
    del protocol.send_stun
    target = selected_pair(checker).local_addr
    # The peer is gone; a copy of one of its checks (valid MESSAGE-INTEGRITY) keeps coming.
    with lag_sent_stun(peer, requests=math.inf, responses=math.inf), other_socket() as other:

        async def replay() -> None:
            while True:
                other.sendto(captured[0], target)
                await asyncio.sleep(0.3)

        replaying = asyncio.create_task(replay())
        try:
            latest = SHORT.expiry_seconds + 2.4 * SHORT.interval_seconds + 0.5
            assert await closed_within(checker, latest)
        finally:
            replaying.cancel()


async def test_only_stun_is_taken_from_an_address_other_than_the_selected_pair(
    ice_pair: tuple[aioice.Connection, ...],
) -> None:
    checker, peer = ice_pair
    target = selected_pair(checker).local_addr
    with other_socket() as other:
        # First byte 0x80: RTP by RFC 7983. From a stranger: never handed on.
        other.sendto(b"\x80stranger", target)
        await asyncio.sleep(0.2)
        await peer.send(b"\x80peer")
        assert await asyncio.wait_for(checker.recv(), 2) == b"\x80peer"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(checker.recv(), 0.3)


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


async def test_srtp_from_another_address_keeps_no_consent(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    server: RunningServer,
) -> None:
    """A listener vanishes from its address, while a fresh SRTP packet protected with its keys
    arrives every 2 s from elsewhere: it unprotects, but it does not come from the selected
    pair's remote address, so it is never taken and consent expires."""
    someone = await person("Gone")
    room = await someone.create_room(media="sfu", slots=1)
    sock = await someone.socket()
    await sock.join(room)
    client = SfuClient(sock, loopback_only, slots=1)  # listen only
    sfu_clients.append(client)
    await client.join(room)
    dtls: Any = client.pc.getTransceivers()[0].sender.transport  # aiortc's private SRTP
    pair = selected_pair(ice_connection(client.pc))
    server_address = pair.remote_addr
    protocol: Any = pair.protocol
    protocol.transport.sendto = lambda *args, **kwargs: None  # nothing leaves its socket
    config = server.app[SERVICES].sfu.config
    failed = None
    with other_socket() as other:
        started = time.monotonic()
        for sequence_number in range(1, 1000):
            packet = RtpPacket(
                payload_type=111,
                sequence_number=sequence_number,
                timestamp=sequence_number * 960,
                ssrc=0x1234,
                payload=b"\xfc\xff\xfe",
            )
            other.sendto(dtls._tx_srtp.protect(packet.serialize()), server_address)
            try:
                failed = await sock.next("sfu-failed", timeout=2)
                break
            except TimeoutError:
                if time.monotonic() - started > config.consent_expiry_seconds + 6:
                    break
    assert failed is not None
