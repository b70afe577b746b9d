"""200 join/leave cycles through the SFU leave threads, descriptors and objects at baseline."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
from collections import Counter

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import InvalidStateError

from sfu.config import RtcConfig, SfuConfig
from sfu.participant import Participant
from sfu.room_manager import RoomManager
from tests.room_fakes import NoListener
from tests.rtc_audio import ToneTrack

LAZY_SLACK = 2
TRACKED = (
    "RTCPeerConnection",
    "RTCRtpReceiver",
    "RTCRtpSender",
    "RTCDtlsTransport",
    "Participant",
    "Slot",
)


def census(caplog: pytest.LogCaptureFixture) -> tuple[int, int, Counter[str]]:
    # aiortc's connect task fails ("RTCIceTransport is closed") when a connection closes while
    # it is still setting up, and asyncio logs that when the task is collected. The captured
    # records' tracebacks would keep the objects alive: collect, check and drop them, collect.
    gc.collect()
    unexpected = [
        r for r in caplog.records if r.levelno >= logging.ERROR and not _closed_mid_setup(r)
    ]
    assert unexpected == [], [r.getMessage() for r in unexpected]
    caplog.clear()
    gc.collect()
    objects = Counter(type(o).__name__ for o in gc.get_objects() if type(o).__name__ in TRACKED)
    return threading.active_count(), len(os.listdir("/proc/self/fd")), objects


async def one_cycle(manager: RoomManager, rtc: RtcConfig, n: int) -> None:
    client = RTCPeerConnection(rtc.rtc_configuration())
    connected = asyncio.Event()

    @client.on("connectionstatechange")
    def on_state() -> None:
        if client.connectionState == "connected":
            connected.set()

    client.addTransceiver(ToneTrack(440.0), direction="sendonly")
    client.addTransceiver("audio", direction="recvonly")
    await client.setLocalDescription(await client.createOffer())
    answer = await manager.join(
        "rm_leakcheck", 3, f"leakcheck_{n}", "usr_leakcheck", client.localDescription.sdp
    )
    await client.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    await asyncio.wait_for(connected.wait(), 10)
    manager.leave("rm_leakcheck", f"leakcheck_{n}")
    await manager.closed()
    await client.close()


def _closed_mid_setup(record: logging.LogRecord) -> bool:
    error = record.exc_info[1] if record.exc_info else None
    return isinstance(error, InvalidStateError) and "closed" in str(error)


async def test_join_leave_cycles_leave_nothing_behind(
    loopback_only: RtcConfig, caplog: pytest.LogCaptureFixture
) -> None:
    manager = RoomManager(SfuConfig(rtc=loopback_only), NoListener())
    for n in range(5):  # warm up: executors, caches and lazy imports settle first
        await one_cycle(manager, loopback_only, n)
    threads, fds, objects = census(caplog)

    for n in range(200):
        await one_cycle(manager, loopback_only, 1000 + n)

    after_threads, after_fds, after_objects = census(caplog)
    # Objects left over from earlier tests may be collected meanwhile: nothing may grow, and
    # none of this test's participants may survive. Threads and descriptors get a slack of
    # two: a pool that lives the whole session (asyncio's default executor, pymongo's monitor
    # of the session's database) may add a worker or a socket once while this runs; a leak
    # of one per cycle would show 200.
    assert after_threads <= threads + LAZY_SLACK, [t.name for t in threading.enumerate()]
    assert after_fds <= fds + LAZY_SLACK, os.listdir("/proc/self/fd")
    grown = {kind: after_objects[kind] - objects[kind] for kind in TRACKED}
    assert all(growth <= 0 for growth in grown.values()), grown
    assert manager.rooms == {} and manager.participant_count() == 0
    ours = [o for o in gc.get_objects() if isinstance(o, Participant)]
    assert not [o.id for o in ours if o.id.startswith("leakcheck_")]
