"""Client-supplied text made safe to write into a log line.

A path, header, namespace or error message chosen by a client must not be able to forge or
hide log content: a line break starts a fake entry, U+202E (right-to-left override) and
other bidi/format characters reorder or hide what an operator reads, and a megabyte of it
floods the log. `printable` escapes every character that is not plainly printable, the way
`repr` does (`\\n`, `\\x1b`, `\\u202e`), escapes the backslash itself so an escape in the
log always means an escaped character, and caps the length.
"""

from __future__ import annotations

MAX_LOGGED_CHARS = 200


def printable(value: object, limit: int = MAX_LOGGED_CHARS) -> str:
    """`value` as one line of plain printable text, at most about `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    cut = len(text) - limit
    parts: list[str] = []
    for char in text[:limit] if cut > 0 else text:
        # isprintable() is False for controls, format (bidi, zero-width), separators other
        # than the space, surrogates (undecodable bytes), private-use and unassigned.
        if char.isprintable() and char != "\\":
            parts.append(char)
        else:
            parts.append(_escape(char))
    if cut > 0:
        parts.append(f"…[{cut} more]")
    return "".join(parts)


def _escape(char: str) -> str:
    code = ord(char)
    if char == "\\":
        return "\\\\"
    if code < 0x100:
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\x{code:02x}")
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
