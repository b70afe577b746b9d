"""When each clip frame was last sent, shared by every bot process of a run.

Speaker bots write, listener bots read: a float64 array of speakers × frames in POSIX shared
memory (`multiprocessing.shared_memory`), holding `time.monotonic()` seconds. On Linux that is
CLOCK_MONOTONIC, one clock for the whole system, so a time written by one process compares
with a time read in another. NaN marks a frame never sent. Writes are single aligned 8-byte
stores: a reader sees either the old or the new time, never a mix (x86-64, aarch64).
"""

from __future__ import annotations

import contextlib
import math
import mmap
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np
import numpy.typing as npt

_ITEM = np.dtype(np.float64)


class SendLog:
    """`sent_at(speaker, frame)`: monotonic seconds of the frame's latest send, NaN if never."""

    def __init__(
        self,
        name: str,
        buffer: mmap.mmap,
        speakers: int,
        frames: int,
        memory: shared_memory.SharedMemory | None = None,
    ) -> None:
        self.name = name  # the shared memory block's name, for `attach` in another process
        self.speakers = speakers
        self.frames = frames
        self._buffer = buffer
        self._memory = memory  # the creator's handle, which can unlink the block
        self._times: npt.NDArray[np.float64] | None = np.ndarray(
            (speakers, frames), dtype=_ITEM, buffer=buffer
        )

    @classmethod
    def create(cls, speakers: int, frames: int) -> SendLog:
        """A new log, every entry NaN. Raises ValueError for a non-positive size. The creator
        `unlink`s it when the run ends (a crashed run's block is freed by Python's resource
        tracker)."""
        if speakers < 1 or frames < 1:
            raise ValueError("a send log needs at least one speaker and one frame")
        memory = shared_memory.SharedMemory(create=True, size=speakers * frames * _ITEM.itemsize)
        log = cls(memory.name, memory._mmap, speakers, frames, memory)  # type: ignore[attr-defined]
        assert log._times is not None
        log._times.fill(math.nan)
        return log

    @classmethod
    def attach(cls, name: str, speakers: int, frames: int) -> SendLog:
        """The log another process created. Raises FileNotFoundError if it is gone, ValueError
        if it is smaller than speakers × frames."""
        # Mapped from /dev/shm (Linux's POSIX shared memory) rather than through SharedMemory:
        # Python 3.11 registers every attached block with the resource tracker, which the
        # processes of a run share, and which would then unlink it under its creator's feet.
        with Path("/dev/shm", name.lstrip("/")).open("r+b") as file:
            buffer = mmap.mmap(file.fileno(), 0)
        if len(buffer) < speakers * frames * _ITEM.itemsize:
            buffer.close()
            raise ValueError(f"send log {name} holds fewer than {speakers}×{frames} entries")
        return cls(name, buffer, speakers, frames)

    def record(self, speaker_index: int, frame_index: int, sent_at: float) -> None:
        """Note that the frame left at `sent_at` (time.monotonic()). IndexError if out of range."""
        assert self._times is not None, "closed"
        self._times[speaker_index, frame_index] = sent_at

    def sent_at(self, speaker_index: int, frame_index: int) -> float:
        """Monotonic seconds of the latest send of that frame; NaN if never (or out of range)."""
        times = self._times
        if times is None or not (
            0 <= speaker_index < self.speakers and 0 <= frame_index < self.frames
        ):
            return math.nan
        return float(times[speaker_index, frame_index])

    def close(self) -> None:
        """Detach this process (idempotent); the block lives on until `unlink`."""
        if self._times is not None:
            self._times = None  # the view must go before the buffer can be released
            if self._memory is not None:
                self._memory.close()
            else:
                self._buffer.close()

    def unlink(self) -> None:
        """Free the block for every process (the creator does this once, after the run)."""
        self.close()
        if self._memory is not None:
            with contextlib.suppress(FileNotFoundError):  # another process was first
                self._memory.unlink()
