"""benchmarks.bots `Bot` made fit for both servers: offerer (Gethory) or answerer (Janus).

The side-by-side run needs bots that can join a Gethory sfu room (the bot offers) and a
Janus VideoRoom subscription (Janus offers, the bot answers), and that report loss and
end-to-end delay the same way whichever server forwards. The old `Bot` only offers and only
counts packets; `LegacySpeaker` and `LegacyListener` add, without changing its media path:

- `answer(offer_sdp)`: a listener's receivers are created by the remote offer; each is hooked
  with `forward_received_rtp` (no jitter buffer, no decoder) before the answer is applied,
  which is when aiortc starts them.
- `connected()`: ICE+DTLS up (RuntimeError on failure, after CONNECT_SECONDS).
- Loss: per SSRC, the extended highest sequence number minus the first, plus one (RFC 3550
  A.3's "expected") against what arrived; the listener's `expected`, `lost`, `received`.
- End-to-end delay: both servers forward the speaker's Opus payload unchanged, so the
  speaker notes when each payload left (`PayloadClock`, wrapping its DTLS transport's
  `_send_rtp`: the plain RTP packet just before SRTP protect) and every `sample_every`-th
  packet a listener receives (decrypted by aiortc) is looked up there. Same process, same
  monotonic clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCConfiguration, RTCSessionDescription
from aiortc.rtp import RtpPacket

from benchmarks.bots import CONNECT_SECONDS, Bot
from sfu.aiortc_hooks import forward_received_rtp

CLOCK_FRAMES = 1000  # 20 s of payloads remembered: far more than any delay


class PayloadClock:
    """When each Opus payload left the speaker (time.monotonic()), the latest CLOCK_FRAMES."""

    def __init__(self) -> None:
        self._sent: OrderedDict[bytes, float] = OrderedDict()
        self.sent_packets = 0

    def record(self, rtp: bytes) -> None:
        """Note the payload of a plain RTP packet (RFC 3550 §5.1 header, CSRCs, extension)."""
        if len(rtp) < 12 or 72 <= rtp[1] & 0x7F <= 76:  # too short, or RTCP (PT 200-204)
            return
        offset = 12 + 4 * (rtp[0] & 0x0F)
        if rtp[0] & 0x10 and len(rtp) >= offset + 4:
            offset += 4 + 4 * int.from_bytes(rtp[offset + 2 : offset + 4], "big")
        self.sent_packets += 1
        self._sent[rtp[offset:]] = time.monotonic()
        if len(self._sent) > CLOCK_FRAMES:
            self._sent.popitem(last=False)

    def sent_at(self, payload: bytes) -> float | None:
        return self._sent.get(payload)


class LegacySpeaker(Bot):
    """The old tone speaker (aiortc encodes a 440 Hz tone in real time), recording each
    payload's send time in `clock`."""

    def __init__(self, name: str, rtc: RTCConfiguration, clock: PayloadClock) -> None:
        super().__init__(name, rtc, speaks=True, slots=0)
        self.clock = clock

    async def offer(self) -> str:
        sdp = await super().offer()
        transport: Any = self.pc.getTransceivers()[0].sender.transport
        send: Callable[[bytes], Awaitable[None]] = transport._send_rtp

        async def send_and_note(data: bytes) -> None:
            self.clock.record(data)
            await send(data)

        transport._send_rtp = send_and_note  # private: the plain RTP before SRTP protect
        return sdp

    async def answer(self, offer_sdp: str) -> str:
        raise NotImplementedError("a speaker always offers")

    async def connected(self) -> None:
        await _connected(self)

    @property
    def sent_packets(self) -> int:
        return self.clock.sent_packets


class LegacyListener(Bot):
    """A listener counting packets, sequence gaps and (sampled) delays.

    `slots`: recvonly transceivers when it offers (Gethory); 0 when it answers (Janus makes
    one per subscribed stream). `clock`: the speaker's, for delays; `sample_every`: one
    delay sample per this many received packets."""

    def __init__(
        self,
        name: str,
        rtc: RTCConfiguration,
        clock: PayloadClock,
        *,
        slots: int = 1,
        sample_every: int = 10,
    ) -> None:
        super().__init__(name, rtc, speaks=False, slots=slots)
        self.clock = clock
        self.sample_every = sample_every
        self.delays_ms: list[float] = []
        self.first_at: float | None = None  # time.monotonic() of the first packet
        self._first: dict[int, int] = {}  # SSRC → first sequence number
        self._highest: dict[int, int] = {}  # SSRC → extended highest sequence number

    def _count(self, packet: RtpPacket) -> None:
        if not self.received:
            self.first_at = time.monotonic()
        self.received += 1
        self._track_sequence(packet.ssrc, packet.sequence_number)
        if self.received % self.sample_every == 0:
            sent = self.clock.sent_at(packet.payload)
            if sent is not None:
                self.delays_ms.append((time.monotonic() - sent) * 1000)

    def _track_sequence(self, ssrc: int, sequence: int) -> None:
        highest = self._highest.get(ssrc)
        if highest is None:
            self._first[ssrc] = self._highest[ssrc] = sequence
            return
        # The extended number nearest the highest so far (RFC 3550 A.1, 16-bit wrap-around).
        extended = highest + ((sequence - highest + 0x8000) & 0xFFFF) - 0x8000
        if extended > highest:
            self._highest[ssrc] = extended

    @property
    def expected(self) -> int:
        return sum(self._highest[s] - self._first[s] + 1 for s in self._highest)

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.received)

    async def answer(self, offer_sdp: str) -> str:
        """Apply Janus's offer, hook the receivers it created, and return the answer."""
        await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        for transceiver in self.pc.getTransceivers():
            forward_received_rtp(transceiver.receiver, self._count)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def connected(self) -> None:
        await _connected(self)


async def _connected(bot: Bot) -> None:
    """Wait until the bot's connection is up; RuntimeError if it failed or took too long."""
    deadline = time.monotonic() + CONNECT_SECONDS
    while True:
        state = bot.pc.connectionState
        if state == "connected":
            return
        if state in ("failed", "closed"):
            raise RuntimeError(f"{bot.name}: media connection {state}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{bot.name}: not connected within {CONNECT_SECONDS:g} s")
        await asyncio.sleep(0.02)
