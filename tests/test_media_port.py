"""One UDP port for all SFU media (RTC_UDP_PORT, sfu.media_port): every answer's host
candidate is that port, datagrams reach the right connection, strangers' datagrams are
dropped without harm, and leaving releases what the demultiplexer learned.

Real parts: the real server app (this module's `settings` adds the port), real aiortc
participants (tests.sfu_client), and bare aioice connections where a test needs to send
from a peer's own socket.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket as pysocket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any

import aiohttp
import aioice
import aioice.ice
import aioice.stun
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from api.app import create_app
from api.services import SERVICES
from api.settings import Settings, SettingsError, load_settings
from sfu import aiortc_hooks
from sfu.config import RtcConfig, SfuConfig
from sfu.media_port import MAX_ADDRESSES_PER_ENDPOINT, MediaPort
from sfu.room_manager import RoomManager, SfuStartError
from tests.conftest import RunningServer, start_server
from tests.ice_pairs import connect_pairs
from tests.people import Person
from tests.room_fakes import NoListener
from tests.rtc_audio import ToneTrack
from tests.rtc_probes import ice_connection
from tests.sfu_client import SfuClient

MakePerson = Callable[[str], Awaitable[Person]]
LOOPBACK = "127.0.0.1"


def free_udp_port() -> int:
    """A UDP port nothing on 127.0.0.1 holds right now."""
    with pysocket.socket(pysocket.AF_INET, pysocket.SOCK_DGRAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def udp_port() -> int:
    return free_udp_port()


@pytest.fixture
def settings(settings: Settings, udp_port: int) -> Settings:
    """The suite's settings, with every SFU connection's media on one UDP port (and no rate
    limits: twenty sign-ups from one address)."""
    rtc = replace(settings.sfu.rtc, udp_port=udp_port)
    return replace(settings, sfu=replace(settings.sfu, rtc=rtc), rate_limits=False)


@pytest.fixture
def media_port(server: RunningServer, udp_port: int) -> MediaPort:
    """The server's shared port on 127.0.0.1 (bound by RoomManager.start)."""
    (port,) = aiortc_hooks.active_media_ports()
    assert (port.host, port.port) == (LOOPBACK, udp_port)
    assert server.app[SERVICES].sfu.media_ready()
    return port


