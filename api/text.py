"""Text that people show to each other (names, topics, bios): one rule for every such field.

`DisplayText(max_length=…)` is a pydantic type that

- normalizes to NFC (so "é" typed two ways is one name) and trims surrounding whitespace and
  invisible filler;
- refuses control characters (NUL, BEL, …, lone surrogates, line breaks unless `multiline`)
  and the bidi overrides/isolates that make text render in another order than it is stored
  (U+202A–U+202E, U+2066–U+2069), anywhere in the text;
- refuses a text that is blank once invisible characters are set aside (zero-width space and
  joiner, word joiner, BOM, the Hangul fillers U+115F/U+1160/U+3164/U+FFA0, the braille blank
  U+2800, whitespace…), unless the field may be empty (then it becomes "");
- refuses other invisible/format characters inside the text, except where writing systems
  need them: ZWJ/ZWNJ between two visible characters (👩‍👩‍👧, Persian, Indic scripts),
  variation selectors after a visible character (❤️), and emoji tag sequences (🏴 flags);
- counts length in Unicode code points after all of the above (the web client counts the
  same way; JSON Schema's `maxLength` also counts code points).

Each refusal has its own error type (`text_blank`, `text_too_long`, `text_control_character`,
`text_bidi_control`, `text_invisible_character`), which the API returns as the field's `code`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

ZWNJ = "\u200c"
ZWJ = "\u200d"
JOINERS = frozenset({ZWNJ, ZWJ})
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
WAVING_BLACK_FLAG = "\U0001f3f4"
CANCEL_TAG = "\U000e007f"
# Characters that render as nothing (or as blank space) but are letters or symbols, so no
# Unicode category gives them away.
BLANK_LOOKING = frozenset("\u2800\u3164\u115f\u1160\uffa0")

# Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt): characters a
# renderer shows as nothing when it does not support them.
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)


def is_default_ignorable(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _DEFAULT_IGNORABLE)


def is_variation_selector(char: str) -> bool:
    code = ord(char)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def is_tag(char: str) -> bool:
    return 0xE0020 <= ord(char) <= 0xE007F


def is_invisible(char: str) -> bool:
    """Shows as nothing or as blank space: what a text made only of is blank."""
    return (
        char.isspace()
        or char in BLANK_LOOKING
        or is_default_ignorable(char)
        or unicodedata.category(char) == "Cf"
    )


def _is_contextual(char: str) -> bool:
    """Invisible characters that are part of real text in the right place; never trimmed."""
    return char in JOINERS or is_variation_selector(char) or is_tag(char)


def _error(kind: str, message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, message, context or None)


def clean_text(
    value: str, *, max_length: int, allow_empty: bool = False, multiline: bool = False
) -> str:
    """The stored form of `value`, or a `PydanticCustomError` saying what is wrong with it."""
    text = unicodedata.normalize("NFC", value)
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    for char in text:
        if char in BIDI_CONTROLS:
            raise _error("text_bidi_control", "must not contain text-direction control characters")
        if multiline and char == "\n":
            continue
        if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp"):
            raise _error("text_control_character", "must not contain control characters")
    text = _trim(text)
    if not text or all(is_invisible(char) for char in text):
        if allow_empty:
            return ""
        raise _error("text_blank", "must not be blank")
    for index, char in enumerate(text):
        if is_invisible(char) and not char.isspace() and char not in BLANK_LOOKING:
            if not _allowed_here(text, index):
                raise _error(
                    "text_invisible_character", "must not contain invisible formatting characters"
                )
        elif char in BLANK_LOOKING and char != "\u2800":
            raise _error("text_invisible_character", "must not contain invisible filler characters")
    if len(text) > max_length:
        raise _error(
            "text_too_long", "must be at most {max_length} characters", max_length=max_length
        )
    return text


def _trim(text: str) -> str:
    """Without surrounding whitespace and invisible filler (never a joiner or selector)."""

    def trimmable(char: str) -> bool:
        return is_invisible(char) and not _is_contextual(char)

    start, end = 0, len(text)
    while start < end and trimmable(text[start]):
        start += 1
    while end > start and trimmable(text[end - 1]):
        end -= 1
    return text[start:end]


def _allowed_here(text: str, index: int) -> bool:
    char = text[index]
    before = text[index - 1] if index > 0 else ""
    after = text[index + 1] if index + 1 < len(text) else ""
    if not before:
        return False
    if char in JOINERS:
        # Between two visible characters; a variation selector may sit before it (❤️‍🔥).
        return _visible(after) and (_visible(before) or is_variation_selector(before))
    if is_variation_selector(char):
        return _visible(before)
    if is_tag(char):
        # 🏴 + tag letters + cancel tag: the flags of England, Scotland, Wales.
        return before == WAVING_BLACK_FLAG or (is_tag(before) and before != CANCEL_TAG)
    return False


def _visible(char: str) -> bool:
    return bool(char) and not is_invisible(char)


@dataclass(frozen=True)
class DisplayText:
    """Marks a `str` as text shown to other people: `Annotated[str, DisplayText(max_length=80)]`.

    See the module's docstring for what it normalizes and refuses.
    """

    max_length: int
    allow_empty: bool = False
    multiline: bool = False

    def clean(self, value: str) -> str:
        return clean_text(
            value,
            max_length=self.max_length,
            allow_empty=self.allow_empty,
            multiline=self.multiline,
        )

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.clean, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # The limits clients should know; JSON Schema counts length in code points too.
        json_schema = handler(schema)
        json_schema["maxLength"] = self.max_length
        if not self.allow_empty:
            json_schema["minLength"] = 1
        return json_schema
