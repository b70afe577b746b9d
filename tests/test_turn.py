"""TURN: `/api/rtc/ice-servers` hands out coturn REST-API credentials, a real coturn accepts them
(and refuses expired or forged ones), and calls forced to relay-only hear each other through it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioice import stun
from aioice.turn import TurnClientUdpProtocol, create_turn_endpoint
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from api.settings import Settings, TurnSettings
from benchmarks.accounts import SfuMember
from benchmarks.bots import Bot, deployment_rtc
from sfu.config import RtcConfig
from tests.client import ApiClient
from tests.conftest import RunningServer
from tests.coturn import Coturn
from tests.mesh_peer import MeshPeer
from tests.people import Person
from tests.sfu_client import SfuClient
from tests.test_sfu import enter

MakePerson = Callable[[str], Awaitable[Person]]
ENDPOINT = "/api/rtc/ice-servers"
TEST_SECRET = "a shared secret that only this test module knows"
NOWHERE_URLS = ("turn:turn.gethory.test:3478?transport=udp", "turns:turn.gethory.test:5349")
HOUR = 3600


@pytest.fixture
def turn() -> TurnSettings | None:
    """TURN as configured for the module's server (URLs nobody dials unless a test overrides)."""
    return TurnSettings(urls=NOWHERE_URLS, secret=TEST_SECRET, credential_seconds=HOUR)


@pytest.fixture
def ice_server_urls() -> tuple[str, ...]:
    """ICE_SERVERS of the module's server: none unless a test says otherwise."""
    return ()


@pytest.fixture
def settings(
    settings: Settings, turn: TurnSettings | None, ice_server_urls: tuple[str, ...]
) -> Settings:
    rtc = replace(settings.sfu.rtc, ice_servers=ice_server_urls)
    return replace(settings, turn=turn, sfu=replace(settings.sfu, rtc=rtc))


def password_for(secret: str, username: str) -> str:
    """coturn's REST API password, computed here independently of api.rtc."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


async def ice_servers(http: ApiClient) -> dict[str, Any]:
    reply = await http.get(ENDPOINT)
    assert reply.status == 200, reply.body
    assert reply.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = reply.body
    return body


def turn_entry(body: dict[str, Any]) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [s for s in body["iceServers"] if "username" in s]
    assert len(entries) == 1, body
    return entries[0]


# --- the endpoint -----------------------------------------------------------------------------


async def test_ice_servers_need_a_signed_in_user(client: ApiClient) -> None:
    reply = await client.get(ENDPOINT)
    assert reply.status == 401
    assert reply.error_code == "not_authenticated"


async def test_credentials_follow_coturns_rest_scheme(person: MakePerson) -> None:
    ann = await person("Ann")
    before = int(time.time())
    body = await ice_servers(ann.http)
    after = int(time.time())
    entry = turn_entry(body)
    assert entry["urls"] == list(NOWHERE_URLS)
    expiry, user_id = entry["username"].split(":")
    assert user_id == ann.user_id
    assert before + HOUR <= int(expiry) <= after + HOUR
    assert entry["credential"] == password_for(TEST_SECRET, entry["username"])
    assert body["ttlSeconds"] == HOUR
    assert set(entry) == {"urls", "username", "credential"}


async def test_each_user_gets_a_credential_of_their_own(person: MakePerson) -> None:
    ann, bob = await person("Ann"), await person("Bob")
    ann_entry = turn_entry(await ice_servers(ann.http))
    bob_entry = turn_entry(await ice_servers(bob.http))
    assert ann_entry["username"].endswith(f":{ann.user_id}")
    assert bob_entry["username"].endswith(f":{bob.user_id}")
    assert ann_entry["credential"] != bob_entry["credential"]


@pytest.mark.parametrize("turn", [None])
async def test_without_turn_the_list_has_no_credentials(person: MakePerson) -> None:
    body = await ice_servers((await person("Ann")).http)
    assert body == {"iceServers": []}


# Loopback addresses: the server's own connections never dial them in these tests either.
LOOPBACK_STUN = "stun:127.0.0.1:3478"


@pytest.mark.parametrize("turn", [None])
@pytest.mark.parametrize("ice_server_urls", [(LOOPBACK_STUN, "turn:127.0.0.1:3478")])
async def test_stun_servers_of_ice_servers_go_to_clients_without_credentials(
    person: MakePerson,
) -> None:
    body = await ice_servers((await person("Ann")).http)
    # A turn: URL without a credential is of no use to a browser (which refuses the entry).
    assert body == {"iceServers": [{"urls": [LOOPBACK_STUN]}]}


@pytest.mark.parametrize("ice_server_urls", [(LOOPBACK_STUN,)])
async def test_stun_comes_before_turn(person: MakePerson) -> None:
    body = await ice_servers((await person("Ann")).http)
    assert body["iceServers"][0] == {"urls": [LOOPBACK_STUN]}
    assert body["iceServers"][1]["urls"] == list(NOWHERE_URLS)
    assert len(body["iceServers"]) == 2


async def test_the_endpoint_is_in_the_openapi_document(client: ApiClient) -> None:
    document = (await client.get("/api/openapi.json")).body
    operation = document["paths"][ENDPOINT]["get"]
    assert "401" in operation["responses"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/IceServersResponse")


# --- a real coturn ----------------------------------------------------------------------------


@pytest.fixture
async def coturn(tmp_path: Path) -> AsyncIterator[Coturn]:
    async with Coturn(tmp_path / "coturn") as server:
        yield server


@pytest.fixture
def coturn_turn(coturn: Coturn) -> TurnSettings:
    """The app configured with the coturn's URLs and secret (TURN_URLS, TURN_SECRET)."""
    return TurnSettings(urls=coturn.urls, secret=coturn.secret, credential_seconds=HOUR)


