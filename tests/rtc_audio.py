"""Audio test helpers: a real-time sine source and a probe that hears which tone arrives."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time

import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

SAMPLE_RATE = 48_000
PTIME = 0.020
FRAME_SAMPLES = int(SAMPLE_RATE * PTIME)

Samples = npt.NDArray[np.float64]


class ToneTrack(MediaStreamTrack):
    """20 ms frames of a 48 kHz mono s16 sine, paced in real time like aiortc's tracks."""

    kind = "audio"

    def __init__(self, frequency: float, amplitude: float = 0.5) -> None:
        super().__init__()
        if not 0.0 < amplitude <= 1.0:
            raise ValueError("amplitude must be in (0, 1]")
        self.frequency = frequency
        self.amplitude = amplitude
        self._start: float | None = None
        self._sample_count = 0
        self._time_base = fractions.Fraction(1, SAMPLE_RATE)
        self.frames_sent = 0
        self._sent = asyncio.Condition()

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._sample_count += FRAME_SAMPLES
            # Pacing media, not synchronisation: a frame is due once its samples have played.
            due = self._start + self._sample_count / SAMPLE_RATE
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if self.readyState != "live":
                raise MediaStreamError

        # A sample counter as phase keeps the sine continuous across frames.
        n = np.arange(self._sample_count, self._sample_count + FRAME_SAMPLES)
        wave = self.amplitude * np.sin(2 * np.pi * self.frequency * n / SAMPLE_RATE)
        pcm = np.round(wave * 32767).astype(np.int16).reshape(1, -1)
        frame = AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._sample_count
        frame.time_base = self._time_base
        self.frames_sent += 1
        async with self._sent:
            self._sent.notify_all()
        return frame

    async def wait_frames(self, count: int, timeout: float = 10.0) -> None:
        """Until `count` frames in all have been handed to the sender."""
        async with asyncio.timeout(timeout), self._sent:
            await self._sent.wait_for(lambda: self.frames_sent >= count)


def _mono(frame: AudioFrame) -> Samples:
    data = frame.to_ndarray().astype(np.float64)
    channels = len(frame.layout.channels)
    # Planar frames hold one row per channel; packed ones interleave channels in one row.
    mono: Samples = (
        data.mean(axis=0) if frame.format.is_planar else data.reshape(-1, channels).mean(axis=1)
    )
    if frame.format.name.startswith("s16"):
        mono /= 32768.0
    elif frame.format.name.startswith("s32"):
        mono /= 2147483648.0
    return mono


def dominant_frequency(samples: Samples, sample_rate: int) -> float | None:
    """Frequency of the strongest spectral peak (Hann window), or None for silence."""
    if samples.size < 2 or float(np.max(np.abs(samples))) < 1e-4:
        return None
    windowed = (samples - samples.mean()) * np.hanning(samples.size)
    spectrum = np.abs(np.fft.rfft(windowed))
    spectrum[0] = 0.0
    peak = int(np.argmax(spectrum))
    # Parabolic interpolation between neighbouring bins refines short windows.
    offset = 0.0
    if 0 < peak < spectrum.size - 1:
        left, centre, right = spectrum[peak - 1], spectrum[peak], spectrum[peak + 1]
        denominator = left - 2 * centre + right
        if denominator != 0:
            offset = 0.5 * (left - right) / denominator
    return float((peak + offset) * sample_rate / samples.size)


class FrequencyProbe:
    """Reads a remote audio track and keeps its last ~1 s of decoded samples (mono).

    Start it from inside the event loop (e.g. in a pc.on("track") handler); `stop()` ends it.
    """

    MIN_ANALYSIS_SECONDS = 0.1  # seconds: 10 Hz bins, finer than the ±15 Hz tolerance

    def __init__(self, track: MediaStreamTrack, window: float = 1.0) -> None:
        if track.kind != "audio":
            raise ValueError(f"FrequencyProbe needs an audio track, not {track.kind!r}")
        self.track = track
        self.window = window
        self.frames_received = 0
        self.sample_rate = SAMPLE_RATE
        self.ended = False
        self._samples: Samples = np.zeros(0)
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._run(), name=f"FrequencyProbe({track.id})")

    async def _run(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                if not isinstance(frame, AudioFrame):
                    continue
                if frame.sample_rate != self.sample_rate:
                    self.sample_rate = frame.sample_rate
                    self._samples = np.zeros(0)
                keep = int(self.window * self.sample_rate)
                self._samples = np.concatenate((self._samples, _mono(frame)))[-keep:]
                self.frames_received += 1
                async with self._changed:
                    self._changed.notify_all()
        except MediaStreamError:
            pass
        finally:
            self.ended = True
            # Wake waiters so they fail now rather than at their timeout.
            async with self._changed:
                self._changed.notify_all()

    def dominant_frequency(self) -> float | None:
        if self._samples.size < self.MIN_ANALYSIS_SECONDS * self.sample_rate:
            return None
        return dominant_frequency(self._samples, self.sample_rate)

    def _hears(self, frequency: float, tolerance: float) -> bool:
        observed = self.dominant_frequency()
        return observed is not None and abs(observed - frequency) <= tolerance

    async def wait_for_frequency(
        self, freq: float, timeout: float, tolerance: float = 15.0
    ) -> None:
        """Return once the recent window's dominant frequency is within ±tolerance of freq."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: self.ended or self._hears(freq, tolerance))
        except TimeoutError:
            pass
        if not self._hears(freq, tolerance):
            raise AssertionError(
                f"expected {freq} Hz ±{tolerance} Hz within {timeout} s; dominant frequency "
                f"{self.dominant_frequency()} Hz after {self.frames_received} frames"
                + (" (track ended)" if self.ended else "")
            )

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