@pytest.fixture
def stranger() -> Iterator[pysocket.socket]:
    """A UDP socket on 127.0.0.1 that is no candidate of anyone."""
    other = pysocket.socket(pysocket.AF_INET, pysocket.SOCK_DGRAM)
    other.bind((LOOPBACK, 0))
    other.settimeout(2.0)
    try:
        yield other
    finally:
        other.close()


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """What reaches the event loop's exception handler (a failed callback or task) while
    the test runs."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    before = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    yield errors
    loop.set_exception_handler(before)


def candidate_ports(sdp: str) -> set[int]:
    """The ports of every `a=candidate` line of an SDP (RFC 8839 §5.1)."""
    return {int(m.group(1)) for m in re.finditer(r"a=candidate:\S+ \d+ \S+ \d+ \S+ (\d+)", sdp)}


def sdp_value(sdp: str, attribute: str) -> str:
    found = re.search(rf"a={attribute}:(\S+)", sdp)
    assert found is not None, sdp
    return found.group(1)


# --- through the real server ---------------------------------------------------------------

TONES = [300.0 + 60.0 * n for n in range(20)]  # 4 × the ±15 Hz tolerance apart


async def test_twenty_participants_share_one_server_port_and_each_hears_its_partner(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    media_port: MediaPort,
    udp_port: int,
) -> None:
    """Ten rooms of two, each participant speaking its own tone: every answer offers the one
    port, every selected pair ends there, and each participant hears its partner's tone (a
    datagram handed to the wrong connection would fail SRTP and be lost)."""
    people = await asyncio.gather(*(person(f"Talker{n}") for n in range(20)))
    rooms = await asyncio.gather(
        *(people[n].create_room(media="sfu", slots=1) for n in range(0, 20, 2))
    )

    async def enter(n: int) -> SfuClient:
        socket = await people[n].socket()
        await socket.join(rooms[n // 2])
        client = SfuClient(socket, loopback_only, 1, TONES[n])
        sfu_clients.append(client)
        ack = await client.join(rooms[n // 2])
        assert candidate_ports(ack["sdp"]) == {udp_port}, ack["sdp"]
        return client

    clients = [await enter(n) for n in range(20)]
    for client in clients:
        server_side = ice_connection(client.pc)._nominated[1].remote_addr  # aioice's selected
        assert server_side == (LOOPBACK, udp_port)
    stats = media_port.stats()
    assert stats.ufrags == 20 and stats.addresses >= 20, stats
    for index, client in enumerate(clients):
        partner = clients[index ^ 1]
        assert partner.frequency is not None
        await client.wait_for_slot(0, partner.frequency, timeout=15)


def binding_request(username: str, key: bytes) -> bytes:
    """An ICE connectivity check as a browser sends it (RFC 8445 §7.2.2), signed with `key`."""
    request = aioice.stun.Message(
        message_method=aioice.stun.Method.BINDING, message_class=aioice.stun.Class.REQUEST
    )
    request.attributes["USERNAME"] = username
    request.attributes["PRIORITY"] = 1853824767
    request.attributes["ICE-CONTROLLING"] = 0x1234567890ABCDEF
    request.add_message_integrity(key)
    request.add_fingerprint()
    return bytes(request)


def answer_to(sock: pysocket.socket) -> aioice.stun.Message:
    data, _ = sock.recvfrom(2048)
    return aioice.stun.parse_message(data)


async def test_strangers_datagrams_are_dropped_and_the_call_goes_on(
    server: RunningServer,
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    media_port: MediaPort,
    udp_port: int,
    stranger: pysocket.socket,
    loop_errors: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner = await person("Owner")
    room = await owner.create_room(media="sfu", slots=1)
    clients = []
    for someone, tone in ((owner, 440.0), (await person("Listener"), None)):
        socket = await someone.socket()
        await socket.join(room)
        client = SfuClient(socket, loopback_only, 1, tone)
        sfu_clients.append(client)
        clients.append((client, await client.join(room)))
    (speaker, _), (listener, answer) = clients
    await listener.wait_for_slot(0, 440.0)
    server_ufrag = sdp_value(answer["sdp"], "ice-ufrag")
    client_ufrag = sdp_value(listener.pc.localDescription.sdp, "ice-ufrag")
    target = (LOOPBACK, udp_port)
    here = stranger.getsockname()
    dropped_before = media_port.stats().dropped

    # A STUN request with the listener's server-side ufrag but a wrong password, from a new
    # address: routed to that connection, which refuses it (401), and nothing is learned.
    stranger.sendto(binding_request(f"{server_ufrag}:{client_ufrag}", b"x" * 22), target)
    refused = await asyncio.to_thread(answer_to, stranger)
    assert refused.message_class == aioice.stun.Class.ERROR
    assert refused.attributes["ERROR-CODE"][0] == 401
    assert media_port.endpoint_for(here) is None

    strangers = [
        b"\x80\x6f" + os.urandom(160),  # RTP from an address nobody learned
        b"\x16\xfe\xfd" + os.urandom(60),  # DTLS from an address nobody learned
        binding_request(f"nobody:{client_ufrag}", b"y" * 22),  # an unknown ufrag
        binding_request("no-colon-here", b"y" * 22),  # a USERNAME that names no ufrag
        b"\x01\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12),  # a response to nothing of ours
        b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12),  # a request without USERNAME
        b"\x00\x01\x00\x04\x00\x00\x00\x00" + os.urandom(16),  # STUN-like, no magic cookie
        b"\x00",  # too short for STUN
        b"",  # empty
        os.urandom(60000),  # large garbage, whatever its first byte
    ]
    for data in strangers:
        stranger.sendto(data, target)
    heard_before = len(listener.sequence_numbers[0])
    # The call goes on: 50 more packets (a second of audio) and the same tone.
    async with asyncio.timeout(5):
        while True:
            if len(listener.sequence_numbers[0]) >= heard_before + 50:
                break
            await asyncio.sleep(0.05)
    await listener.wait_for_slot(0, 440.0)
    stats = media_port.stats()
    assert stats.dropped >= dropped_before + len(strangers), stats
    assert stats.errors == 0
    # Operators see the same count on /metrics.
    async with aiohttp.ClientSession() as http, http.get(f"{server.base_url}/metrics") as got:
        text = await got.text()
    assert f"gethory_sfu_media_port_dropped_datagrams_total {float(stats.dropped)}" in text
    assert "gethory_sfu_media_port_errors_total 0.0" in text
    assert "gethory_sfu_send_failures_total 0.0" in text  # every forwarded copy was taken
    assert media_port.endpoint_for(here) is None, "the stranger's address was never learned"
    assert listener.socket.pending("sfu-failed") == speaker.socket.pending("sfu-failed") == 0
    assert loop_errors == []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


# --- bare aioice connections on the shared port --------------------------------------------


@pytest.fixture
async def shared_manager(
    loopback_only: RtcConfig, udp_port: int
) -> AsyncIterator[tuple[RoomManager, MediaPort]]:
    manager = RoomManager(SfuConfig(rtc=replace(loopback_only, udp_port=udp_port)), NoListener())
    assert not manager.media_ready()
    async with manager:
        assert manager.media_ready()
        (port,) = aiortc_hooks.active_media_ports()
        yield manager, port
    assert not manager.media_ready() and port.closed
    assert aiortc_hooks.active_media_ports() == ()


async def ice_pairs(
    count: int, ipv4: bool = True
) -> list[tuple[aioice.Connection, aioice.Connection]]:
    """`count` (client, server) pairs over the host addresses in force (IPv4 ones, or IPv6
    ones): each client controlling, on a socket of its own; each server controlled, so on
    the shared port."""
    pairs = [
        (
            aioice.Connection(ice_controlling=True, use_ipv4=ipv4, use_ipv6=not ipv4),
            aioice.Connection(ice_controlling=False, use_ipv4=ipv4, use_ipv6=not ipv4),
        )
        for _ in range(count)
    ]
    await connect_pairs(pairs)
    return pairs


def local_address(connection: aioice.Connection) -> tuple[str, int]:
    address: tuple[str, int] = connection._nominated[1].local_addr  # aioice's selected pair
    return address


def selected_protocol(connection: aioice.Connection) -> object:
    """A server connection's protocol on the shared port: the port's endpoint for it."""
    protocol: object = connection._nominated[1].protocol  # aioice's selected pair
    return protocol


def client_socket(connection: aioice.Connection) -> Any:
    """The transport of a client's own socket (aioice's private selected pair)."""
    return connection._nominated[1].protocol.transport


async def test_an_authenticated_request_cannot_move_another_peers_address(
    shared_manager: tuple[RoomManager, MediaPort], udp_port: int
) -> None:
    """Peer b knows server A's password (as any peer knows its own connection's) and sends
    A an authenticated check from b's own address, which server B already learned: A answers
    it, but b's datagrams keep going to B (an address keeps the connection that learned it
    first), and A takes none of them."""
    _, port = shared_manager
    (a, server_a), (b, server_b) = await ice_pairs(2)
    try:
        assert local_address(server_a) == local_address(server_b) == (LOOPBACK, udp_port)
        b_address = local_address(b)
        assert port.endpoint_for(b_address) is selected_protocol(server_b)
        username = f"{server_a.local_username}:{a.local_username}"
        check = binding_request(username, server_a.local_password.encode())
        client_socket(b).sendto(check, (LOOPBACK, udp_port))
        # A took it (authenticated): b's address is a peer-reflexive candidate of A now.
        async with asyncio.timeout(2):
            while True:
                if any((c.host, c.port) == b_address for c in server_a.remote_candidates):
                    break
                await asyncio.sleep(0.01)
        await b.send(b"\x80to B")
        assert await asyncio.wait_for(server_b.recv(), 2) == b"\x80to B"
        assert port.endpoint_for(b_address) is selected_protocol(server_b)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(server_a.recv(), 0.3)
        await a.send(b"\x80to A")
        assert await asyncio.wait_for(server_a.recv(), 2) == b"\x80to A"
    finally:
        await asyncio.gather(*(c.close() for c in (a, server_a, b, server_b)))
    assert port.stats().ufrags == port.stats().addresses == 0


async def test_a_learned_address_other_than_the_selected_pair_gets_only_stun_through(
    shared_manager: tuple[RoomManager, MediaPort],
    udp_port: int,
    stranger: pysocket.socket,
) -> None:
    """Consent's rule holds on the shared port too: a request authenticated with the
    server's password (a copy of the peer's own check) teaches the port a new address, yet
    once ICE has selected a pair nothing but STUN is taken from any other address."""
    _, port = shared_manager
    ((client, server),) = await ice_pairs(1)
    try:
        username = f"{server.local_username}:{client.local_username}"
        check = binding_request(username, server.local_password.encode())
        stranger.sendto(check, (LOOPBACK, udp_port))
        answered = await asyncio.to_thread(answer_to, stranger)
        assert answered.message_class == aioice.stun.Class.RESPONSE
        assert port.endpoint_for(stranger.getsockname()) is selected_protocol(server)
        stranger.sendto(b"\x80stranger", (LOOPBACK, udp_port))
        # Both datagrams reach the one shared socket, in order: had the stranger's been taken,
        # it would be the first one received.
        await client.send(b"\x80peer")
        assert await asyncio.wait_for(server.recv(), 2) == b"\x80peer"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(server.recv(), 0.3)
    finally:
        await asyncio.gather(client.close(), server.close())


async def test_a_colliding_ufrag_is_replaced_before_anyone_reads_it(
    shared_manager: tuple[RoomManager, MediaPort],
) -> None:
    first = aioice.Connection(ice_controlling=False, use_ipv6=False, local_username="same")
    second = aioice.Connection(ice_controlling=False, use_ipv6=False, local_username="same")
    try:
        await first.gather_candidates()
        await second.gather_candidates()
        assert first.local_username == "same" and second.local_username != "same"
        assert shared_manager[1].stats().ufrags == 2
    finally:
        await asyncio.gather(first.close(), second.close())
    assert shared_manager[1].stats().ufrags == 0


# --- lifecycle -------------------------------------------------------------------------------


async def test_join_leave_cycles_leave_the_demultiplexer_empty(
    shared_manager: tuple[RoomManager, MediaPort], loopback_only: RtcConfig, udp_port: int
) -> None:
    """20 sessions, every fourth left before its client connects: each one's ufrag and
    addresses are on the port while it lasts and gone once it has left."""
    manager, port = shared_manager
    for n in range(20):
        client = RTCPeerConnection(loopback_only.rtc_configuration())
        connected = asyncio.Event()
        client.on(
            "connectionstatechange",
            lambda c=client, e=connected: e.set() if c.connectionState == "connected" else None,
        )
        client.addTransceiver(ToneTrack(440.0), direction="sendonly")
        client.addTransceiver("audio", direction="recvonly")
        await client.setLocalDescription(await client.createOffer())
        answer = await manager.join(
            "rm_port", 3, f"cycle_{n}", "usr_port", client.localDescription.sdp
        )
        assert candidate_ports(answer) == {udp_port}
        assert port.stats().ufrags == 1
        if n % 4:
            await client.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            await asyncio.wait_for(connected.wait(), 10)
            assert port.stats().addresses >= 1
        manager.leave("rm_port", f"cycle_{n}")
        await manager.closed()
        stats = port.stats()
        assert (stats.ufrags, stats.addresses, stats.transactions) == (0, 0, 0), stats
        await client.close()
    assert port.stats().errors == 0


async def test_the_announced_address_replaces_the_shared_ports_address(
    loopback_only: RtcConfig, udp_port: int
) -> None:
    rtc = replace(loopback_only, udp_port=udp_port, announced_address="203.0.113.7")
    async with RoomManager(SfuConfig(rtc=rtc), NoListener()) as manager:
        client = RTCPeerConnection(loopback_only.rtc_configuration())
        client.addTransceiver("audio", direction="recvonly")
        await client.setLocalDescription(await client.createOffer())
        # The client never takes the answer: nothing is sent to the announced address.
        answer = await manager.join("rm_nat", 3, "nat", "usr_nat", client.localDescription.sdp)
        assert re.findall(r"a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host", answer) == [
            ("203.0.113.7", str(udp_port))
        ]
        manager.leave("rm_nat", "nat")
        await client.close()


async def test_bound_on_every_interface_and_announced_as_a_deployment_runs(
    loopback_only: RtcConfig, udp_port: int
) -> None:
    """A container's shape: the port bound on 0.0.0.0, the answer naming the announced
    address (here 127.0.0.1, standing in for the public IP) at that port; ICE and DTLS
    complete through it."""
    rtc = RtcConfig(host_addresses=("0.0.0.0",), announced_address=LOOPBACK, udp_port=udp_port)
    async with RoomManager(SfuConfig(rtc=rtc), NoListener()) as manager:
        (port,) = aiortc_hooks.active_media_ports()
        assert (port.host, port.port) == ("0.0.0.0", udp_port)
        client = RTCPeerConnection(loopback_only.rtc_configuration())
        connected = asyncio.Event()
        client.on(
            "connectionstatechange",
            lambda: connected.set() if client.connectionState == "connected" else None,
        )
        client.addTransceiver(ToneTrack(440.0), direction="sendonly")
        await client.setLocalDescription(await client.createOffer())
        answer = await manager.join("rm_all", 3, "all", "usr_all", client.localDescription.sdp)
        assert re.findall(r"a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host", answer) == [
            (LOOPBACK, str(udp_port))
        ]
        await client.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await asyncio.wait_for(connected.wait(), 10)
        assert port.stats().addresses >= 1
        manager.leave("rm_all", "all")
        await manager.closed()
        await client.close()
        assert port.stats().errors == 0


async def test_without_host_addresses_the_port_is_bound_where_aioice_gathers(
    udp_port: int,
) -> None:
    """No RTC_HOST_ADDRESSES: one socket on each address aioice's own gathering uses (not
    loopback); none at all is a start error that says what to set."""
    assert aiortc_hooks.active_host_addresses() == ()
    expected = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True)
    manager = RoomManager(SfuConfig(rtc=RtcConfig(udp_port=udp_port)), NoListener())
    if not expected:
        with pytest.raises(SfuStartError, match=r"no host address .*RTC_HOST_ADDRESSES"):
            manager.start()
        return
    async with manager:
        ports = aiortc_hooks.active_media_ports()
        assert sorted(p.host for p in ports) == sorted(expected)
        assert {p.port for p in ports} == {udp_port}


async def test_a_port_in_use_is_a_start_error_and_changes_nothing(
    loopback_only: RtcConfig, udp_port: int, settings: Settings
) -> None:
    hooks_before = (
        aiortc_hooks.active_host_addresses(),
        aiortc_hooks.active_consent(),
        aioice.ice.Connection.get_component_candidates,
    )
    with pysocket.socket(pysocket.AF_INET, pysocket.SOCK_DGRAM) as holder:
        holder.bind((LOOPBACK, udp_port))
        manager = RoomManager(
            SfuConfig(rtc=replace(loopback_only, udp_port=udp_port)), NoListener()
        )
        with pytest.raises(
            SfuStartError, match=f"^RTC_UDP_PORT {udp_port} is in use on 127.0.0.1$"
        ):
            manager.start()
        assert not manager.media_ready()
        assert aiortc_hooks.active_media_ports() == ()
        assert (
            aiortc_hooks.active_host_addresses(),
            aiortc_hooks.active_consent(),
            aioice.ice.Connection.get_component_candidates,
        ) == hooks_before
        # The server refuses to start: the error reaches `gethory`, which exits 2 with it.
        with pytest.raises(SfuStartError, match="is in use"):
            await start_server(create_app(settings))
        assert aiortc_hooks.active_media_ports() == ()


async def test_without_a_port_each_connection_keeps_its_own_socket(
    loopback_only: RtcConfig,
) -> None:
    async with RoomManager(SfuConfig(rtc=loopback_only), NoListener()) as manager:
        assert manager.media_ready() and aiortc_hooks.active_media_ports() == ()
        first = aioice.Connection(ice_controlling=False, use_ipv6=False)
        second = aioice.Connection(ice_controlling=False, use_ipv6=False)
        await asyncio.gather(first.gather_candidates(), second.gather_candidates())
        ports = {c.port for c in (*first.local_candidates, *second.local_candidates)}
        await asyncio.gather(first.close(), second.close())
    assert len(ports) == 2


def test_rtc_udp_port_setting(tmp_path: Any) -> None:
    assert RtcConfig.from_env({"RTC_UDP_PORT": " 40000 "}).udp_port == 40000
    assert RtcConfig.from_env({"RTC_UDP_PORT": ""}).udp_port is None
    assert RtcConfig.from_env({}).udp_port is None
    for bad in ("0", "65536", "abc", "-1", "4e4", "1234567"):
        with pytest.raises(ValueError, match="RTC_UDP_PORT must be a port number 1-65535"):
            RtcConfig.from_env({"RTC_UDP_PORT": bad})
        with pytest.raises(SettingsError, match="RTC_UDP_PORT"):
            load_settings({"RTC_UDP_PORT": bad, "DATA_DIR": str(tmp_path)}, tmp_path / ".env")
    settings = load_settings(
        {"RTC_UDP_PORT": "40000", "DATA_DIR": str(tmp_path)}, tmp_path / ".env"
    )
    assert settings.sfu.rtc.udp_port == 40000


async def test_ipv6_peers_are_routed_by_their_full_address(udp_port: int) -> None:
    """An IPv6 socket reports 4-field source addresses; they are learned and matched as
    given, and datagrams flow both ways."""
    rtc = RtcConfig(host_addresses=("::1",), udp_port=udp_port)
    async with RoomManager(SfuConfig(rtc=rtc), NoListener()):
        (port,) = aiortc_hooks.active_media_ports()
        ((client, server),) = await ice_pairs(1, ipv4=False)
        try:
            assert local_address(server) == ("::1", udp_port)
            await client.send(b"\x80over IPv6")
            assert await asyncio.wait_for(server.recv(), 2) == b"\x80over IPv6"
            await server.send(b"\x80back")
            assert await asyncio.wait_for(client.recv(), 2) == b"\x80back"
            assert port.endpoint_for((*local_address(client), 0, 0)) is selected_protocol(server)
        finally:
            await asyncio.gather(client.close(), server.close())
        assert port.stats().addresses == 0


def test_check_internals_covers_the_media_port_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    def send_stun(self: aioice.ice.StunProtocol, message: Any, addr: Any) -> None:
        pass

    monkeypatch.setattr(aioice.ice.StunProtocol, "send_stun", send_stun)
    with pytest.raises(RuntimeError, match=r"internals changed: .*StunProtocol.send_stun"):
        aiortc_hooks.check_internals()


@pytest.fixture
async def slow_consent_manager(
    loopback_only: RtcConfig, udp_port: int
) -> AsyncIterator[tuple[RoomManager, MediaPort]]:
    """A manager whose consent checks run once a minute: nothing but ICE itself can move a
    connection's selected pair during a test."""
    config = SfuConfig(
        rtc=replace(loopback_only, udp_port=udp_port),
        consent_interval_seconds=60.0,
        consent_expiry_seconds=120.0,
    )
    async with RoomManager(config, NoListener()) as manager:
        (port,) = aiortc_hooks.active_media_ports()
        yield manager, port