async def allocate(coturn: Coturn, username: str, password: str, transport: str) -> str:
    """A TURN Allocate (RFC 8656) with these credentials; returns the relayed address."""
    relay, _ = await create_turn_endpoint(
        asyncio.DatagramProtocol, coturn.address, username, password, transport=transport
    )
    try:
        host, port = relay.get_extra_info("sockname")
        return f"{host}:{port}"
    finally:
        relay.close()


async def refused(coturn: Coturn, username: str, password: str, transport: str) -> int:
    """The STUN error code coturn answers the authenticated Allocate with."""
    with pytest.raises(stun.TransactionFailed) as failure:
        await allocate(coturn, username, password, transport)
    code = failure.value.response.error_code
    assert code is not None
    return code


@pytest.mark.parametrize("transport", ["udp", "tcp"])
class TestCoturnChecksTheCredentials:
    @pytest.fixture
    def turn(self, coturn_turn: TurnSettings) -> TurnSettings:
        return coturn_turn

    async def test_a_handed_out_credential_allocates_a_relay(
        self, person: MakePerson, coturn: Coturn, transport: str
    ) -> None:
        entry = turn_entry(await ice_servers((await person("Ann")).http))
        relayed = await allocate(coturn, entry["username"], entry["credential"], transport)
        host, port = relayed.split(":")
        assert host == "127.0.0.1"
        assert coturn.relay_ports[0] <= int(port) <= coturn.relay_ports[1]

    async def test_an_expired_credential_is_refused(
        self, person: MakePerson, coturn: Coturn, transport: str
    ) -> None:
        ann = await person("Ann")
        username = f"{int(time.time()) - 60}:{ann.user_id}"
        assert await refused(
            coturn, username, password_for(coturn.secret, username), transport
        ) in (
            401,
            438,
        )

    async def test_a_credential_signed_with_another_secret_is_refused(
        self, person: MakePerson, coturn: Coturn, transport: str
    ) -> None:
        ann = await person("Ann")
        username = f"{int(time.time()) + HOUR}:{ann.user_id}"
        forged = password_for("not " + coturn.secret, username)
        assert await refused(coturn, username, forged, transport) in (401, 438)

    async def test_a_handed_out_credential_is_bound_to_its_username(
        self, person: MakePerson, coturn: Coturn, transport: str
    ) -> None:
        ann, bob = await person("Ann"), await person("Bob")
        entry = turn_entry(await ice_servers(ann.http))
        expiry = entry["username"].split(":")[0]
        # Ann's credential under Bob's id, or with a later expiry: neither is signed.
        for username in (f"{expiry}:{bob.user_id}", f"{int(expiry) + HOUR}:{ann.user_id}"):
            assert await refused(coturn, username, entry["credential"], transport) in (401, 438)


