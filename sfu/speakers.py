"""Who is speaking, and who gets a listener's receive slots: pure, synchronous logic.

Loudness comes from the RFC 6464 audio-level header extension (level 0..127 = -dBov, so a lower
number is louder); nothing is decoded. Inside this module a level becomes a score in dBov
(`-level`: 0.0 loudest, -127.0 silence) so that "louder" is always "greater".

A publisher whose packets carry no audio level (the extension not negotiated: GStreamer, Pion,
aiortc and munged offers may leave it out) is judged by the size of its Opus payloads instead
(`SpeakerDetector.on_opus_size`), without decoding them: a payload counts as activity, at the
nominal `ACTIVITY_DBOV`, only when it is clearly larger than that publisher's own noise floor.
- The floor is the publisher's smallest recent payload: it drops at once to any smaller
  payload and otherwise rises slowly (`FLOOR_RISE_PER_SECOND`, about 5 % a second), so it
  follows a room that got noisier within about ten seconds, while the short pauses of speech
  keep pulling it back to the noise.
- Activity is a payload above `ACTIVITY_SIZE_RATIO` × the floor and above
  `SILENT_OPUS_BYTES`. With DTX (RFC 6716 §2.1.9, RFC 7587 §3.1.3) silence is a 1-2 byte
  frame about every 400 ms, so the floor is tiny and every voice frame (15 bytes and more
  even at 6 kbit/s) counts. Without DTX in VBR (GStreamer's opusenc default), a quiet
  room's noise is coded near the target bitrate (~160 bytes per 20 ms at 64 kbit/s) and
  speech well above it (~250 bytes and more): the floor sits at the noise, and only speech
  counts. In CBR every payload has the same size: it says nothing, so such a publisher is
  never active (and never takes a scarce slot; spare slots still carry it, sfu.room).
The timing rules below then do the rest: DTX's one packet per 400 ms never makes a burst of
`min_speech_seconds` (gaps longer than `speech_gap_seconds` restart it), while speech's 50
packets a second do within 0.2 s, and once the packets shrink to the floor or stop, the
publisher stops speaking and loses its rank after `hold_seconds`. The size does not measure
loudness, so when ranks are scarce an unmeasured publisher ranks below every measured voice
that is speaking: a measured speaker always displaces an unmeasured one, never the reverse,
and unmeasured publishers compete among themselves as equals (the first to rank holds).

`SpeakerDetector.on_level` (or `on_opus_size`) runs once per packet and stays O(1); `ranking`
applies the hysteresis (in the spirit of Jitsi's dominant speaker identification /
mediasoup's ActiveSpeakerObserver) a few times a second; `assign_slots` then maps each
listener's wanted speakers onto its slots without moving anyone who stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import exp, inf

SILENCE_DBOV = -127.0
# Opus payloads this small are DTX or silence frames, never coded voice (module docstring).
SILENT_OPUS_BYTES = 8
# A payload this many times its publisher's noise floor is activity: VBR speech is ~1.5× and
# more the size of VBR noise, which itself wobbles by a few percent around the floor.
ACTIVITY_SIZE_RATIO = 1.3
# How fast the noise floor rises while no smaller payload pulls it down: ~5 % a second, so a
# floor of noise coded in 160 bytes reaches a speech-sized 208 only after ~5 s of speech
# without a single pause, while a room that got noisier is followed within seconds.
FLOOR_RISE_PER_SECOND = 0.05
# The level an unmeasured but active publisher is taken to have: above the default speaking
# threshold (-60), so activity counts as speech (rings, ranks). Ranking never compares it with
# a measured voice: unmeasured publishers rank below every measured one.
ACTIVITY_DBOV = -50.0
_ACTIVITY_LEVEL = int(-ACTIVITY_DBOV)
_SILENT_LEVEL = int(-SILENCE_DBOV)
# An Opus packet carries at most 60 ms of audio in WebRTC, so a loud packet after a gap (DTX,
# loss) weighs no more than that in the long-term voice level.
_MAX_FRAME_SECONDS = 0.06


@dataclass(frozen=True)
class SpeakerConfig:
    # Fast EMA time constant of the per-packet level (~5 packets at 50/s): filters single-packet
    # clicks, yet reacts within ~0.1 s so the UI's speaking ring feels immediate.
    smoothing_seconds: float = 0.1
    # Slow EMA over speech packets only: a speaker's typical voice level, used to order and to
    # displace speakers. Pauses do not drag it down, so holding a rank through a pause is honest.
    voice_smoothing_seconds: float = 0.5
    # -60 dBov: browser capture (noise suppression + AGC on) puts speech at about -20..-45 dBov
    # and a quiet room at -70 or below; -60 sits between with room for soft voices.
    speaking_threshold_dbov: float = -60.0
    # Gaps between words and syllables are shorter than this; they keep one utterance (and the
    # speaking ring) together instead of flickering.
    speech_gap_seconds: float = 0.3
    # A cough, a click or a "hm" is shorter than this; real speech gets a slot ~0.2 s late,
    # which Opus forwarding makes up for (only the first syllable is lost).
    min_speech_seconds: float = 0.2
    # A sentence-level pause (breathing, thinking) is under ~1.5 s; past that the slot is freed.
    hold_seconds: float = 1.5
    # 6 dB is twice the amplitude: clearly louder to a listener, and well above the few dB
    # by which two comparable voices wobble, so ranks do not flap between them.
    switch_margin_db: float = 6.0

    def __post_init__(self) -> None:
        for name in ("smoothing_seconds", "voice_smoothing_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("speech_gap_seconds", "min_speech_seconds", "hold_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.switch_margin_db < 0:
            raise ValueError("switch_margin_db must not be negative")
        if not SILENCE_DBOV <= self.speaking_threshold_dbov <= 0:
            raise ValueError("speaking_threshold_dbov must be within -127..0")


class _Publisher:
    __slots__ = ("burst_start", "floor", "last_loud", "last_packet", "level", "measured", "voice")

    def __init__(self, threshold: float) -> None:
        # A voice never heard is assumed barely audible: it must prove itself to win a rank.
        self.voice = threshold
        # Whether its last packet carried an audio level; False: judged by payload size.
        self.measured = True
        self.reset()

    def reset(self) -> None:
        self.level = SILENCE_DBOV
        self.last_packet = -inf
        self.last_loud = -inf
        self.burst_start = -inf
        self.floor = inf  # the smallest recent payload, in bytes (module docstring)


class SpeakerDetector:
    """Tracks every publisher of a room; keeps a stable, ordered set of at most `max_active`."""

    def __init__(self, max_active: int, config: SpeakerConfig | None = None) -> None:
        if max_active < 1:
            raise ValueError("max_active must be at least 1")
        self.max_active = max_active
        self.config = config or SpeakerConfig()
        self._publishers: dict[str, _Publisher] = {}
        self._active: list[str] = []
        # Precomputed so that the packet path only multiplies.
        self._inv_smoothing = 1.0 / self.config.smoothing_seconds
        self._inv_voice = 1.0 / self.config.voice_smoothing_seconds
        self._threshold = self.config.speaking_threshold_dbov
        self._gap = self.config.speech_gap_seconds

    def add(self, publisher_id: str) -> None:
        """Start tracking a publisher; adding one already tracked keeps its state."""
        if publisher_id not in self._publishers:
            self._publishers[publisher_id] = _Publisher(self._threshold)

    def remove(self, publisher_id: str) -> None:
        """Forget a publisher; its rank is freed for the next `ranking` call."""
        self._publishers.pop(publisher_id, None)
        self._drop(publisher_id)

    def silence(self, publisher_id: str) -> None:
        """Forget what was heard of a publisher and free its rank at once (it was muted: the
        room feeds no levels of a muted publisher, so it then stays silent). Whatever it says
        next must again last min_speech_seconds before it ranks."""
        publisher = self._publishers.get(publisher_id)
        if publisher is not None:
            publisher.reset()
            self._drop(publisher_id)

    def on_level(self, publisher_id: str, level: int, now: float) -> None:
        """Account one packet's audio level (0 loudest .. 127 silence) received at `now`."""
        p = self._publishers.get(publisher_id)
        if p is None:
            return
        p.measured = True
        self._account(p, level, now)

    def on_opus_size(self, publisher_id: str, payload_bytes: int, now: float) -> None:
        """Account one Opus packet without an audio level, by its payload size (module
        docstring): activity at `ACTIVITY_DBOV` if clearly above the publisher's noise
        floor, silence otherwise."""
        p = self._publishers.get(publisher_id)
        if p is None:
            return
        p.measured = False
        floor = p.floor
        if payload_bytes < floor:
            floor = payload_bytes
        else:
            dt = now - p.last_packet
            if dt > 0.0:
                floor += floor * FLOOR_RISE_PER_SECOND * (dt if dt < 1.0 else 1.0)
                if floor > payload_bytes:
                    floor = payload_bytes
        p.floor = floor
        active = payload_bytes > SILENT_OPUS_BYTES and payload_bytes > floor * ACTIVITY_SIZE_RATIO
        self._account(p, _ACTIVITY_LEVEL if active else _SILENT_LEVEL, now)

    def _account(self, p: _Publisher, level: int, now: float) -> None:
        score = -float(level) if 0 <= level <= 127 else SILENCE_DBOV
        dt = now - p.last_packet
        if dt < 0.0:  # out of order in time: nothing sensible to learn from it
            return
        p.last_packet = now
        # Weighting by elapsed time rather than per packet keeps DTX (no packets in silence)
        # and packet loss from freezing the level.
        p.level += (score - p.level) * (1.0 - exp(-dt * self._inv_smoothing))
        threshold = self._threshold
        if score >= threshold:
            frame = dt if dt < _MAX_FRAME_SECONDS else _MAX_FRAME_SECONDS
            p.voice += (score - p.voice) * (1.0 - exp(-frame * self._inv_voice))
        if p.level >= threshold:
            if now - p.last_loud > self._gap:
                p.burst_start = now
            p.last_loud = now

    def speaking(self, now: float) -> frozenset[str]:
        """Publishers whose smoothed level was above the threshold within the last gap."""
        gap = self._gap
        return frozenset(pid for pid, p in self._publishers.items() if now - p.last_loud <= gap)

    def by_recency(self) -> tuple[str, ...]:
        """Every publisher, the most recently loud first (never heard or silenced: last)."""
        return tuple(sorted(self._publishers, key=lambda pid: -self._publishers[pid].last_loud))

    def ranking(self, now: float) -> tuple[str, ...]:
        """The active speakers, loudest first, after applying joins, holds and displacements."""
        cfg = self.config
        publishers = self._publishers
        self._active = [
            pid for pid in self._active if now - publishers[pid].last_loud <= cfg.hold_seconds
        ]
        active = self._active
        candidates = sorted(
            (
                pid
                for pid, p in publishers.items()
                if pid not in active
                and now - p.last_loud <= cfg.speech_gap_seconds
                and p.last_loud - p.burst_start >= cfg.min_speech_seconds
            ),
            key=lambda pid: _order(publishers[pid]),
            reverse=True,
        )
        margin = cfg.switch_margin_db
        for pid in candidates:
            if len(active) < self.max_active:
                active.append(pid)
                continue
            quietest = min(range(len(active)), key=lambda i: _order(publishers[active[i]]))
            if not _outranks(publishers[pid], publishers[active[quietest]], margin):
                break  # candidates are loudest first: nobody after this one wins either
            active[quietest] = pid  # takes the displaced speaker's place, then moves up if due
        # Insertion sort that only swaps neighbours clearly apart: comparable voices keep their
        # order. Every swap removes one strict inversion, so this terminates.
        swapped = True
        while swapped:
            swapped = False
            for i in range(len(active) - 1):
                if _outranks(publishers[active[i + 1]], publishers[active[i]], margin):
                    active[i], active[i + 1] = active[i + 1], active[i]
                    swapped = True
        return tuple(active)

    def _drop(self, publisher_id: str) -> None:
        if publisher_id in self._active:
            self._active.remove(publisher_id)