def rebind(
    moved: pysocket.socket,
    server: aioice.Connection,
    client: aioice.Connection,
    target: tuple[str, int],
) -> None:
    """The client's NAT gave it a new address (`moved`): from there it sends a nominating
    check (RFC 8445 §7.2.5.2.4, as a controlling browser does after a rebinding) and answers
    the server's triggered check, so ICE selects the pair to the new address."""
    request = aioice.stun.Message(
        message_method=aioice.stun.Method.BINDING, message_class=aioice.stun.Class.REQUEST
    )
    request.attributes["USERNAME"] = f"{server.local_username}:{client.local_username}"
    request.attributes["PRIORITY"] = 1853824767
    request.attributes["ICE-CONTROLLING"] = 0x1234567890ABCDEF
    request.attributes["USE-CANDIDATE"] = None
    request.add_message_integrity(server.local_password.encode())
    request.add_fingerprint()
    moved.sendto(bytes(request), target)
    answered = checked = False
    while not (answered and checked):
        data, source = moved.recvfrom(2048)
        message = aioice.stun.parse_message(data)
        if message.message_class == aioice.stun.Class.RESPONSE:
            answered = message.transaction_id == request.transaction_id or answered
        elif message.message_class == aioice.stun.Class.REQUEST:
            response = aioice.stun.Message(
                message_method=aioice.stun.Method.BINDING,
                message_class=aioice.stun.Class.RESPONSE,
                transaction_id=message.transaction_id,
            )
            response.attributes["XOR-MAPPED-ADDRESS"] = source
            response.add_message_integrity(client.local_password.encode())
            response.add_fingerprint()
            moved.sendto(bytes(response), source)
            checked = True