async def bind_channel(coturn: Coturn, username: str, password: str, peer: str) -> int | None:
    """Allocates, then asks for a channel to `peer` (which installs a permission, RFC 8656
    section 12; coturn sends the peer nothing). Returns None on success, else the error code."""
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(
        lambda: TurnClientUdpProtocol(coturn.address, username, password, 600, 300),
        remote_addr=coturn.address,
    )
    try:
        await client.connect()
        try:
            await client.channel_bind(0x4000, (peer, 9))
        except stun.TransactionFailed as failure:
            return failure.response.error_code
        return None
    finally:
        if client.refresh_task is not None:
            client.refresh_task.cancel()
        transport.close()


# Cloud metadata, RFC 1918, loopback, CGNAT and a TEST-NET: a credential must reach none.
PRIVATE_PEERS = ("169.254.169.254", "10.0.0.1", "172.16.0.1", "192.168.1.1", "127.0.0.1")


class TestProductionPeerRules:
    """The deployment's coturn configuration (deploy/coturn/turnserver.conf, its
    `denied-peer-ip` ranges), run by a real coturn: a valid credential cannot open a path to a
    private or loopback address."""

    @pytest.fixture
    async def production_coturn(self, tmp_path: Path) -> AsyncIterator[Coturn]:
        server = Coturn(tmp_path / "coturn-production", peers="production")
        await server.start()
        yield server
        await server.stop()

    @pytest.mark.parametrize("peer", [*PRIVATE_PEERS, "100.64.0.1", "198.51.100.7"])
    async def test_private_peers_are_forbidden(self, production_coturn: Coturn, peer: str) -> None:
        username = f"{int(time.time()) + HOUR}:usr_test"
        password = password_for(production_coturn.secret, username)
        assert await bind_channel(production_coturn, username, password, peer) == 403

    async def test_the_test_coturn_allows_loopback_peers(self, coturn: Coturn) -> None:
        """The control: the same request succeeds where loopback peers are allowed."""
        username = f"{int(time.time()) + HOUR}:usr_test"
        password = password_for(coturn.secret, username)
        assert await bind_channel(coturn, username, password, "127.0.0.1") is None


# --- calls forced through the relay -----------------------------------------------------------


@dataclass(frozen=True)
class RelayOnly(RtcConfig):
    """An RtcConfig whose connections gather nothing but TURN relay candidates
    (`iceTransportPolicy: "relay"`), with the ICE servers a client got from the endpoint."""

    servers: tuple[RTCIceServer, ...] = ()

    @classmethod
    def of(cls, body: dict[str, Any]) -> RelayOnly:
        servers = tuple(
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in body["iceServers"]
        )
        return cls(servers=servers)

    def rtc_configuration(self) -> RTCConfiguration:
        return RTCConfiguration(
            iceServers=list(self.servers), iceTransportPolicy=RTCIceTransportPolicy.RELAY
        )


def selected_pair(pc: RTCPeerConnection) -> tuple[str, str]:
    """(local, remote) candidate types of the pair ICE nominated (aioice's private record:
    aiortc's getStats has no candidate-pair entries)."""
    ice = pc.getTransceivers()[0].receiver.transport.transport
    pair = ice._connection._nominated[1]
    return pair.local_candidate.type, pair.remote_candidate.type


async def relay_config(someone: Person) -> RelayOnly:
    config = RelayOnly.of(await ice_servers(someone.http))
    assert config.servers, "the endpoint gave no ICE servers"
    return config


