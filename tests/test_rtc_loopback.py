"""Two aiortc peers talk over 127.0.0.1 only, with the aioice adaptations of sfu.aiortc_hooks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aioice.ice
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from sfu.aiortc_hooks import (
    PINNED_VERSIONS,
    active_announced_address,
    active_host_addresses,
    check_internals,
    installed_versions,
    use_announced_address,
    use_host_addresses,
)
from sfu.config import RtcConfig
from tests.rtc_audio import FrequencyProbe, ToneTrack, dominant_frequency

LOOPBACK = "127.0.0.1"
HEAR_TIMEOUT = 10.0


def candidates(sdp: str) -> list[tuple[str, str]]:
    """(address, type) of every `a=candidate` line."""
    found = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            found.append((fields[4], fields[fields.index("typ") + 1]))
    return found


class Peer:
    def __init__(self, config: RtcConfig, tone: float) -> None:
        self.pc = RTCPeerConnection(configuration=config.rtc_configuration())
        self.tone = ToneTrack(tone)
        self.probes: list[FrequencyProbe] = []
        self.connected = asyncio.Event()
        self.failed = asyncio.Event()
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self.probes.append(FrequencyProbe(track))

    def _on_state(self) -> None:
        if self.pc.connectionState == "connected":
            self.connected.set()
        elif self.pc.connectionState in ("failed", "closed"):
            self.failed.set()

    async def wait_connected(self, timeout: float) -> None:
        waiters = [
            asyncio.ensure_future(self.connected.wait()),
            asyncio.ensure_future(self.failed.wait()),
        ]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        assert self.connected.is_set(), f"connection state {self.pc.connectionState}"

    async def close(self) -> None:
        for probe in self.probes:
            await probe.stop()
        self.tone.stop()
        await self.pc.close()


async def connect(offerer: Peer, answerer: Peer) -> tuple[str, str]:
    """Offer/answer in-process (aiortc gathers fully, no trickle); returns both SDPs."""
    offerer.pc.addTrack(offerer.tone)
    await offerer.pc.setLocalDescription(await offerer.pc.createOffer())
    offer = offerer.pc.localDescription
    await answerer.pc.setRemoteDescription(RTCSessionDescription(offer.sdp, offer.type))
    # After the remote offer, so the answerer's track fills the offered transceiver.
    answerer.pc.addTrack(answerer.tone)
    await answerer.pc.setLocalDescription(await answerer.pc.createAnswer())
    answer = answerer.pc.localDescription
    await offerer.pc.setRemoteDescription(RTCSessionDescription(answer.sdp, answer.type))
    return offer.sdp, answer.sdp


@pytest.fixture
async def peers() -> AsyncIterator[list[Peer]]:
    created: list[Peer] = []
    yield created
    for peer in created:
        await peer.close()


def test_config_from_env() -> None:
    config = RtcConfig.from_env(
        {
            "RTC_HOST_ADDRESSES": " 127.0.0.1, ::1 ,",
            "ICE_SERVERS": "stun:127.0.0.1:3478,turn:127.0.0.1:3478",
            "RTC_ANNOUNCED_ADDRESS": "",
        }
    )
    assert config == RtcConfig(
        host_addresses=("127.0.0.1", "::1"),
        ice_servers=("stun:127.0.0.1:3478", "turn:127.0.0.1:3478"),
        announced_address=None,
    )
    assert RtcConfig.from_env({}) == RtcConfig()
    assert RtcConfig.from_env({"RTC_ANNOUNCED_ADDRESS": "203.0.113.7"}).announced_address == (
        "203.0.113.7"
    )
    assert [s.urls for s in config.rtc_configuration().iceServers or []] == list(config.ice_servers)
    # An explicit empty list: aiortc only falls back to Google's STUN when given None.
    assert RtcConfig().rtc_configuration().iceServers == []


def test_check_internals_on_pinned_versions() -> None:
    assert installed_versions() == PINNED_VERSIONS
    check_internals()


def test_check_internals_names_what_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    async def gather_candidates(self: aioice.ice.Connection) -> None:
        pass

    monkeypatch.setattr(aioice.ice.Connection, "gather_candidates", gather_candidates)
    with pytest.raises(RuntimeError, match=r"internals changed: .*get_host_addresses"):
        check_internals()


async def test_tone_track_frames_and_stop() -> None:
    tone = ToneTrack(440.0)
    first, second = await tone.recv(), await tone.recv()
    assert (first.sample_rate, first.samples, first.format.name, first.layout.name) == (
        48_000,
        960,
        "s16",
        "mono",
    )
    assert (first.pts, second.pts) == (0, 960)
    assert dominant_frequency(first.to_ndarray()[0] / 32768.0, 48_000) == pytest.approx(440, abs=15)
    tone.stop()
    assert tone.readyState == "ended"
    with pytest.raises(MediaStreamError):
        await tone.recv()


def test_host_address_hook_is_reversible() -> None:
    # A server started earlier in this process may have hooked gathering: start from stock,
    # and put back whatever was active.
    before = active_host_addresses()
    use_host_addresses([])
    try:
        _check_reversible()
    finally:
        use_host_addresses(before)


def _check_reversible() -> None:
    stock = aioice.ice.get_host_addresses
    assert active_host_addresses() == ()
    assert LOOPBACK not in stock(use_ipv4=True, use_ipv6=False)

    use_host_addresses([LOOPBACK, "::1"])
    hooked = aioice.ice.get_host_addresses
    assert hooked is not stock
    assert hooked(use_ipv4=True, use_ipv6=True) == [LOOPBACK, "::1"]
    assert hooked(use_ipv4=True, use_ipv6=False) == [LOOPBACK]
    use_host_addresses((LOOPBACK, "::1"))
    assert aioice.ice.get_host_addresses is hooked, "same addresses again must be a no-op"

    use_host_addresses([])
    assert aioice.ice.get_host_addresses is stock
    assert active_host_addresses() == ()
    use_host_addresses([])
    assert aioice.ice.get_host_addresses is stock

    with pytest.raises(ValueError):
        use_host_addresses(["localhost"])
    assert aioice.ice.get_host_addresses is stock


async def test_two_peers_hear_each_other_over_loopback(
    loopback_only: RtcConfig, peers: list[Peer]
) -> None:
    a, b = Peer(loopback_only, 440.0), Peer(loopback_only, 880.0)
    peers += [a, b]

    offer, answer = await connect(a, b)

    for sdp in (offer, answer):
        found = candidates(sdp)
        assert found, sdp
        assert {address for address, _ in found} == {LOOPBACK}, sdp
        assert {kind for _, kind in found} == {"host"}, sdp
        assert f"c=IN IP4 {LOOPBACK}" in sdp
    await asyncio.gather(a.wait_connected(HEAR_TIMEOUT), b.wait_connected(HEAR_TIMEOUT))
    assert len(a.probes) == 1 and len(b.probes) == 1
    await asyncio.gather(
        b.probes[0].wait_for_frequency(440.0, timeout=HEAR_TIMEOUT),
        a.probes[0].wait_for_frequency(880.0, timeout=HEAR_TIMEOUT),
    )
    assert a.probes[0].frames_received > 0 and b.probes[0].frames_received > 0
    # The probe must tell the tones apart, not just hear something.
    with pytest.raises(AssertionError, match=r"dominant frequency 4[34]\d"):
        await b.probes[0].wait_for_frequency(880.0, timeout=0.5)


async def test_announced_address_replaces_bound_address_in_sdp(
    loopback_only: RtcConfig, peers: list[Peer]
) -> None:
    # Gathering alone sends nothing, so a documentation address (TEST-NET-3) is safe here.
    use_announced_address("203.0.113.7")
    assert active_announced_address() == "203.0.113.7"
    peer = Peer(loopback_only, 440.0)
    peers.append(peer)
    peer.pc.addTrack(peer.tone)
    await peer.pc.setLocalDescription(await peer.pc.createOffer())
    sdp = peer.pc.localDescription.sdp
    assert {address for address, _ in candidates(sdp)} == {"203.0.113.7"}, sdp
    assert "c=IN IP4 203.0.113.7" in sdp

    # The bound address is still what aioice holds and what aiortc reports once unhooked.
    use_announced_address(None)
    assert active_announced_address() is None
    gatherer = peer.pc.getTransceivers()[0].sender.transport.transport.iceGatherer
    assert {c.ip for c in gatherer.getLocalCandidates()} == {LOOPBACK}
