"""Which SDP offers an sfu room answers and which it refuses, and how: sfu.offer's checks on
Chromium-shaped offers, then real aiortc peers sending broken, non-audio and oversized offers
through signaling."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiortc import RTCPeerConnection
from aiortc.sdp import SessionDescription

from sfu.config import RtcConfig, SfuConfig
from sfu.errors import InvalidOffer, OfferTooLarge, OpusRequired, SfuError, TooManySlots
from sfu.offer import (
    MAX_CANDIDATES_PER_SECTION,
    MAX_OFFER_BYTES,
    check_offer,
    opus_answer_parameters,
)
from sfu.participant import Participant
from tests.people import Person
from tests.sdp_edits import edit_sections, join_with, without_lines
from tests.sfu_client import SfuClient
from tests.test_sfu import enter

MakePerson = Callable[[str], Awaitable[Person]]

FINGERPRINT = "sha-256 " + ":".join(f"{n:02X}" for n in range(32))


def chromium_section(mid: int, sends: bool, candidates: list[str]) -> list[str]:
    """One audio m-section as Chromium writes it (codecs, extensions, ssrc lines)."""
    lines = [
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        *candidates,
        "a=ice-ufrag:X8Zo",
        "a=ice-pwd:Ndi6gMqBkZzKvEbN9jCdZ3LQ",
        "a=ice-options:trickle",
        f"a=fingerprint:{FINGERPRINT}",
        "a=setup:actpass",
        f"a=mid:{mid}",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=sendonly" if sends else "a=recvonly",
        "a=rtcp-mux",
        "a=rtcp-rsize",
        "a=rtpmap:111 opus/48000/2",
        "a=rtcp-fb:111 transport-cc",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:63 red/48000/2",
        "a=fmtp:63 111/111",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:13 CN/8000",
        "a=rtpmap:110 telephone-event/48000",
        "a=rtpmap:126 telephone-event/8000",
    ]
    if sends:
        lines += ["a=msid:stream track", "a=ssrc:1001 cname:c2Vjb25k", "a=ssrc:1001 msid:s t"]
    return lines


CHROMIUM_CANDIDATES = [
    "a=candidate:1 1 udp 2122260223 192.168.1.5 54400 typ host generation 0 network-id 1",
    "a=candidate:2 1 udp 2122194687 3f0c3bf1-6c55-4d0b-9a52-6cb1b4d3e8a1.local 54401 typ host "
    "generation 0 network-id 2",
    "a=candidate:3 1 tcp 1518280447 192.168.1.5 9 typ host tcptype active generation 0",
    "a=candidate:4 1 udp 1686052607 203.0.113.7 54400 typ srflx raddr 192.168.1.5 rport 54400 "
    "generation 0 network-id 1",
]


def chromium_offer(
    slots: int, microphone: bool = True, candidates: list[str] = CHROMIUM_CANDIDATES
) -> str:
    sections = [chromium_section(0, True, candidates)] if microphone else []
    first = len(sections)
    sections += [chromium_section(first + n, False, candidates) for n in range(slots)]
    mids = " ".join(str(n) for n in range(len(sections)))
    session = [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        f"a=group:BUNDLE {mids}",
        "a=extmap-allow-mixed",
        "a=msid-semantic: WMS stream",
    ]
    return "\r\n".join(session + [x for s in sections for x in s]) + "\r\n"


def candidate_lines(sdp: str) -> list[str]:
    return [line for line in sdp.splitlines() if line.startswith("a=candidate:")]


def bogus_candidates(count: int, priority: int = 1000, suffix: str = "") -> list[str]:
    """Host candidates at TEST-NET-2 addresses, which lead nowhere (RFC 5737)."""
    return [
        f"a=candidate:{n} 1 udp {priority + n} 198.51.100.{n % 250 + 1} {10000 + n} typ host"
        + suffix
        for n in range(count)
    ]


# --- sfu.offer on its own ---------------------------------------------------------------------


def test_a_chromium_offer_with_a_microphone_and_eight_slots_is_accepted() -> None:
    sdp = chromium_offer(slots=8)
    assert len(sdp.encode()) < MAX_OFFER_BYTES / 2, "the limit leaves room for any real client"
    offer = check_offer(sdp, max_slots=8)
    assert [s.mid for s in offer.sections] == [str(n) for n in range(9)]
    assert offer.microphone is not None and offer.microphone.mid == "0"
    assert len(offer.slots) == 8
    assert all(s.opus_payload_type == 111 and s.audio_level for s in offer.sections)
    assert not any(s.stereo or s.dtx for s in offer.sections)
    # The TCP candidate goes (the server listens on UDP only); host, mDNS and srflx stay.
    assert len(candidate_lines(offer.sdp)) == 9 * 3 and offer.dropped_candidates == 9
    SessionDescription.parse(offer.sdp)


def test_gstreamer_style_opus_without_channels_is_taken() -> None:
    sdp = chromium_offer(slots=1).replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 OPUS/48000")
    offer = check_offer(sdp, max_slots=1)
    assert [s.opus_payload_type for s in offer.sections] == [111, 111]


def test_each_section_is_answered_with_the_opus_parameters_its_offer_asked_for() -> None:
    sdp = chromium_offer(slots=1).replace(
        "a=fmtp:111 minptime=10;useinbandfec=1", "a=fmtp:111 stereo=1;usedtx=1", 1
    )
    microphone, slot = check_offer(sdp, max_slots=1).sections
    assert opus_answer_parameters(microphone) == {"useinbandfec": 1, "stereo": 1, "usedtx": 1}
    assert opus_answer_parameters(slot) == {"useinbandfec": 1}


def test_an_offer_over_the_byte_limit_is_refused() -> None:
    # The offer: 60 KB, 680 candidate lines.
    sdp = chromium_offer(
        slots=3, candidates=bogus_candidates(170, suffix=" generation 0 network-id 1")
    )
    assert 50_000 < len(sdp) < 64 * 1024 and len(candidate_lines(sdp)) == 680
    with pytest.raises(OfferTooLarge) as refused:
        check_offer(sdp, max_slots=3)
    assert refused.value.code == "offer_too_large"
    assert str(MAX_OFFER_BYTES) in str(refused.value)


def test_only_the_best_candidates_of_each_section_are_kept() -> None:
    real = "a=candidate:real 1 udp 2130706431 127.0.0.1 40000 typ host"
    duplicate = "a=candidate:dup 1 udp 2130706430 127.0.0.1 40000 typ host"
    low, high = bogus_candidates(40), bogus_candidates(3, 2_000_000)  # high: low's first 3
    candidates = [*low, real, duplicate, *high]
    offer = check_offer(chromium_offer(slots=2, candidates=candidates), max_slots=2)
    kept = candidate_lines(offer.sdp)
    assert len(kept) == 3 * MAX_CANDIDATES_PER_SECTION
    # Per section the highest priorities, one per address (RFC 8445 §5.1.3), in offer order.
    best = [*low[34:], real, *high]
    assert kept == best * 3
    assert offer.dropped_candidates == 3 * (len(candidates) - MAX_CANDIDATES_PER_SECTION)


def test_reading_an_offer_at_the_limit_takes_little_time() -> None:
    filler = bogus_candidates(1000)
    candidates: list[str] = []
    while len(chromium_offer(slots=8, candidates=candidates + filler[:1])) <= MAX_OFFER_BYTES:
        candidates.append(filler.pop(0))
    sdp = chromium_offer(slots=8, candidates=candidates)
    # This thread's CPU time, the least of five: neither other processes of a loaded machine
    # nor a garbage collection of the whole test process (≈50 ms here) counts against it.
    elapsed = float("inf")
    for _ in range(5):
        started = time.thread_time()
        offer = check_offer(sdp, max_slots=8)
        elapsed = min(elapsed, time.thread_time() - started)
    assert len(candidate_lines(offer.sdp)) == 9 * MAX_CANDIDATES_PER_SECTION
    assert elapsed < 0.02, f"checking a {len(sdp)} byte offer took {elapsed * 1000:.1f} ms"


def _edit(sdp: str, old: str, new: str) -> str:
    assert old in sdp, old
    return sdp.replace(old, new)


BROKEN: dict[str, tuple[Callable[[str], str], type[SfuError], str]] = {
    "no fingerprint": (
        lambda s: without_lines(s, "a=fingerprint:"),
        InvalidOffer,
        "no a=fingerprint",
    ),
    "md5 fingerprint": (
        lambda s: _edit(s, "a=fingerprint:sha-256 ", "a=fingerprint:md5 "),
        InvalidOffer,
        "sha-256",
    ),
    "short fingerprint": (
        lambda s: _edit(s, ":1F\r\n", "\r\n"),
        InvalidOffer,
        "malformed a=fingerprint",
    ),
    "no setup": (lambda s: without_lines(s, "a=setup:"), InvalidOffer, "no a=setup"),
    "setup holdconn": (
        lambda s: s.replace("a=setup:actpass", "a=setup:holdconn"),
        InvalidOffer,
        "a=setup:holdconn",
    ),
    "bundle of unknown mids": (
        lambda s: _edit(s, "a=group:BUNDLE 0 1 2", "a=group:BUNDLE 7 1 2 x"),
        InvalidOffer,
        "BUNDLE names mids that no section has (7, x)",
    ),
    "two bundles": (
        lambda s: _edit(s, "a=group:BUNDLE 0 1 2", "a=group:BUNDLE 0 1\r\na=group:BUNDLE 2"),
        InvalidOffer,
        "more than one BUNDLE",
    ),
    "no ice-ufrag": (
        lambda s: without_lines(s, "a=ice-ufrag:"),
        InvalidOffer,
        "no ICE credentials",
    ),
    "no ice-pwd": (lambda s: without_lines(s, "a=ice-pwd:"), InvalidOffer, "no ICE credentials"),
    "short ice-pwd": (
        lambda s: s.replace("a=ice-pwd:Ndi6gMqBkZzKvEbN9jCdZ3LQ", "a=ice-pwd:short"),
        InvalidOffer,
        "malformed ICE credentials",
    ),
    "no rtcp-mux": (lambda s: without_lines(s, "a=rtcp-mux"), InvalidOffer, "a=rtcp-mux"),
    "sendrecv": (
        lambda s: s.replace("a=sendonly", "a=sendrecv"),
        InvalidOffer,
        "not sendrecv",
    ),
    "no direction": (
        lambda s: without_lines(s, "a=recvonly"),
        InvalidOffer,
        "or recvonly (a slot), not sendrecv",
    ),
    "two microphones": (
        lambda s: s.replace("a=recvonly", "a=sendonly", 1),
        InvalidOffer,
        "at most one sendonly",
    ),
    "no mid": (lambda s: without_lines(s, "a=mid:"), InvalidOffer, "no a=mid"),
    "a mid too long for a header extension": (
        lambda s: _edit(s, "a=group:BUNDLE 0 1 2", "a=group:BUNDLE 0 1 " + "2" * 300).replace(
            "a=mid:2", "a=mid:" + "2" * 300
        ),
        InvalidOffer,
        "not 1-32 token characters",
    ),
    "extmap id 300": (
        lambda s: s.replace("a=extmap:4 ", "a=extmap:300 "),
        InvalidOffer,
        "id is not 1-255",
    ),
    "one mid twice": (
        lambda s: _edit(s, "a=mid:1", "a=mid:0"),
        InvalidOffer,
        "share one a=mid",
    ),
    "data channel": (
        lambda s: (
            s
            + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
            + "a=mid:3\r\na=sctp-port:5000\r\n"
        ),
        InvalidOffer,
        "audio only: remove the offer's m=application section",
    ),
    "video": (
        lambda s: s.replace("m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=video 9 UDP/TLS/RTP/SAVPF 111"),
        InvalidOffer,
        "m=video",
    ),
    "no m= line": (
        lambda s: "\r\n".join(x for x in s.splitlines() if not x.startswith("m=")) + "\r\n",
        InvalidOffer,
        "no audio",
    ),
    "malformed m= line": (
        lambda s: s.replace("m=audio 9 UDP/TLS/RTP/SAVPF 111 63", "m=audio nine RTP 111", 1),
        InvalidOffer,
        "m= line 1 is malformed",
    ),
    "plain RTP": (
        lambda s: s.replace("UDP/TLS/RTP/SAVPF", "RTP/AVP"),
        InvalidOffer,
        "DTLS-SRTP",
    ),
    "bad c= line": (
        lambda s: s.replace("c=IN IP4 0.0.0.0", "c=IN IP4", 1),
        InvalidOffer,
        "malformed c= line",
    ),
    "fmtp without rtpmap": (
        lambda s: s.replace("a=rtcp-rsize", "a=rtcp-rsize\r\na=fmtp:99 x=1", 1),
        InvalidOffer,
        "not valid SDP",
    ),
    "no opus": (
        lambda s: s.replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 ISAC/16000"),
        OpusRequired,
        "does not offer Opus",
    ),
    "opus on a static payload type": (
        lambda s: s.replace("111", "3"),
        OpusRequired,
        "dynamic payload type",
    ),
    "too many slots": (
        lambda s: s.replace("a=sendonly", "a=recvonly"),
        TooManySlots,
        "allows 2 receive slots; the offer has 3",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_offers_are_refused_with_a_message_for_a_person(case: str) -> None:
    edit, refusal, says = BROKEN[case]
    sdp = edit(chromium_offer(slots=2))
    with pytest.raises(SfuError) as refused:
        check_offer(sdp, max_slots=2)
    assert type(refused.value) is refusal
    message = str(refused.value)
    assert says in message
    for python in ("NoneType", "Error", "Traceback", "object", "assert", "KeyError", "<"):
        assert python not in message


def test_extmap_attributes_are_left_out_of_what_aiortc_reads() -> None:
    attributed = "a=extmap:3/sendonly urn:example:ext some attributes"
    sdp = chromium_offer(slots=1).replace("a=rtcp-rsize", "a=rtcp-rsize\r\n" + attributed)
    offer = check_offer(sdp, max_slots=1)
    assert attributed not in offer.sdp and "a=extmap:3/sendonly urn:example:ext\r\n" in offer.sdp
    SessionDescription.parse(offer.sdp)


def test_unusable_candidate_lines_are_dropped_not_refused() -> None:
    junk = [
        "a=candidate:1 1 udp 2122260223 not-an-address 54400 typ host",
        "a=candidate:2 1 udp 2122260223 192.168.1.5 54400 typ",
        "a=candidate:3 2 udp 2122260223 192.168.1.5 54401 typ host",
        "a=candidate:4 1 udp 99999999999 192.168.1.5 54402 typ host",
        "a=candidate:5 1 udp 2122260223 192.168.1.5 70000 typ host",
        "a=candidate:6 1 udp 2122260223 192.168.1.5 54403 typ host raddr",
        "a=candidate:7 1 udp 2122260223 192.168.1.5 54404 typ host rport x",
    ]
    good = "a=candidate:8 1 UDP 2122260223 192.168.1.5 54405 typ host"
    offer = check_offer(chromium_offer(slots=1, candidates=[*junk, good]), max_slots=1)
    assert candidate_lines(offer.sdp) == [good, good]
    SessionDescription.parse(offer.sdp)


def peer_connections() -> int:
    return sum(isinstance(o, RTCPeerConnection) for o in gc.get_objects())


async def test_a_refused_offer_allocates_no_peer_connection(loopback_only: RtcConfig) -> None:
    """The checks run before the participant creates its peer connection (with its
    certificate, ICE gatherer and, once answered, its sockets)."""
    participant = Participant(
        "ses_refused", "usr_refused", SfuConfig(rtc=loopback_only), lambda *_: None, print
    )
    before = peer_connections()
    good = chromium_offer(slots=2)
    for case in ("data channel", "no fingerprint", "no setup", "bundle of unknown mids"):
        edit, refusal, _ = BROKEN[case]
        with pytest.raises(refusal):
            await participant.connect(edit(good), 2)
    with pytest.raises(OfferTooLarge):
        await participant.connect(chromium_offer(2, candidates=bogus_candidates(300)), 2)
    assert peer_connections() == before and not participant.negotiated
    await participant.close()


# --- through signaling, with real aiortc peers ------------------------------------------------


@contextlib.asynccontextmanager
async def loop_stalls() -> AsyncIterator[list[float]]:
    """The event loop's longest stall while the block runs, in seconds (one item, filled in
    at the end): a 5 ms ticker's largest gap beyond its period."""
    result: list[float] = []
    worst = 0.0
    done = False

    async def tick() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            worst = max(worst, now - last - 0.005)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.02)
    try:
        yield result
    finally:
        done = True
        await ticker
        result.append(worst)