def next_media(sock: pysocket.socket) -> bytes:
    """The next datagram that is not STUN."""
    while True:
        data, _ = sock.recvfrom(2048)
        if data and data[0] > 3:
            return data


async def test_media_follows_a_peer_whose_nat_rebinds_mid_call(
    slow_consent_manager: tuple[RoomManager, MediaPort],
    udp_port: int,
    stranger: pysocket.socket,
) -> None:
    """A NAT rebinding moves the peer to a new address mid-call: after its authenticated,
    nominating check from there ICE selects the new pair (RFC 8445 §7.3.1.5), and the media
    follows both ways at once — the server sends there, and takes the peer's DTLS/SRTP from
    there, not only after the next consent check (which may be a while away)."""
    _, port = slow_consent_manager
    ((client, server),) = await ice_pairs(1)
    try:
        await asyncio.to_thread(rebind, stranger, server, client, (LOOPBACK, udp_port))
        async with asyncio.timeout(2):  # ICE takes the response to its triggered check
            while True:
                if server._nominated[1].remote_addr == stranger.getsockname():  # aioice's
                    break
                await asyncio.sleep(0.01)
        assert port.endpoint_for(stranger.getsockname()) is selected_protocol(server)
        await server.send(b"\x80to the new address")
        assert await asyncio.to_thread(next_media, stranger) == b"\x80to the new address"
        stranger.sendto(b"\x80from the new address", (LOOPBACK, udp_port))
        assert await asyncio.wait_for(server.recv(), 2) == b"\x80from the new address"
    finally:
        await asyncio.gather(client.close(), server.close())


