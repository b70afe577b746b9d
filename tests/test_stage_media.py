"""Stage rooms with real aiortc peers and FFT tone checks: a listener's audio is dropped in the
server whatever its client sends, and the way onto the stage (raise hand, invite, accept) and
back (set-role listener) switches its voice on and off for the others without renegotiation:
the listener's microphone is offered, with its tone, from the start (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCSessionDescription
from prometheus_client.parser import text_string_to_metric_families

from api.services import SERVICES
from sfu.config import RtcConfig
from tests.conftest import RunningServer
from tests.people import Person
from tests.sfu_client import SfuClient
from tests.stage_people import StageSocket, promote, stage_room, stage_socket

MakePerson = Callable[[str], Awaitable[Person]]
HOST_TONE, LISTENER_TONE = 440.0, 700.0


async def enter(
    someone: Person,
    room: str,
    rtc: RtcConfig,
    clients: list[SfuClient],
    frequency: float | None = None,
    amplitude: float = 0.5,
) -> tuple[SfuClient, StageSocket]:
    """`someone` joins the stage room and its media: 3 slots, and a microphone sending
    `frequency` if given (whatever its role)."""
    socket = await stage_socket(someone)
    await socket.join(room)
    client = SfuClient(socket, rtc, 3, frequency, amplitude)
    clients.append(client)
    await client.join(room)
    return client, socket


async def next_speakers(
    socket: StageSocket, wanted: Callable[[dict[str, Any]], bool], seen: list[dict[str, Any]]
) -> dict[str, Any]:
    """The first `speakers` update satisfying `wanted`; every update read is kept in `seen`."""

    def record(update: Any) -> bool:
        seen.append(update)
        return wanted(update)

    result: dict[str, Any] = await socket.next_where("speakers", record, timeout=15)
    return result


async def dropped_listener_packets(someone: Person) -> float:
    """`gethory_sfu_dropped_listener_packets_total` from /metrics (docs/protocol.md), or 0 if
    the server does not export it."""
    metrics = await someone.http.get("/metrics")
    for family in text_string_to_metric_families(metrics.body.decode()):
        for sample in family.samples:
            if sample.name == "gethory_sfu_dropped_listener_packets_total":
                return float(sample.value)
    return 0.0


async def test_a_listener_sending_audio_anyway_is_never_heard_and_takes_no_slot(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    server: RunningServer,
) -> None:
    ann, lou, leo = await person("Ann"), await person("Lou"), await person("Leo")
    room = await stage_room(ann)
    host, _ = await enter(ann, room, loopback_only, sfu_clients, HOST_TONE, amplitude=0.1)
    # Louder than the host, and slots to spare: anything but a drop would put it on a slot.
    sender, _ = await enter(lou, room, loopback_only, sfu_clients, LISTENER_TONE, amplitude=0.9)
    listener, socket = await enter(leo, room, loopback_only, sfu_clients)
    seen: list[dict[str, Any]] = []
    update = await next_speakers(socket, lambda u: ann.user_id in u["slots"], seen)
    host_slot = update["slots"].index(ann.user_id)
    await listener.wait_for_slot(host_slot, HOST_TONE)

    assert sender.tone is not None
    await sender.tone.wait_frames(sender.tone.frames_sent + 150)  # 3 s more of the listener
    await listener.probes[host_slot].wait_for_frequency(HOST_TONE, 5)
    seen += socket.drain("speakers")
    for update in seen:
        assert lou.user_id not in update["slots"], update
        assert lou.user_id not in update["speaking"], update
    others = [n for i, n in enumerate(listener.sequence_numbers) if i != host_slot]
    assert all(len(numbers) == 0 for numbers in others), "a listener's voice reached a slot"
    assert all(len(numbers) == 0 for numbers in host.sequence_numbers), "the host hears no one"
    # The listener's packets did reach the server (so "never heard" is a drop, not silence).
    assert server.app[SERVICES].sfu.stats.dropped_listener_packets >= 100
    assert await dropped_listener_packets(ann) >= 100, "and exported"


async def test_a_listener_invited_on_stage_is_heard_until_moved_back(
    person: MakePerson, loopback_only: RtcConfig, sfu_clients: list[SfuClient]
) -> None:
    ann, lou, leo = await person("Ann"), await person("Lou"), await person("Leo")
    room = await stage_room(ann)
    _, host = await enter(ann, room, loopback_only, sfu_clients, HOST_TONE)
    talker, lou_socket = await enter(lou, room, loopback_only, sfu_clients, LISTENER_TONE)
    listener, leo_socket = await enter(leo, room, loopback_only, sfu_clients)
    seen: list[dict[str, Any]] = []
    update = await next_speakers(leo_socket, lambda u: ann.user_id in u["slots"], seen)
    host_slot = update["slots"].index(ann.user_id)
    await listener.wait_for_slot(host_slot, HOST_TONE)

    await lou_socket.ok("raise-hand", {"roomId": room})
    raised = await host.next_where("hand-raised", lambda e: e["userId"] == lou.user_id)
    assert raised["raised"] is True
    await host.ok("invite-to-speak", {"roomId": room, "userId": lou.user_id})
    await lou_socket.next("speak-invite")
    await lou_socket.ok("accept-speak", {"roomId": room})
    update = await next_speakers(leo_socket, lambda u: lou.user_id in u["slots"], seen)
    talker_slot = update["slots"].index(lou.user_id)
    assert update["slots"][host_slot] == ann.user_id, "the host keeps its slot"
    await listener.wait_for_slot(talker_slot, LISTENER_TONE)

    await host.ok("set-role", {"roomId": room, "userId": lou.user_id, "role": "listener"})
    await next_speakers(leo_socket, lambda u: lou.user_id not in u["slots"], seen)
    received = len(listener.sequence_numbers[talker_slot])
    moved_back_at = time.monotonic()
    assert talker.tone is not None
    await talker.tone.wait_frames(talker.tone.frames_sent + 100)  # 2 s more of sending
    assert len(listener.sequence_numbers[talker_slot]) <= received + 2, (
        "only packets in flight at the move reach the slot",
        len(listener.sequence_numbers[talker_slot]) - received,
        time.monotonic() - moved_back_at,
    )
    await listener.probes[host_slot].wait_for_frequency(HOST_TONE, 5)
    for update in leo_socket.drain("speakers"):
        assert lou.user_id not in update["slots"], update


async def test_a_speakers_update_reaches_every_listener_alike(
    person: MakePerson, loopback_only: RtcConfig, sfu_clients: list[SfuClient]
) -> None:
    """Listeners with the same slots get the same update (sent as one emit to all of them)."""
    ann = await person("Ann")
    room = await stage_room(ann)
    await enter(ann, room, loopback_only, sfu_clients, HOST_TONE)
    sockets = [
        (await enter(await person(f"L{n}"), room, loopback_only, sfu_clients))[1] for n in range(3)
    ]
    updates = await asyncio.gather(
        *(s.next_where("speakers", lambda u: ann.user_id in u["slots"]) for s in sockets)
    )
    assert all(u == updates[0] for u in updates), updates
    assert updates[0]["roomId"] == room and updates[0]["slots"][0] == ann.user_id


async def test_a_removed_speaker_is_heard_no_more(
    person: MakePerson, loopback_only: RtcConfig, sfu_clients: list[SfuClient]
) -> None:
    ann, sam, leo = await person("Ann"), await person("Sam"), await person("Leo")
    room = await stage_room(ann)
    clock, host = await enter(ann, room, loopback_only, sfu_clients, HOST_TONE)
    _, sam_socket = await enter(sam, room, loopback_only, sfu_clients, LISTENER_TONE)
    listener, leo_socket = await enter(leo, room, loopback_only, sfu_clients)
    await promote(host, sam_socket, room, sam.user_id)
    seen: list[dict[str, Any]] = []
    update = await next_speakers(leo_socket, lambda u: sam.user_id in u["slots"], seen)
    slot = update["slots"].index(sam.user_id)
    await listener.wait_for_slot(slot, LISTENER_TONE)

    await host.ok("remove-participant", {"roomId": room, "userId": sam.user_id})
    await sam_socket.next("removed-from-room")
    received = len(listener.sequence_numbers[slot])
    # The server closes its media, so its tone stops being pulled: the host's tone keeps time.
    assert clock.tone is not None
    await clock.tone.wait_frames(clock.tone.frames_sent + 100)  # 2 s
    assert len(listener.sequence_numbers[slot]) <= received + 2, "heard after removal"
    await next_speakers(leo_socket, lambda u: sam.user_id not in u["slots"], seen)


async def test_a_role_holds_for_a_new_media_connection(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    server: RunningServer,
) -> None:
    """A speaker who reconnects (new socket, new sfu-join) is heard again; moved back to the
    audience, its next media connection is dropped from its first packet."""
    ann, sam, leo = await person("Ann"), await person("Sam"), await person("Leo")
    room = await stage_room(ann)
    _, host = await enter(ann, room, loopback_only, sfu_clients)
    first, sam_socket = await enter(sam, room, loopback_only, sfu_clients, LISTENER_TONE)
    listener, leo_socket = await enter(leo, room, loopback_only, sfu_clients)
    await promote(host, sam_socket, room, sam.user_id)
    seen: list[dict[str, Any]] = []
    await next_speakers(leo_socket, lambda u: sam.user_id in u["slots"], seen)

    await first.close()
    await sam_socket.close()
    await next_speakers(leo_socket, lambda u: sam.user_id not in u["slots"], seen)
    second, sam_socket = await enter(sam, room, loopback_only, sfu_clients, 880.0)
    update = await next_speakers(leo_socket, lambda u: sam.user_id in u["slots"], seen)
    await listener.wait_for_slot(update["slots"].index(sam.user_id), 880.0)

    await host.ok("set-role", {"roomId": room, "userId": sam.user_id, "role": "listener"})
    await next_speakers(leo_socket, lambda u: sam.user_id not in u["slots"], seen)
    await second.close()
    await sam_socket.close()
    dropped = server.app[SERVICES].sfu.stats.dropped_listener_packets
    third, _ = await enter(sam, room, loopback_only, sfu_clients, 990.0, amplitude=0.9)
    assert third.tone is not None
    await third.tone.wait_frames(third.tone.frames_sent + 150)
    assert server.app[SERVICES].sfu.stats.dropped_listener_packets >= dropped + 100
    for update in leo_socket.drain("speakers"):
        assert sam.user_id not in update["slots"], update


async def test_a_speaker_moved_back_while_its_media_is_answered_is_not_heard(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    server: RunningServer,
) -> None:
    """set-role listener lands while the server answers the speaker's sfu-join offer: the
    media connection that results must be off stage from its first packet."""
    ann, sam, leo = await person("Ann"), await person("Sam"), await person("Leo")
    room = await stage_room(ann)
    _, host = await enter(ann, room, loopback_only, sfu_clients, HOST_TONE)
    listener, leo_socket = await enter(leo, room, loopback_only, sfu_clients)
    sam_socket = await stage_socket(sam)
    await sam_socket.join(room)
    await promote(host, sam_socket, room, sam.user_id)
    talker = SfuClient(sam_socket, loopback_only, 3, LISTENER_TONE, 0.9)
    sfu_clients.append(talker)
    offer = await talker.offer()
    answer, moved = await asyncio.gather(
        sam_socket.call("sfu-join", {"roomId": room, "sdp": offer}),
        host.call("set-role", {"roomId": room, "userId": sam.user_id, "role": "listener"}),
    )
    assert answer["ok"] and moved["ok"], (answer, moved)
    await talker.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    await asyncio.wait_for(talker.connected.wait(), 10)
    dropped = server.app[SERVICES].sfu.stats.dropped_listener_packets
    assert talker.tone is not None
    await talker.tone.wait_frames(talker.tone.frames_sent + 150)  # 3 s of a loud listener
    assert server.app[SERVICES].sfu.stats.dropped_listener_packets >= dropped + 100
    updates = leo_socket.drain("speakers")
    heard = [len(numbers) for numbers in listener.sequence_numbers]
    assert sorted(heard)[:-1] == [0, 0], f"only the host's slot carries audio: {heard}"
    # The slot it was given for the instant between the answer and the move back (a
    # `speakers` update naming it, then one without it) carried nothing, as checked above.
    assert sam.user_id not in updates[-1]["slots"], updates
