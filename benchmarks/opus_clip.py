"""A speaker bot's voice: a tone encoded to Opus once with PyAV, then looped at no cost.

The signal is speech-like in what a server sees of it: talk spurts (1-3 s) of a tone with a
syllable-rate (4 Hz) envelope and a little noise, separated by silences (0.5-1.5 s). In a
silence the clip holds what Opus DTX puts on the wire in WebRTC: one small comfort-noise frame
every 400 ms and nothing between (libopus DTX; WebRTC never sends its 1-2 byte placeholders).
Each frame carries the RFC 6464 level a browser would send, computed from its PCM as RFC 6465
Appendix A does (-dBov, 0 loudest .. 127 silence) and the V flag (talk spurt or not).

Encoding (as aiortc's codecs/opus.py, but mono and at a voice bitrate): libopus through PyAV,
48 kHz, 20 ms frames, `application=voip`, 32 kbps VBR for speech; the comfort-noise frames
come from a second encoder at 6 kbps over -70 dBov noise (~10 bytes, as Opus DTX's are;
ffmpeg's libopus wrapper exposes no `dtx` switch, so the encoder's own DTX cannot be used).

Every frame of every speaker's clip is unique (the noise is seeded per speaker, the tones
differ), so a received payload names its speaker and frame: `ClipIndex`. Encoding is
deterministic (same libopus build, same seeded input), so every process of a run builds the
same clips for the same speaker indices.
"""

from __future__ import annotations

import fractions
import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import av
import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
DTX_INTERVAL_FRAMES = 20  # libopus DTX: one frame every 400 ms in a silence
SPEECH_BITRATE = 32_000
COMFORT_NOISE_BITRATE = 6_000
TONE_AMPLITUDE = 0.25  # of full scale: -15 dBov peak, about where browser AGC puts speech
SPEECH_NOISE_DBOV = -50.0  # makes every frame of a looped tone different
SILENCE_NOISE_DBOV = -70.0
TALK_SECONDS = (1.0, 3.0)
SILENCE_SECONDS = (0.5, 1.5)
IDLE_FRAMES = 10  # comfort-noise frames a clip without DTX silences keeps for idle speakers


def audio_level(pcm: npt.NDArray[np.int16]) -> int:
    """RFC 6464 level of a frame: -dBov of its RMS against full scale (RFC 6465 Appendix A:
    0 dBov = a full-scale square wave), rounded and clamped to 0..127; 127 for silence."""
    samples = pcm.astype(np.float64) / 32768.0
    rms = math.sqrt(float(np.mean(samples * samples))) if samples.size else 0.0
    if rms <= 0.0:
        return 127
    return min(127, max(0, round(-20.0 * math.log10(rms))))


