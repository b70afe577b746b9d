"""What each SFU transceiver negotiates, with real aiortc peers whose offers are edited the way
GStreamer, Pion or SDP-munging clients differ from browsers: an Opus payload type of its own
per m-section, Opus fmtp, and no RFC 6464 audio levels."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiortc.rtp import RtpPacket
from aiortc.sdp import SessionDescription

from sfu.config import RtcConfig
from tests.people import Person
from tests.rtc_probes import observe_received_rtp
from tests.sdp_edits import edit_sections, join_with, opus_on
from tests.sfu_client import SfuClient

MakePerson = Callable[[str], Awaitable[Person]]
AUDIO_LEVEL = "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level"


async def entering(
    someone: Person,
    room: str,
    rtc: RtcConfig,
    clients: list[SfuClient],
    slots: int,
    frequency: float | None,
    edit: Callable[[str], str],
) -> tuple[SfuClient, dict[str, Any]]:
    """A participant whose offer is `edit`ed before it is sent; returns it and the ack."""
    socket = await someone.socket()
    await socket.join(room)
    client = SfuClient(socket, rtc, slots, frequency)
    clients.append(client)
    ack = await join_with(client, room, edit(await client.offer()))
    return client, ack


def opus_fmtp_by_mid(answer_sdp: str) -> dict[str, tuple[int, dict[str, str]]]:
    """Per mid of an answer: its Opus payload type and fmtp parameters (values as written)."""
    result = {}
    for media in SessionDescription.parse(answer_sdp).media:
        (opus,) = [c for c in media.rtp.codecs if c.mimeType.lower() == "audio/opus"]
        assert opus.payloadType is not None and media.rtp.muxId is not None
        result[media.rtp.muxId] = (
            opus.payloadType,
            {name: str(value) for name, value in opus.parameters.items()},
        )
    return result


async def test_each_transceiver_keeps_its_own_opus_payload_type(
    person: MakePerson, loopback_only: RtcConfig, sfu_clients: list[SfuClient]
) -> None:
    owner, talker = await person("Owner"), await person("Talker")
    room = await owner.create_room(media="sfu")
    # GStreamer-like: the microphone on 109, the slots on 111.
    speaker, ack = await entering(
        talker, room, loopback_only, sfu_clients, 3, 523.0,
        lambda sdp: edit_sections(sdp, lambda i, s: opus_on(s, 109 if i == 0 else 111)),
    )  # fmt: skip
    assert [pt for pt, _ in opus_fmtp_by_mid(ack["sdp"]).values()] == [109, 111, 111, 111]
    # A listener with yet another payload type on each slot.
    listener_pts = [120, 111, 96]
    listener, ack = await entering(
        owner, room, loopback_only, sfu_clients, 3, None,
        lambda sdp: edit_sections(sdp, lambda i, s: opus_on(s, listener_pts[i])),
    )  # fmt: skip
    assert [pt for pt, _ in opus_fmtp_by_mid(ack["sdp"]).values()] == listener_pts
    seen: list[set[int]] = [set(), set(), set()]

    def recording(payload_types: set[int]) -> Callable[[RtpPacket], None]:
        return lambda packet: payload_types.add(packet.payload_type)

    for transceiver, payload_types in zip(listener.pc.getTransceivers(), seen, strict=True):
        observe_received_rtp(transceiver.receiver, recording(payload_types))
    await listener.wait_for_slot(0, 523.0)
    assert seen[0] == {120}, f"slot 0 must carry the listener's payload type 120, saw {seen}"
    assert speaker.connected.is_set()


async def test_the_answer_honours_stereo_and_dtx_per_transceiver_and_forces_fec(
    person: MakePerson, loopback_only: RtcConfig, sfu_clients: list[SfuClient]
) -> None:
    owner = await person("Owner")
    room = await owner.create_room(media="sfu")
    fmtps = [
        "minptime=10;useinbandfec=1;stereo=1;usedtx=1",  # the microphone: stereo, DTX
        "stereo=0;usedtx=0",  # a slot that says no to both
        None,  # a slot that says nothing (RFC 7587 defaults: mono, no DTX)
    ]
    _, ack = await entering(
        owner, room, loopback_only, sfu_clients, 2, 440.0,
        lambda sdp: edit_sections(sdp, lambda i, s: opus_on(s, 111, fmtps[i])),
    )  # fmt: skip
    answered = [parameters for _, parameters in opus_fmtp_by_mid(ack["sdp"]).values()]
    assert answered == [
        {"useinbandfec": "1", "stereo": "1", "usedtx": "1"},
        {"useinbandfec": "1"},
        {"useinbandfec": "1"},
    ], answered