async def test_a_peer_that_rebinds_again_and_again_keeps_its_media(
    slow_consent_manager: tuple[RoomManager, MediaPort], udp_port: int
) -> None:
    """A long call from a phone that moves between networks: every move is a new address.
    The port keeps at most MAX_ADDRESSES_PER_ENDPOINT per connection, so once it holds that
    many it lets go of the oldest one ICE no longer uses, rather than refusing the new one
    (whose media would then be dropped while the server sends there)."""
    _, port = slow_consent_manager
    ((client, server),) = await ice_pairs(1)
    sockets: list[pysocket.socket] = []
    try:
        for move in range(MAX_ADDRESSES_PER_ENDPOINT + 4):
            moved = pysocket.socket(pysocket.AF_INET, pysocket.SOCK_DGRAM)
            sockets.append(moved)
            moved.bind((LOOPBACK, 0))
            moved.settimeout(2.0)
            await asyncio.to_thread(rebind, moved, server, client, (LOOPBACK, udp_port))
            async with asyncio.timeout(2):
                while True:
                    if server._nominated[1].remote_addr == moved.getsockname():  # aioice's
                        break
                    await asyncio.sleep(0.01)
            moved.sendto(b"\x80move %d" % move, (LOOPBACK, udp_port))
            assert await asyncio.wait_for(server.recv(), 2) == b"\x80move %d" % move
            assert port.stats().addresses <= MAX_ADDRESSES_PER_ENDPOINT
    finally:
        for moved in sockets:
            moved.close()
        await asyncio.gather(client.close(), server.close())
    assert port.stats().addresses == 0