@dataclass(eq=False)
class OpusClip:
    """Pre-encoded frames of one speaker, with their schedule within one loop of the clip.

    frames: Opus payloads, 20 ms each, 48 kHz mono; comfort-noise (DTX) frames included.
    levels: RFC 6464 level per frame, 0..127 (-dBov); 127 for DTX frames.
    voiced: RFC 6464 V flag per frame (True in talk spurts).
    markers: True on the first frame of each talk spurt (RTP marker bit, RFC 3551 §4.1).
    ticks: the 20 ms tick of each frame within one loop; -1 for frames outside the loop (the
        idle frames of a clip without silences).
    tick_count: the loop's length in 20 ms ticks.
    idle: indices of DTX frames, sent one per 400 ms by a speaker that is not talking.
    hz: the tone's frequency.
    """

    frames: list[bytes]
    levels: list[int]
    voiced: list[bool]
    markers: list[bool]
    ticks: list[int]
    tick_count: int
    idle: list[int]
    hz: float
    _index: dict[bytes, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {payload: n for n, payload in enumerate(self.frames)}
        if len(self._index) != len(self.frames):
            raise ValueError("the clip's frames are not unique")
        # The frame to send at each tick of the loop, -1 where nothing is sent (DTX).
        self.schedule = [-1] * self.tick_count
        for n, tick in enumerate(self.ticks):
            if tick >= 0:
                self.schedule[tick] = n

    @classmethod
    def tone(cls, hz: float, seconds: float = 5.0, *, dtx: bool = True, seed: int = 0) -> OpusClip:
        """`seconds` of a `hz` tone (rounded to 20 ms frames). dtx: talk spurts and DTX
        silences in a pattern drawn from `seed` (the clip starts with a spurt); without, one
        continuous spurt. Raises ValueError for a clip shorter than 1 s or a tone outside
        50 Hz..20 kHz."""
        if seconds < 1.0 or not 50.0 <= hz <= 20_000.0:
            raise ValueError("a clip needs at least 1 s and a tone of 50 Hz to 20 kHz")
        tick_count = round(seconds / FRAME_SECONDS)
        rng = np.random.default_rng(seed)
        talking = _talk_pattern(tick_count, rng) if dtx else np.ones(tick_count, dtype=bool)
        extra = 0 if dtx else IDLE_FRAMES
        speech, silence = _signals(hz, tick_count + extra, talking, rng)
        speech_frames = _encode(speech, SPEECH_BITRATE)
        noise_frames = _encode(silence, COMFORT_NOISE_BITRATE)
        return _assemble(hz, speech, speech_frames, noise_frames, talking, tick_count, extra)

    def index_of(self, payload: bytes) -> int | None:
        """The frame index of `payload`, None if it is not one of this clip's frames."""
        return self._index.get(payload)


def _talk_pattern(ticks: int, rng: np.random.Generator) -> npt.NDArray[np.bool_]:
    """Talk spurts of 1-3 s and silences of 0.5-1.5 s, starting with a spurt."""
    pattern = np.zeros(ticks, dtype=bool)
    tick, talking = 0, True
    while tick < ticks:
        low, high = TALK_SECONDS if talking else SILENCE_SECONDS
        length = max(1, round(rng.uniform(low, high) / FRAME_SECONDS))
        pattern[tick : tick + length] = talking
        tick += length
        talking = not talking
    return pattern


def _signals(
    hz: float, ticks: int, talking: npt.NDArray[np.bool_], rng: np.random.Generator
) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int16]]:
    """The PCM for the speech encoder (tone in spurts, faint noise elsewhere) and for the
    comfort-noise encoder (faint noise throughout), each `ticks` frames long."""
    samples = ticks * FRAME_SAMPLES
    t = np.arange(samples) / SAMPLE_RATE
    envelope = 0.7 + 0.3 * np.sin(2 * np.pi * 4.0 * t)  # syllables, ~4 a second
    on = np.ones(ticks, dtype=bool)
    on[: talking.size] = talking
    gate = np.repeat(on, FRAME_SAMPLES)
    tone = TONE_AMPLITUDE * envelope * np.sin(2 * np.pi * hz * t)
    speech_noise = rng.normal(0.0, 10 ** (SPEECH_NOISE_DBOV / 20), samples)
    silence_noise = rng.normal(0.0, 10 ** (SILENCE_NOISE_DBOV / 20), samples)
    speech = np.where(gate, tone + speech_noise, silence_noise)
    return _pcm(speech), _pcm(silence_noise)


def _pcm(signal: npt.NDArray[np.float64]) -> npt.NDArray[np.int16]:
    return np.clip(np.round(signal * 32767.0), -32768, 32767).astype(np.int16)


