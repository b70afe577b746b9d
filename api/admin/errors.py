"""The one error an admin command reports to the operator."""

from __future__ import annotations


class AdminError(Exception):
    """The command cannot do its work. The message is one line for the operator; the command
    prints it and exits with status 2 (never a traceback)."""


def one_line(error: BaseException, limit: int = 300) -> str:
    """`str(error)` on one line (pymongo's messages span several) and at most `limit`
    characters."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
