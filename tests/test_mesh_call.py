"""Whole mesh calls: aiortc peers set up peer-to-peer audio through the server's relays."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

import pytest

from sfu.config import RtcConfig
from tests.mesh_peer import MeshPeer
from tests.people import Person

MakePerson = Callable[[str], Awaitable[Person]]
TONES = (440.0, 660.0, 990.0)


@pytest.mark.parametrize("size", [2, 3])
async def test_everyone_hears_everyone_else(
    person: MakePerson, loopback_only: RtcConfig, mesh_peers: list[MeshPeer], size: int
) -> None:
    people = [await person(name) for name in ("Ann", "Bob", "Cat")[:size]]
    room = await people[0].create_room()
    for someone, tone in zip(people, TONES, strict=False):
        peer = MeshPeer(await someone.socket(), tone, loopback_only)
        mesh_peers.append(peer)
        await peer.socket.join(room)
    for listener, speaker in itertools.permutations(mesh_peers, 2):
        await listener.wait_to_hear(speaker.socket.peer_id, speaker.frequency)
    for peer in mesh_peers:
        assert len(peer.connections) == size - 1
        for pc in peer.connections.values():
            for line in pc.remoteDescription.sdp.splitlines():
                if line.startswith("a=candidate:"):
                    assert line.split()[4] == "127.0.0.1", line


async def test_a_departed_peer_is_dropped(
    person: MakePerson, loopback_only: RtcConfig, mesh_peers: list[MeshPeer]
) -> None:
    ann, bob = await person("Ann"), await person("Bob")
    room = await ann.create_room()
    for someone, tone in ((ann, 440.0), (bob, 660.0)):
        peer = MeshPeer(await someone.socket(), tone, loopback_only)
        mesh_peers.append(peer)
        await peer.socket.join(room)
    first, second = mesh_peers
    await first.wait_to_hear(second.socket.peer_id, 660.0)
    await second.socket.close()
    assert await asyncio.wait_for(first.dropped.get(), 10) == second.socket.peer_id
    assert first.connections == {} and first.probes == {}
