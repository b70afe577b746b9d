"""Prefixed random string ids (`usr_…`, `ses_…`): readable in logs, never guessable."""

import re
import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(12)}"


_ID_PATTERN = re.compile(r"^[a-z]{2,4}_[A-Za-z0-9_-]{16}$")


def looks_like_id(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and _ID_PATTERN.match(value) is not None
