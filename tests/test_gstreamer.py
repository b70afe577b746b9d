"""GStreamer 1.22 webrtcbin in sfu rooms: it publishes and listens like a browser does.

webrtcbin offers `a=setup:actpass` with an RSA certificate; aiortc as DTLS client (what the
server used to answer) offers only ECDSA suites, so it never connected. The peer runs under
the system Python (tests/gst_peer.py, PyGObject); this test does its signaling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from sfu.config import RtcConfig
from tests.people import Person
from tests.sfu_client import SfuClient
from tests.sockets import SocketClient
from tests.test_sfu import enter

MakePerson = Callable[[str], Awaitable[Person]]
SYSTEM_PYTHON = "/usr/bin/python3"
PEER = Path(__file__).with_name("gst_peer.py")
TOLERANCE_HZ = 15.0


def _gstreamer_missing() -> str | None:
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstWebRTC', '1.0');"
        "from gi.repository import Gst; Gst.init(None);"
        "assert Gst.ElementFactory.find('webrtcbin') and Gst.ElementFactory.find('nicesrc')"
    )
    try:
        subprocess.run([SYSTEM_PYTHON, "-c", probe], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        return f"GStreamer webrtcbin under {SYSTEM_PYTHON} is not installed: {error}"
    return None


@pytest.fixture(scope="module", autouse=True)
def gstreamer_installed() -> None:
    """A missing GStreamer fails rather than skips: `.ci/run` installs it, so a skip would
    only hide a broken install."""
    missing = _gstreamer_missing()
    if missing is not None:
        pytest.fail(f"{missing}; run `bash .ci/run` or install the packages it lists")


class GstPeer:
    """tests/gst_peer.py in its own process; its JSON-line events, one queue per kind."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.log: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, mode: str, frequency: float) -> GstPeer:
        process = await asyncio.create_subprocess_exec(
            SYSTEM_PYTHON, str(PEER), mode, str(frequency),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            event = json.loads(line)
            self.log.append(event)
            self.queue(event["event"]).put_nowait(event)

    def queue(self, kind: str) -> asyncio.Queue[dict[str, Any]]:
        return self.events.setdefault(kind, asyncio.Queue())

    async def next(self, kind: str, timeout: float = 15.0) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(self.queue(kind).get(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {kind!r} from GStreamer in {timeout} s: {self.log}") from None

    def answer(self, sdp: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"answer": sdp}).encode() + b"\n")

    async def wait_connected(self, timeout: float = 15.0) -> None:
        try:
            async with asyncio.timeout(timeout):
                while (await self.next("state", timeout))["connection"] != "connected":
                    pass
        except TimeoutError:
            raise AssertionError(f"GStreamer not connected in {timeout} s: {self.log}") from None

    async def wait_to_hear(self, frequency: float, timeout: float = 15.0) -> dict[str, Any]:
        """The first `heard` report within ±TOLERANCE_HZ of `frequency`."""
        heard: dict[str, Any] = {}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while True:
                    heard = await self.next("heard", timeout)
                    found = heard["frequency"]
                    if found is not None and abs(found - frequency) <= TOLERANCE_HZ:
                        return heard
        raise AssertionError(f"GStreamer never heard {frequency} Hz; last report {heard}")

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@pytest.fixture
async def gst_peers() -> AsyncIterator[list[GstPeer]]:
    peers: list[GstPeer] = []
    yield peers
    for peer in peers:
        await peer.close()


def setup_of(sdp: str) -> set[str]:
    return set(re.findall(r"^a=setup:(\w+)", sdp, re.MULTILINE))


async def gst_join(
    someone: Person,
    room: str,
    mode: str,
    frequency: float,
    peers: list[GstPeer],
    edit_offer: Callable[[str], str] = lambda sdp: sdp,
) -> tuple[GstPeer, str]:
    """GStreamer joins `room` as `someone`: its offer goes up, the server's answer comes back.
    Returns the peer and the answer."""
    peer = await GstPeer.start(mode, frequency)
    peers.append(peer)
    offer = (await peer.next("offer"))["sdp"]
    assert setup_of(offer) == {"actpass"}, offer
    assert "a=fingerprint:sha-256" in offer
    socket: SocketClient = await someone.socket()
    await socket.join(room)
    ack = await socket.call("sfu-join", {"roomId": room, "sdp": edit_offer(offer)})
    assert ack["ok"], ack
    peer.answer(ack["sdp"])
    return peer, str(ack["sdp"])


async def slot_of(listener: SfuClient, user_id: str) -> int:
    """The slot the server put `user_id` on, from the listener's `speakers` updates."""
    async with asyncio.timeout(10):
        while True:
            update = await listener.socket.next("speakers")
            if user_id in update["slots"]:
                return int(update["slots"].index(user_id))


async def test_gstreamer_publishes_a_tone_that_an_aiortc_listener_hears(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    gst_peers: list[GstPeer],
) -> None:
    owner, singer = await person("Owner"), await person("GstSinger")
    room = await owner.create_room(media="sfu")
    peer, answer = await gst_join(singer, room, "publish", 440.0, gst_peers)
    # The server is the DTLS server, so webrtcbin's RSA certificate never limits the suites.
    assert setup_of(answer) == {"passive"}, answer
    await peer.wait_connected()
    listener = await enter(owner, room, loopback_only, sfu_clients)
    await listener.wait_for_slot(await slot_of(listener, singer.user_id), 440.0, timeout=15)


async def test_gstreamer_listens_on_a_slot_and_hears_an_aiortc_speaker(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    gst_peers: list[GstPeer],
) -> None:
    speaker, listener = await person("Speaker"), await person("GstListener")
    room = await speaker.create_room(media="sfu")
    await enter(speaker, room, loopback_only, sfu_clients, frequency=523.0)
    peer, answer = await gst_join(listener, room, "listen", 523.0, gst_peers)
    assert setup_of(answer) == {"passive"}, answer
    await peer.wait_connected()
    heard = await peer.wait_to_hear(523.0)
    assert heard["packets"] > 0


async def test_gstreamer_offering_passive_makes_the_server_a_dtls_client_with_rsa_suites(
    person: MakePerson,
    loopback_only: RtcConfig,
    sfu_clients: list[SfuClient],
    gst_peers: list[GstPeer],
) -> None:
    """An offer's `setup:passive` is honoured: the server is the DTLS client and webrtcbin,
    the DTLS server, presents its RSA certificate, which needs ECDHE-RSA suites offered."""
    owner, singer = await person("Owner"), await person("GstPassive")
    room = await owner.create_room(media="sfu")
    peer, answer = await gst_join(
        singer,
        room,
        "publish",
        660.0,
        gst_peers,
        edit_offer=lambda sdp: sdp.replace("a=setup:actpass", "a=setup:passive"),
    )
    assert setup_of(answer) == {"active"}, answer
    await peer.wait_connected()
    listener = await enter(owner, room, loopback_only, sfu_clients)
    await listener.wait_for_slot(await slot_of(listener, singer.user_id), 660.0, timeout=15)