class TestCallsThroughTheRelay:
    @pytest.fixture
    def turn(self, coturn_turn: TurnSettings) -> TurnSettings:
        return coturn_turn

    async def test_a_mesh_call_between_relay_only_peers_carries_the_tone(
        self, person: MakePerson, loopback_only: RtcConfig, mesh_peers: list[MeshPeer]
    ) -> None:
        ann, bob = await person("Ann"), await person("Bob")
        room = await ann.create_room()
        for someone, tone in ((ann, 440.0), (bob, 660.0)):
            peer = MeshPeer(await someone.socket(), tone, await relay_config(someone))
            mesh_peers.append(peer)
            await peer.socket.join(room)
        first, second = mesh_peers
        await first.wait_to_hear(second.socket.peer_id, 660.0)
        await second.wait_to_hear(first.socket.peer_id, 440.0)
        for peer in mesh_peers:
            [pc] = peer.connections.values()
            assert selected_pair(pc) == ("relay", "relay")
            for line in pc.remoteDescription.sdp.splitlines():
                if line.startswith("a=candidate:"):
                    assert " typ relay" in line, line

    async def test_an_sfu_call_from_relay_only_clients_carries_the_tone(
        self, person: MakePerson, loopback_only: RtcConfig, sfu_clients: list[SfuClient]
    ) -> None:
        ann, bob = await person("Ann"), await person("Bob")
        room = await ann.create_room(media="sfu")
        speaker = await enter(ann, room, await relay_config(ann), sfu_clients, frequency=523.0)
        listener = await enter(bob, room, await relay_config(bob), sfu_clients)
        await listener.wait_for_slot(0, 523.0)
        # The clients relay; the server answers from its own host candidate (it needs no TURN).
        assert selected_pair(speaker.pc) == ("relay", "host")
        assert selected_pair(listener.pc) == ("relay", "host")

    async def test_benchmark_bots_pointed_at_a_server_relay_through_its_turn(
        self, person: MakePerson, loopback_only: RtcConfig, server: RunningServer
    ) -> None:
        ann, bob = await person("Ann"), await person("Bob")
        room = await ann.create_room(media="sfu")
        members: list[SfuMember] = []
        async with aiohttp.ClientSession(base_url=server.base_url) as http:
            with pytest.raises(RuntimeError, match="401"):
                await deployment_rtc(http, "not a token")
            try:
                for someone, speaks in ((ann, True), (bob, False)):
                    rtc = await deployment_rtc(http, someone.access_token, relay_only=True)
                    bot = Bot(someone.name, rtc, speaks=speaks, slots=0 if speaks else 1)
                    members.append(SfuMember(bot))
                    await members[-1].enter(server.base_url, someone.access_token, room)
                listener = members[1].bot
                async with asyncio.timeout(10):
                    while True:
                        if listener.received >= 50:
                            break
                        await asyncio.sleep(0.05)  # the bot counts packets; no event to await
                for member in members:
                    assert selected_pair(member.bot.pc) == ("relay", "host")
            finally:
                for member in members:
                    await member.close()


def test_the_coturn_entrypoint_refuses_the_placeholder_secret(tmp_path: Path) -> None:
    """deploy/coturn/entrypoint.sh with .env.example's TURN_SECRET left in place: the app
    refuses to start with it, and so must coturn, or it runs an open relay for anyone who
    read the repository (the REST-API password is a MAC of a username they choose)."""
    entrypoint = Path(__file__).resolve().parents[1] / "deploy" / "coturn" / "entrypoint.sh"
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)}
    started = subprocess.run(
        ["sh", str(entrypoint)],
        env=env | {"TURN_SECRET": "CHANGE_ME_turn_secret_at_least_32_characters"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert started.returncode != 0
    assert "TURN_SECRET" in started.stderr and "CHANGE_ME" in started.stderr, started.stderr
    assert list(tmp_path.iterdir()) == []  # refused before writing any configuration
