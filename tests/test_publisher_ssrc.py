"""A publisher's SSRC as the server sees it: one stream per microphone, the current SSRC.

A publisher that cycles SSRCs grows no server state (receive statistics, last sender reports,
aiortc's SSRC routing table: one entry each, so a receiver report never carries more than one
report block), and one that restarts its sender with a new SSRC keeps being heard on every
slot that carries it (sfu.rtp_stream restarts the mapping: the listener sees one continuous
stream).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc.rtp import RtpPacket

from api.services import SERVICES
from sfu.config import RtcConfig
from tests.conftest import RunningServer
from tests.people import Person
from tests.sfu_client import SfuClient
from tests.test_sfu import enter

MakePerson = Callable[[str], Awaitable[Person]]


def microphone_receiver(server: RunningServer, room: str) -> Any:
    """The server's hooked RTCRtpReceiver of the room's only publisher (aiortc's privates)."""
    participant: Any
    (participant,) = server.app[SERVICES].sfu.rooms[room].participants.values()
    (receiver,) = [
        t.receiver for t in participant._pc.getTransceivers() if t.receiver._RTCRtpReceiver__started
    ]
    return receiver


async def test_a_publisher_cycling_ssrcs_keeps_one_stream_of_server_state(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    server: RunningServer,
) -> None:
    publisher = await person("Cycler")
    room = await publisher.create_room(media="sfu", slots=1)
    client = await enter(publisher, room, loopback_only, sfu_clients, slots=1, frequency=300.0)
    assert client.microphone is not None
    dtls: Any = client.microphone.sender.transport  # aiortc's private SRTP send
    microphone: Any = client.microphone  # aiortc's private negotiated codecs
    payload_type = int(microphone._codecs[0].payloadType)
    for n in range(400):
        packet = RtpPacket(
            payload_type,
            sequence_number=100 + n,
            timestamp=960 * n,
            ssrc=0x10000 + n,
            payload=b"\xfc" * 20,
        )
        await dtls._send_rtp(packet.serialize())
        if n % 50 == 0:
            await asyncio.sleep(0.01)
    receiver = microphone_receiver(server, room)
    tone_ssrc = microphone.sender._ssrc
    # Sampling server state (there is no event): the tone's own SSRC returns after the 400,
    # and then it must be the only stream the server keeps.
    async with asyncio.timeout(5):
        while True:
            if list(receiver._RTCRtpReceiver__remote_streams) == [tone_ssrc]:
                break
            await asyncio.sleep(0.05)
    routes = receiver.transport._rtp_router.ssrc_table
    assert len(receiver._RTCRtpReceiver__lsr) <= 1
    assert len([ssrc for ssrc, r in routes.items() if r is receiver]) == 1
    assert client.pc.connectionState == "connected"


async def test_a_publisher_that_changes_its_ssrc_stays_on_its_listeners_slot(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    server: RunningServer,
) -> None:
    speaker_person = await person("Restarter")
    room = await speaker_person.create_room(media="sfu", slots=1)
    speaker = await enter(
        speaker_person, room, loopback_only, sfu_clients, slots=1, frequency=440.0
    )
    listener = await enter(await person("Listener"), room, loopback_only, sfu_clients, slots=1)
    await listener.wait_for_slot(0, 440.0)
    assert speaker.microphone is not None
    sender: Any = speaker.microphone.sender  # aiortc stamps each packet with sender._ssrc
    sender._ssrc = (sender._ssrc + 1) & 0xFFFFFFFF  # the same microphone, a new SSRC
    received = listener.sequence_numbers[0]
    changed_at = len(received)
    # Sampling what arrived (there is no event): 20 ms packets, so 50 within 3 s if the slot
    # kept carrying the speaker after its SSRC changed.
    async with asyncio.timeout(3):
        while True:
            if len(received) - changed_at >= 50:
                break
            await asyncio.sleep(0.05)
    after = received[changed_at:]
    steps = [(b - a) & 0xFFFF for a, b in zip(received[changed_at - 1 :], after, strict=False)]
    assert all(1 <= step < 100 for step in steps)  # one continuous, increasing stream