async def test_broken_and_non_audio_offers_are_refused_then_a_good_one_is_answered(
    person: MakePerson, loopback_only: RtcConfig, sfu_clients: list[SfuClient]
) -> None:
    owner, visitor = await person("Owner"), await person("Visitor")
    room = await owner.create_room(media="sfu", slots=2)
    await enter(owner, room, loopback_only, sfu_clients, slots=2, frequency=500.0)
    socket = await visitor.socket()
    await socket.join(room)
    client = SfuClient(socket, loopback_only, slots=2)
    sfu_clients.append(client)
    good = await client.offer()
    # Another peer's offer with a data channel besides its audio.
    chatty = SfuClient(socket, loopback_only, slots=2)
    sfu_clients.append(chatty)
    chatty.pc.createDataChannel("chat")
    with_data_channel = await chatty.offer()
    assert "m=application" in with_data_channel
    refusals = {
        "audio only": with_data_channel,
        "no a=fingerprint": without_lines(good, "a=fingerprint:"),
        "no a=setup": without_lines(good, "a=setup:"),
        "names mids that no section has": good.replace("BUNDLE 0 1", "BUNDLE 5 0 1"),
        "at most one sendonly": good.replace("a=recvonly", "a=sendonly"),
        "no ICE credentials": without_lines(good, "a=ice-pwd:"),
    }
    for says, sdp in refusals.items():
        ack = await socket.call("sfu-join", {"roomId": room, "sdp": sdp})
        assert ack["ok"] is False and ack["error"]["code"] == "invalid_offer", (says, ack)
        assert says in ack["error"]["message"], ack
        assert "NoneType" not in ack["error"]["message"]
    await join_with(client, room, good)
    await client.wait_for_slot(0, 500.0)


