"""How the server's log lines look: readable in development, JSON in production.

LOG_FORMAT=json (production's default) writes one JSON object per line on stderr, the shape
log collectors (CloudWatch, Loki, Elasticsearch) index without a parsing rule:

    {"time": "2026-12-01T05:19:36.123Z", "level": "INFO", "logger": "aiohttp.access",
     "event": "203.0.113.7 \\"GET /api/rooms HTTP/1.1\\" 200 ...", "request_id": "4f…",
     "client": "203.0.113.7", "user_id": "usr_…", "http": {"method": "GET", ...}}

- `time`: ISO 8601 in UTC with milliseconds; `level`: the level's name; `logger`: its name;
  `event`: the message with its arguments.
- `request_id`, `client`, `user_id`: the request being served (api/log_context.py), when the
  line is logged on its behalf; `http`: the access line's fields (api/access_log.py).
- `exception`: the traceback text of a line logged with one; `stack` likewise.

What the lines may hold is decided where they are logged: no token, password or email body is
ever passed to a logger in production (the access log drops query strings and token path
segments; the development outbox's line with the emailed link needs SMTP unset, which
production refuses). LOG_FORMAT=text keeps the `time LEVEL logger: message` lines.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from api.log_context import log_fields
from api.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes a call site may pass with `extra=` that become fields of the JSON line.
EXTRA_FIELDS = ("request_id", "client", "user_id", "http")


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record, on one line of ASCII (`json.dumps` escapes every line
    break and every non-ASCII character)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update(log_fields())
        for name in EXTRA_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # ASCII only: no character a log tool might take for a line break (U+2028, U+0085) or
        # that reorders what an operator reads (U+202E) survives unescaped, whatever a library
        # logged. default=str: a stray object in `extra` must not cost the line.
        return json.dumps(entry, ensure_ascii=True, default=str)


class _Ours(logging.StreamHandler[TextIO]):
    """The handler `configure_logging` installs, told apart from anyone else's."""


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Install the root handler for `settings.log_format` (LOG_FORMAT) on `stream` (stderr),
    at INFO. Called again, it replaces the handler it installed before."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Ours)]:
        root.removeHandler(handler)
    handler = _Ours(stream if stream is not None else sys.stderr)
    json_lines = settings.log_format == "json"
    handler.setFormatter(JsonLineFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # A library's warning would otherwise be printed to stderr as a plain-text line among the
    # JSON ones; through logging it is one more JSON line ("py.warnings").
    logging.captureWarnings(json_lines)


def _utc(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
