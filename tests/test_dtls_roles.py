"""Who is the DTLS server: the SFU answers an `actpass` offer as DTLS server
(`a=setup:passive`, as mediasoup, Janus and LiveKit do) and honours an offer that fixes the
role (RFC 5763 §5, RFC 8842 §5.3). Real aiortc peers; GStreamer's RSA certificate in either
role is in test_gstreamer.py."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import pytest
from aiortc import RTCSessionDescription

from sfu.config import RtcConfig
from tests.people import Person
from tests.rtc_audio import FrequencyProbe
from tests.sfu_client import SfuClient

MakePerson = Callable[[str], Awaitable[Person]]


def setup_of(sdp: str) -> set[str]:
    return set(re.findall(r"^a=setup:(\w+)", sdp, re.MULTILINE))


@pytest.mark.parametrize(
    ("offered", "answered"),
    [("actpass", "passive"), ("active", "passive"), ("passive", "active")],
)
async def test_the_answer_takes_the_dtls_role_the_offer_leaves_or_gives(
    offered: str,
    answered: str,
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
) -> None:
    speaker, listener = await person("Speaker"), await person("Listener")
    room = await speaker.create_room(media="sfu")
    speaker_socket = await speaker.socket()
    await speaker_socket.join(room)
    tone = SfuClient(speaker_socket, loopback_only, 1, frequency=587.0)
    sfu_clients.append(tone)
    await tone.join(room)

    socket = await listener.socket()
    await socket.join(room)
    client = SfuClient(socket, loopback_only, 1)
    sfu_clients.append(client)
    offer = await client.offer()
    assert setup_of(offer) == {"actpass"}  # what aiortc, browsers and webrtcbin all offer
    offer = offer.replace("a=setup:actpass", f"a=setup:{offered}")
    ack = await socket.call("sfu-join", {"roomId": room, "sdp": offer})
    assert ack["ok"], ack
    assert setup_of(ack["sdp"]) == {answered}
    # aiortc as offerer takes the role the answer leaves it, whatever its own offer said.
    await client.pc.setRemoteDescription(RTCSessionDescription(ack["sdp"], "answer"))
    # What SfuClient.join would do after the answer; this client has slots only.
    client.probes = [FrequencyProbe(t.receiver.track) for t in client.pc.getTransceivers()]
    await asyncio.wait_for(client.connected.wait(), 10)
    await client.wait_for_slot(0, 587.0)
