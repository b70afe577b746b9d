"""SFU rooms with real aiortc peers: forwarding without transcoding, slots, mute, lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from api.services import SERVICES
from sfu.config import RtcConfig
from tests.conftest import RunningServer
from tests.people import Person
from tests.sfu_client import SfuClient

MakePerson = Callable[[str], Awaitable[Person]]


@pytest.fixture
async def sfu_clients() -> AsyncIterator[list[SfuClient]]:
    clients: list[SfuClient] = []
    yield clients
    for client in clients:
        await client.close()


async def enter(
    someone: Person,
    room: str,
    rtc: RtcConfig,
    clients: list[SfuClient],
    slots: int = 3,
    frequency: float | None = None,
    amplitude: float = 0.5,
) -> SfuClient:
    socket = await someone.socket()
    await socket.join(room)
    client = SfuClient(socket, rtc, slots, frequency, amplitude)
    clients.append(client)
    await client.join(room)
    return client


async def test_one_speaker_reaches_five_listeners_without_hearing_itself(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    server: RunningServer,
) -> None:
    speaker_person = await person("Speaker")
    room = await speaker_person.create_room(media="sfu")
    speaker = await enter(speaker_person, room, loopback_only, sfu_clients, frequency=523.0)
    listeners = [
        await enter(await person(f"Listener{n}"), room, loopback_only, sfu_clients)
        for n in range(5)
    ]
    for listener in listeners:
        await listener.wait_for_slot(0, 523.0)
        update = await listener.socket.next("speakers")
        while update["slots"][0] != speaker_person.user_id:
            update = await listener.socket.next("speakers")
        assert update["slots"][1:] == [None, None]
    assert all(probe.frames_received == 0 for probe in speaker.probes), "no echo of itself"
    stats = server.app[SERVICES].sfu.stats
    assert stats.forwarded_packets > 0 and stats.participants == 6