def _order(p: _Publisher) -> tuple[bool, float]:
    """Loudest last: every measured voice above every unmeasured publisher."""
    return (p.measured, p.voice)


def _outranks(a: _Publisher, b: _Publisher, margin: float) -> bool:
    """Whether `a` deserves a scarce rank over `b`: a measured voice over an unmeasured
    publisher always (its size says nothing of loudness), an unmeasured one over a measured
    one never, and otherwise by `margin` dB louder."""
    if a.measured != b.measured:
        return a.measured
    return a.voice >= b.voice + margin


def listener_wanted(ranking: Sequence[str], listener_id: str, slots: int) -> tuple[str, ...]:
    """The speakers one listener should hear: the ranking without themselves, first `slots`."""
    if slots < 0:
        raise ValueError("slots must not be negative")
    return tuple(pid for pid in ranking if pid != listener_id)[:slots]


def assign_slots(previous: Sequence[str | None], wanted: Sequence[str]) -> tuple[str | None, ...]:
    """Map `wanted` onto len(previous) slots, moving nobody who stays wanted.

    A speaker changing slots would make the browser switch streams mid-word, so stayers keep
    their index; newcomers fill freed slots in index order, loudest newcomer first.
    """
    still_wanted = set(wanted)
    slots: list[str | None] = []
    placed: set[str] = set()
    for pid in previous:
        if pid is not None and pid in still_wanted and pid not in placed:
            slots.append(pid)
            placed.add(pid)
        else:
            slots.append(None)
    newcomers = (pid for pid in dict.fromkeys(wanted) if pid not in placed)
    for index, pid in enumerate(slots):
        if pid is None:
            newcomer = next(newcomers, None)
            if newcomer is None:
                break
            slots[index] = newcomer
    return tuple(slots)
