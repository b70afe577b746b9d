"""The naive aiortc SFU, for comparison: decode the speaker once, re-encode per listener.

`python -m benchmarks.stock_relay` (port from `PORT`) serves `POST /offer` with JSON
`{sdp, type: "offer", role: "speaker" | "listener"}` and answers `{sdp, type: "answer"}`.
The speaker's remote audio track goes through `aiortc.contrib.media.MediaRelay`; every
listener's connection gets `pc.addTrack(relay.subscribe(track))`. That is aiortc's stock
path: a jitter buffer and decoder thread for the speaker, an Opus encoder per listener.

Loopback only: ICE gathers on 127.0.0.1 (`use_host_addresses`) with no STUN/TURN server.
Same event loop as the Gethory server (uvloop), so the comparison is loop for loop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator

import uvloop
from aiohttp import web
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

from benchmarks.bots import LOOPBACK, loopback_rtc

log = logging.getLogger("stock_relay")


class StockRelay:
    def __init__(self) -> None:
        self._rtc = loopback_rtc()
        self._relay = MediaRelay()
        self._source: MediaStreamTrack | None = None
        self._pcs: set[RTCPeerConnection] = set()

    async def offer(self, request: web.Request) -> web.Response:
        body = await request.json()
        role = body.get("role")
        if role not in ("speaker", "listener") or body.get("type") != "offer":
            raise web.HTTPBadRequest(text="expected {sdp, type: offer, role: speaker|listener}")
        if role == "listener" and self._source is None:
            raise web.HTTPConflict(text="no speaker yet")
        pc = RTCPeerConnection(self._rtc)
        self._pcs.add(pc)
        if role == "speaker":
            pc.on("track", self._on_speaker_track)
        await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "offer"))
        if role == "listener":
            assert self._source is not None
            pc.addTrack(self._relay.subscribe(self._source))
        await pc.setLocalDescription(await pc.createAnswer())
        return web.json_response({"sdp": pc.localDescription.sdp, "type": "answer"})

    def _on_speaker_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._source = track

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "peers": len(self._pcs)})

    async def lifetime(self, app: web.Application) -> AsyncIterator[None]:
        yield
        for pc in list(self._pcs):
            await pc.close()
        self._pcs.clear()


def create_app() -> web.Application:
    relay = StockRelay()
    app = web.Application()
    app.router.add_post("/offer", relay.offer)
    app.router.add_get("/health", relay.health)
    app.cleanup_ctx.append(relay.lifetime)
    return app


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    port = int(os.environ.get("PORT", "8100"))
    web.run_app(create_app(), host=LOOPBACK, port=port, loop=uvloop.new_event_loop(), print=None)


if __name__ == "__main__":
    main()
