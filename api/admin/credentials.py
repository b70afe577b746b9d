"""Where a command's secret output goes: a file only its owner can read, or stdout."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from api.admin.errors import AdminError


class CredentialsFile:
    """A JSON document holding passwords, written to `path` with mode 0600 (or to stdout when
    `path` is None).

    `reserve()` creates the file's temporary sibling (mkstemp: mode 0600 from the start, never
    readable by others even for a moment) before any account changes, so a path that cannot be
    written fails the command before it changed anything; `write()` fills it and renames it
    over `path` (atomic: a reader sees the old file or the whole new one).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._pending: Path | None = None
        self._handle: TextIO | None = None

    def reserve(self) -> None:
        if self.path is None:
            return
        if self.path.is_dir():
            raise AdminError(f"--out {self.path}: is a directory")
        # The file is renamed over `path`: over a device or a FIFO (`--out /dev/stdout`, run as
        # root) that would replace the device itself.
        if self.path.exists() and not self.path.is_file():
            raise AdminError(
                f"--out {self.path}: not a regular file (without --out the credentials go to"
                " stdout)"
            )
        try:
            fd, name = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
            )
        except OSError as error:
            raise AdminError(f"--out {self.path}: {error.strerror}") from None
        self._pending = Path(name)
        self._handle = os.fdopen(fd, "w", encoding="utf-8")

    def write(self, document: dict[str, Any]) -> None:
        text = json.dumps(document, indent=2) + "\n"
        if self.path is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        assert self._handle is not None and self._pending is not None, "reserve() first"
        try:
            with self._handle:
                self._handle.write(text)
                self._handle.flush()
                os.fsync(self._handle.fileno())
            os.replace(self._pending, self.path)
        except OSError as error:
            self.discard()
            raise AdminError(f"--out {self.path}: {error.strerror}") from None
        self._handle = self._pending = None

    def discard(self) -> None:
        """Remove the reserved file (the command failed before writing)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()
        pending, self._pending = self._pending, None
        if pending is not None:
            with contextlib.suppress(FileNotFoundError):
                pending.unlink()