def _encode(pcm: npt.NDArray[np.int16], bitrate: int) -> list[bytes]:
    """One Opus payload per 20 ms of `pcm` (libopus keeps a frame of look-ahead: flushed)."""
    codec = av.CodecContext.create("libopus", "w")
    assert isinstance(codec, av.AudioCodecContext)
    codec.bit_rate = bitrate
    codec.format = "s16"
    codec.layout = "mono"
    codec.sample_rate = SAMPLE_RATE
    codec.time_base = fractions.Fraction(1, SAMPLE_RATE)
    codec.options = {"application": "voip", "frame_duration": "20", "vbr": "on"}
    payloads: list[bytes] = []
    for start in range(0, pcm.size, FRAME_SAMPLES):
        frame = av.AudioFrame.from_ndarray(
            pcm[start : start + FRAME_SAMPLES].reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        payloads += [bytes(packet) for packet in codec.encode(frame)]
    payloads += [bytes(packet) for packet in codec.encode(None)]
    return payloads[: pcm.size // FRAME_SAMPLES]


def _assemble(
    hz: float,
    speech: npt.NDArray[np.int16],
    speech_frames: Sequence[bytes],
    noise_frames: Sequence[bytes],
    talking: npt.NDArray[np.bool_],
    tick_count: int,
    extra: int,
) -> OpusClip:
    frames: list[bytes] = []
    levels: list[int] = []
    voiced: list[bool] = []
    markers: list[bool] = []
    ticks: list[int] = []
    idle: list[int] = []
    silent_for = 0
    for tick in range(tick_count):
        if talking[tick]:
            markers.append(tick == 0 or not talking[tick - 1])
            frames.append(speech_frames[tick])
            pcm = speech[tick * FRAME_SAMPLES : (tick + 1) * FRAME_SAMPLES]
            levels.append(audio_level(pcm))
            voiced.append(True)
            ticks.append(tick)
            silent_for = 0
            continue
        if silent_for % DTX_INTERVAL_FRAMES == 0:  # DTX: one frame every 400 ms
            idle.append(len(frames))
            frames.append(noise_frames[tick])
            levels.append(127)
            voiced.append(False)
            markers.append(False)
            ticks.append(tick)
        silent_for += 1
    for tick in range(tick_count, tick_count + extra):  # idle frames outside the loop
        idle.append(len(frames))
        frames.append(noise_frames[tick])
        levels.append(127)
        voiced.append(False)
        markers.append(False)
        ticks.append(-1)
    return OpusClip(frames, levels, voiced, markers, ticks, tick_count, idle, hz)


def speaker_hz(speaker_index: int) -> float:
    """Speaker n's tone: 300 Hz + 20 Hz × n for n < 135 (up to 2980 Hz), then the same ladder
    shifted by 10 Hz, and so on; any two of the first 270 differ by ≥ 10 Hz (an FFT over 1 s
    resolves 1 Hz)."""
    if speaker_index < 0:
        raise ValueError("speaker indices start at 0")
    rung, ladder = speaker_index % 135, speaker_index // 135
    return 300.0 + 20.0 * rung + (10.0 if ladder % 2 else 0.0) + 1.0 * (ladder // 2)


@functools.cache
def clip_for_speaker(speaker_index: int) -> OpusClip:
    """Speaker n's clip (5 s, DTX silences, tone `speaker_hz(n)`, pattern and noise seeded by
    n): built once per process, identical in every process."""
    return OpusClip.tone(speaker_hz(speaker_index), seed=1_000_003 + speaker_index)


class ClipIndex:
    """Which speaker's clip, and which frame of it, a payload is. Raises ValueError if two
    clips share a payload (then a payload would not name its speaker)."""

    def __init__(self, clips: Iterable[OpusClip]) -> None:
        self._where: dict[bytes, tuple[int, int]] = {}
        for speaker, clip in enumerate(clips):
            for frame, payload in enumerate(clip.frames):
                if self._where.setdefault(payload, (speaker, frame)) != (speaker, frame):
                    raise ValueError(f"speaker {speaker}'s frame {frame} is another's too")

    @classmethod
    def for_speakers(cls, count: int) -> ClipIndex:
        return cls(clip_for_speaker(n) for n in range(count))

    def lookup(self, payload: bytes) -> tuple[int, int] | None:
        """(speaker index, frame index) of `payload`, None if no clip has it."""
        return self._where.get(payload)
