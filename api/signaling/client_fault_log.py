"""The logger handed to python-socketio and python-engineio: client faults cost one short line.

Both libraries log a full traceback (≈2 KB) for every frame they cannot parse, at ERROR, so an
unauthenticated client could write megabytes of log per second. Whatever they report here, a
malformed frame or a failure they caught, is written as one line without the traceback, and
at most `LINES_PER_WINDOW` lines per `WINDOW_SECONDS` for all the loggers sharing one
`LineBudget`; the number left out is written with the next line that gets through. What the
client chose (a namespace, an event name) is escaped by `api.log_text.printable`. Our own
handlers log their own failures with tracebacks (those are our bugs, not the client's).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from api.log_text import printable

LINES_PER_WINDOW = 10
WINDOW_SECONDS = 10.0
MAX_DETAIL_CHARS = 120


class LineBudget:
    """How many lines the loggers sharing it may still write in the current window."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._window_start = -WINDOW_SECONDS
        self._lines = 0
        self.suppressed = 0

    def spend(self) -> bool:
        now = self._clock()
        if now - self._window_start >= WINDOW_SECONDS:
            self._window_start, self._lines = now, 0
        if self._lines >= LINES_PER_WINDOW:
            self.suppressed += 1
            return False
        self._lines += 1
        return True

    def take_suppressed(self) -> int:
        suppressed, self.suppressed = self.suppressed, 0
        return suppressed


class ClientFaultLog:
    """Has the methods python-socketio/engineio call on their `logger`."""

    def __init__(self, name: str, budget: LineBudget) -> None:
        self._logger = logging.getLogger(name)
        if self._logger.level == logging.NOTSET:
            # Their INFO lines (one per event received) are noise, and cost a format each.
            self._logger.setLevel(logging.WARNING)
        self._budget = budget

    # Names and signatures are those of logging.Logger, as the libraries call them.
    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(logging.DEBUG, msg, args)

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(logging.INFO, msg, args)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(logging.WARNING, msg, args)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(logging.ERROR, msg, args)

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        error = sys.exc_info()[1]
        detail = f"{type(error).__name__}: {error}" if error is not None else ""
        self._log(logging.WARNING, f"{msg} ({detail[:MAX_DETAIL_CHARS]})", args)

    @property
    def level(self) -> int:
        return self._logger.level

    def isEnabledFor(self, level: int) -> bool:
        return self._logger.isEnabledFor(level)

    def _log(self, level: int, msg: str, args: tuple[Any, ...]) -> None:
        if not self._logger.isEnabledFor(level) or not self._budget.spend():
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = str(msg)
        # A namespace, event name or error message of the client's own choosing: escaped
        # (line breaks, bidi and format characters) and capped, never written verbatim.
        text = printable(text, MAX_DETAIL_CHARS * 2)
        suppressed = self._budget.take_suppressed()
        if suppressed:
            text += f" [{suppressed} similar lines left out]"
        self._logger.log(level, "%s", text)
