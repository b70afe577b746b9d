"""RTCP through the real server with real aiortc peers: the sender reports listeners get and
the receiver reports publishers get say what really happened on the wire."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sfu.config import RtcConfig
from tests.people import Person
from tests.sfu_client import SfuClient

MakePerson = Callable[[str], Awaitable[Person]]
T = TypeVar("T")
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900 (NTP) to 1970 (Unix)
CLOCK_RATE = 48_000


async def enter(
    someone: Person,
    room: str,
    rtc: RtcConfig,
    clients: list[SfuClient],
    frequency: float | None = None,
) -> SfuClient:
    socket = await someone.socket()
    await socket.join(room)
    client = SfuClient(socket, rtc, slots=1, frequency=frequency)
    clients.append(client)
    await client.join(room)
    return client


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 10.0) -> T:
    """The first non-None result of `probe`, sampled every 0.1 s: aiortc's statistics offer
    no event to wait for."""
    async with asyncio.timeout(timeout):
        while True:
            result = await probe()
            if result is not None:
                return result
            await asyncio.sleep(0.1)


async def a_speaker_and_a_listener(
    person: MakePerson, rtc: RtcConfig, clients: list[SfuClient], lose_every: int | None = None
) -> tuple[SfuClient, SfuClient, Callable[[], int]]:
    speaker_person, listener_person = await person("Speaker"), await person("Listener")
    room = await speaker_person.create_room(media="sfu", slots=1)
    speaker = await enter(speaker_person, room, rtc, clients, frequency=660.0)
    dropped = speaker.lose_every(lose_every) if lose_every else (lambda: 0)
    listener = await enter(listener_person, room, rtc, clients)
    await listener.wait_for_slot(0, 660.0)
    return speaker, listener, dropped


def ntp_seconds(ntp: int) -> float:
    return (ntp >> 32) - NTP_EPOCH_OFFSET + (ntp & 0xFFFFFFFF) / 2**32


async def test_a_listener_gets_sender_reports_with_the_real_counts_and_a_matching_time_pair(
    person: MakePerson, loopback_only: RtcConfig, sfu_clients: list[SfuClient]
) -> None:
    speaker, listener, _ = await a_speaker_and_a_listener(person, loopback_only, sfu_clients)
    reports = listener.sender_reports[0]

    async def two_reports_while_flowing() -> bool | None:
        return True if sum(sr.sender_info.packet_count > 0 for _, sr in reports) >= 2 else None

    await eventually(two_reports_while_flowing)
    # Each report's NTP time is when it left, and its RTP time the stream's time then: the
    # newest packet's timestamp carried forward at 48 kHz to that instant.
    arrivals = listener.arrivals[0]
    for arrived, sr in reports:
        if sr.sender_info.packet_count == 0:
            continue
        sent_at = ntp_seconds(sr.sender_info.ntp_timestamp)
        assert abs(arrived - sent_at) < 0.1, "the NTP time is the wall clock when it was sent"
        last_at, last_ts = [a for a in arrivals if a[0] <= arrived][-1]
        expected = (last_ts + round((sent_at - last_at) * CLOCK_RATE)) & 0xFFFFFFFF
        off = (sr.sender_info.rtp_timestamp - expected + 2**31) % 2**32 - 2**31
        assert abs(off) < 0.03 * CLOCK_RATE, f"RTP time off by {off / CLOCK_RATE:.3f} s"

    # Silence the speaker; the next report counts exactly what reached the listener.
    assert speaker.tone is not None
    speaker.tone.stop()

    async def report_after_the_last_packet() -> Any:
        last = arrivals[-1][0]
        if time.time() - last > 0.2 and reports[-1][0] > last + 0.05:
            return reports[-1][1]
        return None

    final = await eventually(report_after_the_last_packet)
    received = len(listener.sequence_numbers[0])
    assert received > 30
    assert abs(final.sender_info.packet_count - received) <= 2

    async def remote_outbound() -> Any:
        for stats in await listener.stats("remote-outbound-rtp"):
            if stats.packetsSent == final.sender_info.packet_count:
                return stats
        return None

    stats = await eventually(remote_outbound)
    assert stats.bytesSent > 0 and stats.bytesSent == final.sender_info.octet_count
    inbound = await listener.stats("inbound-rtp")
    assert [s.packetsReceived for s in inbound if s.ssrc == stats.ssrc] == [received]


async def test_a_publisher_gets_receiver_reports_with_round_trip_time_and_no_loss(
    person: MakePerson, loopback_only: RtcConfig, sfu_clients: list[SfuClient]
) -> None:
    speaker, _, _ = await a_speaker_and_a_listener(person, loopback_only, sfu_clients)

    async def measured() -> Any:
        for stats in await speaker.stats("remote-inbound-rtp"):
            if stats.roundTripTime is not None:
                return stats
        return None

    # A round-trip time needs one of the speaker's sender reports echoed (LSR/DLSR) by ours.
    stats = await eventually(measured)
    assert 0 < stats.roundTripTime < 0.5
    assert stats.packetsLost == 0 and stats.fractionLost == 0
    assert stats.packetsReceived > 0
    assert stats.jitter >= 0


async def test_loss_on_a_publishers_uplink_is_reported_back_to_it_and_seen_downstream(
    person: MakePerson, loopback_only: RtcConfig, sfu_clients: list[SfuClient]
) -> None:
    speaker, listener, dropped = await a_speaker_and_a_listener(
        person, loopback_only, sfu_clients, lose_every=10
    )
    fractions: list[int] = []

    async def lossy() -> Any:
        for stats in await speaker.stats("remote-inbound-rtp"):
            fractions.append(stats.fractionLost)
            if stats.packetsLost >= 5 and any(fractions):
                return stats
        return None

    stats = await eventually(lossy)
    assert stats.packetsLost <= dropped()
    # About one in ten, as dropped (RFC 3550: fraction lost is in 1/256ths).
    assert any(20 <= f <= 32 for f in fractions), fractions
    # The loss stays visible to the listener: the slot keeps the speaker's gaps.
    inbound = await listener.stats("inbound-rtp")
    assert inbound and inbound[0].packetsLost > 0


async def test_a_listener_gets_its_slots_reports_together_once_per_interval(
    person: MakePerson, loopback_only: RtcConfig, sfu_clients: list[SfuClient]
) -> None:
    """One compound RTCP packet per connection (sfu.rtcp_schedule): the sender reports of
    all three slots arrive in the same datagram, the first within about a second and the
    next one interval (5 s) later, not one per slot every 0.5-1.5 s as aiortc's own loops
    sent them."""
    owner, guest = await person("Owner"), await person("Guest")
    room = await owner.create_room(media="sfu", slots=3)
    socket = await guest.socket()
    await socket.join(room)
    listener = SfuClient(socket, loopback_only, slots=3)
    sfu_clients.append(listener)
    await listener.join(room)
    started = time.time()
    reports = listener.sender_reports

    async def two_rounds() -> bool | None:
        return True if all(len(per_slot) >= 2 for per_slot in reports) else None

    await eventually(two_rounds, timeout=15.0)
    first, second = ([per_slot[i][0] for per_slot in reports] for i in (0, 1))
    assert max(first) - min(first) < 0.01, "the first round came in one datagram"
    assert max(second) - min(second) < 0.01, "the second round came in one datagram"
    assert min(first) - started < 2.0
    assert 4.0 < min(second) - max(first) < 6.0, "one interval between rounds"
    assert {len(per_slot) for per_slot in reports} == {2}, "nothing in between"
