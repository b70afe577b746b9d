"""Publishers without RFC 6464 audio levels through the real SFU: activity is an Opus payload
clearly above the publisher's own noise floor (sfu.speakers), so a client whose microphone
starts quiet and then carries a voice takes the only slot, and loses it once it stops.

A steady tone from the first packet on is, by payload size, indistinguishable from CBR or
from noise coded without DTX: it never counts as speech. So each publisher here starts with
half a second of digital silence (what a muted or quiet microphone codes to), which shows its
floor, as a real microphone's pauses do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sfu.config import RtcConfig
from tests.people import Person
from tests.rtc_audio import ToneTrack
from tests.sdp_edits import join_with, without_lines
from tests.sfu_client import SfuClient
from tests.test_sfu import next_speakers

MakePerson = Callable[[str], Awaitable[Person]]
AUDIO_LEVEL = "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level"
LEAD_IN_FRAMES = 25  # 0.5 s of 20 ms frames


class ToneAfterSilence(ToneTrack):
    """A sine that starts after `LEAD_IN_FRAMES` frames of digital silence."""

    async def recv(self) -> Any:
        loud = self.amplitude
        if self.frames_sent < LEAD_IN_FRAMES:
            self.amplitude = 0.0
        try:
            return await super().recv()
        finally:
            self.amplitude = loud


async def entering_without_levels(
    someone: Person,
    room: str,
    rtc: RtcConfig,
    clients: list[SfuClient],
    frequency: float | None,
) -> tuple[SfuClient, dict[str, Any]]:
    socket = await someone.socket()
    await socket.join(room)
    client = SfuClient(socket, rtc, 1, frequency)
    clients.append(client)
    if frequency is not None:
        assert client.microphone is not None
        client.tone = ToneAfterSilence(frequency)
        client.microphone.sender.replaceTrack(client.tone)
    ack = await join_with(client, room, without_lines(await client.offer(), AUDIO_LEVEL))
    return client, ack


async def test_publishers_without_audio_levels_take_and_lose_the_only_slot(
    person: MakePerson, loopback_only: RtcConfig, sfu_clients: list[SfuClient]
) -> None:
    owner, first, second = await person("Owner"), await person("First"), await person("Second")
    room = await owner.create_room(media="sfu", slots=1)
    early, ack = await entering_without_levels(first, room, loopback_only, sfu_clients, 440.0)
    assert "ssrc-audio-level" not in ack["sdp"]
    listener, _ = await entering_without_levels(owner, room, loopback_only, sfu_clients, None)
    update = await next_speakers(listener, lambda u: first.user_id in u["speaking"])
    assert update["slots"] == [first.user_id]
    await listener.wait_for_slot(0, 440.0)

    await entering_without_levels(second, room, loopback_only, sfu_clients, 880.0)
    assert early.tone is not None
    early.tone.stop()  # the first falls silent: the second takes the only slot
    update = await next_speakers(listener, lambda u: u["slots"] == [second.user_id])
    assert first.user_id not in update["speaking"] and second.user_id in update["speaking"]
    await listener.wait_for_slot(0, 880.0)