async def test_an_oversized_offer_is_refused_and_one_at_the_limit_does_not_stall_forwarding(
    person: MakePerson, loopback_only: RtcConfig, sfu_clients: list[SfuClient]
) -> None:
    owner, visitor = await person("Owner"), await person("Visitor")
    room = await owner.create_room(media="sfu", slots=2)
    await enter(owner, room, loopback_only, sfu_clients, slots=2, frequency=500.0)
    socket = await visitor.socket()
    await socket.join(room)
    client = SfuClient(socket, loopback_only, slots=2)
    sfu_clients.append(client)
    offer = await client.offer()

    def padded(count: int) -> str:
        """The real offer with `count` more candidates in each section, of lower priority
        than its own, at addresses nobody answers on."""
        extra = bogus_candidates(count, suffix=" generation 0")
        return edit_sections(offer, lambda i, s: s[:1] + extra + s[1:])

    huge = padded(340)  # about the 60 KB with 680 candidates
    assert 50_000 < len(huge) < 64 * 1024 and len(candidate_lines(huge)) > 680
    ack = await socket.call("sfu-join", {"roomId": room, "sdp": huge})
    assert ack["ok"] is False and ack["error"]["code"] == "offer_too_large", ack

    count = 0
    while len(padded(count + 1).encode()) <= MAX_OFFER_BYTES:
        count += 1
    at_limit = padded(count)
    async with loop_stalls() as stall:
        await join_with(client, room, at_limit)
    assert stall[0] < 0.03, f"the event loop stalled {stall[0] * 1000:.0f} ms"
    await client.wait_for_slot(0, 500.0)
