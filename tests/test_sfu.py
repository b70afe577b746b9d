"""SFU rooms with real aiortc peers: forwarding without transcoding, slots, mute, lifecycle."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.services import SERVICES
from sfu.config import RtcConfig
from tests.conftest import RunningServer
from tests.people import Person
from tests.sfu_bot import bot_process
from tests.sfu_client import SfuClient
from tests.sfu_state import is_connected

MakePerson = Callable[[str], Awaitable[Person]]


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
        # Every update describes all the listener's slots, even one sent while others join.
        while len(update["slots"]) == 3 and update["slots"][0] != speaker_person.user_id:
            update = await listener.socket.next("speakers")
        assert len(update["slots"]) == 3, update
        assert update["slots"][1:] == [None, None]
    assert all(probe.frames_received == 0 for probe in speaker.probes), "no echo of itself"
    stats = server.app[SERVICES].sfu.stats
    assert stats.forwarded_packets > 0 and server.app[SERVICES].sfu.participant_count() == 6
    metrics = await speaker_person.http.get("/metrics")
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(metrics.body.decode())
        for sample in family.samples
    }
    assert samples["gethory_sfu_participants"] == 6
    assert samples["gethory_sfu_forwarded_packets_total"] > 0
    assert samples["gethory_sfu_join_seconds_count"] == 6


async def next_speakers(
    client: SfuClient, wanted: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first `speakers` event for this client that satisfies `wanted`."""
    while True:
        update: dict[str, Any] = await client.socket.next("speakers")
        if wanted(update):
            return update


async def test_the_two_loudest_hold_the_slots_and_a_quieter_one_takes_a_freed_slot(
    person: MakePerson, loopback_only: RtcConfig, sfu_clients: list[SfuClient]
) -> None:
    owner = await person("Owner")
    room = await owner.create_room(media="sfu", slots=2)
    voices = [
        ("Loud", 440.0, 0.5),
        ("Second", 620.0, 0.25),
        ("Third", 880.0, 0.1),
        ("Quiet", 1100.0, 0.05),
    ]
    speakers = {}
    for name, tone, amplitude in voices:
        someone = await person(name)
        speakers[name] = (
            someone,
            await enter(someone, room, loopback_only, sfu_clients, 2, tone, amplitude),
        )
    listener = await enter(owner, room, loopback_only, sfu_clients, slots=2)

    loud_id, second_id, third_id = (speakers[n][0].user_id for n in ("Loud", "Second", "Third"))
    update = await next_speakers(listener, lambda u: set(u["slots"]) == {loud_id, second_id})
    loud_slot, second_slot = update["slots"].index(loud_id), update["slots"].index(second_id)
    await listener.wait_for_slot(loud_slot, 440.0)
    await listener.wait_for_slot(second_slot, 620.0)

    before_switch = len(listener.sequence_numbers[loud_slot])
    loud_tone = speakers["Loud"][1].tone
    assert loud_tone is not None
    loud_tone.stop()
    update = await next_speakers(listener, lambda u: third_id in u["slots"])
    assert update["slots"][loud_slot] == third_id, "the freed slot is reused; the other stays put"
    assert update["slots"][second_slot] == second_id
    assert loud_id not in update["speaking"]
    await listener.wait_for_slot(loud_slot, 880.0)

    received = listener.sequence_numbers[loud_slot][before_switch - 5 :]
    steps = {(b - a) & 0xFFFF for a, b in itertools.pairwise(received)}
    assert steps == {1}, f"sequence numbers jump across the switch: {sorted(steps)}"


async def test_the_owner_mutes_a_speaker_who_keeps_sending(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    server: RunningServer,
) -> None:
    owner, talker = await person("Owner"), await person("Talker")
    room = await owner.create_room(media="sfu")
    speaker = await enter(talker, room, loopback_only, sfu_clients, frequency=700.0)
    listener = await enter(owner, room, loopback_only, sfu_clients)
    await listener.wait_for_slot(0, 700.0)

    ack = await owner.sockets[0].call(
        "mute-participant", {"roomId": room, "userId": talker.user_id}
    )
    assert ack["ok"], ack
    await next_speakers(listener, lambda u: u["slots"] == [None, None, None])
    received = len(listener.sequence_numbers[0])
    assert speaker.tone is not None
    await speaker.tone.wait_frames(speaker.tone.frames_sent + 50)  # a second more of ignoring it
    assert len(listener.sequence_numbers[0]) <= received + 2, "only packets already in flight"
    assert server.app[SERVICES].sfu.stats.dropped_muted_packets >= 40


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("garbage", "invalid_offer"),
        ("no_audio", "invalid_offer"),
        ("too_many_slots", "too_many_slots"),
        ("pcmu_only", "opus_required"),
    ],
)
async def test_unusable_offers_are_refused_and_the_room_carries_on(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    change: str,
    code: str,
) -> None:
    owner, visitor = await person("Owner"), await person("Visitor")
    room = await owner.create_room(media="sfu", slots=2)
    speaker = await enter(owner, room, loopback_only, sfu_clients, slots=2, frequency=500.0)
    socket = await visitor.socket()
    await socket.join(room)
    client = SfuClient(socket, loopback_only, slots=3 if change == "too_many_slots" else 2)
    sfu_clients.append(client)
    sdp = await client.offer()
    if change == "garbage":
        sdp = "v=0\r\nthis is not sdp\r\n"
    elif change == "no_audio":
        sdp = "\r\n".join(line for line in sdp.split("\r\n") if not line.startswith("m=")) + "\r\n"
    elif change == "pcmu_only":
        sdp = sdp.replace("opus/48000/2", "PCMU/8000")
    ack = await socket.call("sfu-join", {"roomId": room, "sdp": sdp})
    assert ack["ok"] is False and ack["error"]["code"] == code, ack
    listener = await enter(await person("Listener"), room, loopback_only, sfu_clients, slots=2)
    await listener.wait_for_slot(0, 500.0)
    assert speaker.connected.is_set()


async def test_a_second_sfu_join_on_one_socket_is_refused(
    person: MakePerson, loopback_only: RtcConfig, sfu_clients: list[SfuClient]
) -> None:
    owner = await person("Owner")
    room = await owner.create_room(media="sfu")
    first = await enter(owner, room, loopback_only, sfu_clients, frequency=300.0)
    again = SfuClient(first.socket, loopback_only, slots=1)
    sfu_clients.append(again)
    ack = await first.socket.call("sfu-join", {"roomId": room, "sdp": await again.offer()})
    assert (ack["ok"], ack["error"]["code"]) == (False, "already_connected")
    listener = await enter(await person("Listener"), room, loopback_only, sfu_clients)
    await listener.wait_for_slot(0, 300.0)


async def test_sfu_join_needs_an_sfu_room_joined_first(
    person: MakePerson, loopback_only: RtcConfig, sfu_clients: list[SfuClient]
) -> None:
    owner = await person("Owner")
    mesh, sfu = await owner.create_room(media="mesh"), await owner.create_room(media="sfu")
    socket = await owner.socket()
    client = SfuClient(socket, loopback_only, slots=1)
    sfu_clients.append(client)
    sdp = await client.offer()
    ack = await socket.call("sfu-join", {"roomId": sfu, "sdp": sdp})
    assert ack["error"]["code"] == "not_in_room"
    await socket.join(mesh)
    ack = await socket.call("sfu-join", {"roomId": mesh, "sdp": sdp})
    assert ack["error"]["code"] == "wrong_media_mode"
    for payload in ({"roomId": sfu}, {"roomId": sfu, "sdp": ""}, {"sdp": sdp}, "offer"):
        assert (await socket.call("sfu-join", payload))["error"]["code"] == "validation_failed"


async def test_leaving_frees_the_media_and_a_vanished_peer_is_dropped(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    server: RunningServer,
) -> None:
    owner, guest = await person("Owner"), await person("Guest")
    room = await owner.create_room(media="sfu")
    await enter(owner, room, loopback_only, sfu_clients, frequency=300.0)
    departing = await enter(guest, room, loopback_only, sfu_clients, frequency=600.0)
    sfu = server.app[SERVICES].sfu
    assert sfu.participant_count() == 2

    departing_sid = departing.socket.peer_id
    await departing.socket.close()
    await owner.sockets[0].next("participant-left")
    assert sfu.participant_count() == 1 and not is_connected(sfu, room, departing_sid)

    vanishing = await enter(await person("Vanishing"), room, loopback_only, sfu_clients)
    await vanishing.pc.close()  # the media goes away; the socket stays open
    failed = await vanishing.socket.next("sfu-failed", timeout=12)
    assert failed == {"roomId": room}
    assert sfu.participant_count() == 1


async def test_a_quiet_speaker_is_heard_while_slots_are_to_spare(
    person: MakePerson, loopback_only: RtcConfig, sfu_clients: list[SfuClient]
) -> None:
    owner, whisperer = await person("Owner"), await person("Whisperer")
    room = await owner.create_room(media="sfu")
    # About -70 dBov: below the speaking threshold, so never ranked, yet a slot is free.
    await enter(whisperer, room, loopback_only, sfu_clients, frequency=750.0, amplitude=0.0003)
    listener = await enter(owner, room, loopback_only, sfu_clients)
    update = await next_speakers(listener, lambda u: whisperer.user_id in u["slots"])
    assert whisperer.user_id not in update["speaking"]
    await listener.wait_for_slot(update["slots"].index(whisperer.user_id), 750.0)


async def test_a_frozen_peer_loses_its_media_once_consent_expires(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    server: RunningServer,
) -> None:
    owner, frozen = await person("Owner"), await person("Frozen")
    room = await owner.create_room(media="sfu")
    owner_sid = (await enter(owner, room, loopback_only, sfu_clients)).socket.peer_id
    async with bot_process(server.base_url, frozen.access_token, room) as (bot, frozen_sid):
        sfu = server.app[SERVICES].sfu
        assert is_connected(sfu, room, frozen_sid)
        # Frozen, not gone: its socket stays open (the kernel still acknowledges), its media
        # falls silent. Only ICE consent freshness can notice.
        bot.send_signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        # Consent expires no less than `expiry` after the last packet, and liveness is sampled
        # once per check (at most 1.2 × interval apart, two samples late at worst); closing
        # the connection takes a little more.
        expiry = sfu.config.consent_expiry_seconds
        latest = expiry + 2.4 * sfu.config.consent_interval_seconds + 1.0
        while is_connected(sfu, room, frozen_sid):
            assert time.monotonic() - frozen_at < latest, f"still connected after {latest} s"
            await asyncio.sleep(0.1)  # sampling server state: there is no event to await
        assert time.monotonic() - frozen_at > expiry - 0.5, "dropped before consent expired"
        assert is_connected(sfu, room, owner_sid)
