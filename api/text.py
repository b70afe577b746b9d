"""Text that people show to each other (names, topics, bios): one rule for every such field.

`DisplayText(max_length=…)` is a pydantic type that

- normalizes to NFC (so "é" typed two ways is one name) and trims surrounding whitespace and
  invisible filler;
- refuses control characters (NUL, BEL, …, lone surrogates, line breaks unless `multiline`)
  and the bidi overrides/isolates that make text render in another order than it is stored
  (U+202A–U+202E, U+2066–U+2069), anywhere in the text;
- refuses characters with no agreed look: private use (Co), unassigned (Cn, except in the
  ranges Unicode reserves for future emoji, so a new emoji is not refused for being newer
  than Python's Unicode tables), noncharacters (U+FDD0–U+FDEF, U+xxFFFE/U+xxFFFF) and the
  object/replacement characters U+FFFC/U+FFFD;
- refuses a text that is blank once invisible characters and combining marks are set aside:
  a text with no base character (zero-width space and joiner, word joiner, BOM, Hangul
  fillers, the braille blank U+2800, U+16FE4, U+1D159, whitespace, or only combining marks)
  is blank, unless the field may be empty (then it becomes "");
- refuses a combining mark with nothing to combine with (at the start, after a space);
- refuses other invisible/format characters inside the text, except where writing systems
  need them, which is checked by what surrounds them:
  * ZWJ between two emoji (Extended_Pictographic; an emoji modifier or U+FE0F may sit
    before it: 👩🏽‍💻, ❤️‍🔥), or between two letters/marks of a script that uses joiners;
  * ZWNJ only between two letters/marks of a script that uses joiners: Arabic-script
    (Persian می‌خواهم), Syriac, Thaana, N'Ko, the Indic scripts and Sinhala, Myanmar, Khmer,
    Mongolian (`JOINING_SCRIPTS`). Never between Latin, Greek, Cyrillic… letters, where it
    would only hide something ("A\u200dnn" shows as "Ann");
  * U+FE0E/U+FE0F right after an emoji or a keycap base (0-9 # *); U+FE00–U+FE0D right
    after a symbol or a CJK/joining-script character; U+E0100–U+E01EF right after a CJK
    ideograph. One selector per character, so they cannot spell out hidden data;
  * tag characters only in an emoji tag sequence: 🏴 + 2–6 tag letters/digits + the
    cancel tag (the flags of England, Scotland, Wales), never as free hidden ASCII;
- counts length in Unicode code points after all of the above (the web client counts the
  same way; JSON Schema's `maxLength` also counts code points).

web/src/text.ts implements the same rule with the same tables; web/src/text.cases.ts holds
the cases both test suites run. Python's `unicodedata` (its `unidata_version`) is older than
a current browser's: a character assigned since is unassigned here and refused by the server
(`text_unsupported_character`) though the browser's check let it through; emoji are the
exception above.

Each refusal has its own error type (`text_blank`, `text_too_long`, `text_control_character`,
`text_bidi_control`, `text_invisible_character`, `text_unsupported_character`), which the API
returns as the field's `code`.
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
EMOJI_PRESENTATION = "\ufe0f"
KEYCAP_BASES = frozenset("0123456789#*")
# Characters that render as nothing (or as blank space) but are letters, marks or symbols, so
# no Unicode category gives them away: braille blank, Hangul fillers, Khitan filler, the
# musical null notehead. U+2800 looks like a space and is allowed between words like one.
BLANK_LOOKING = frozenset("\u2800\u3164\u115f\u1160\uffa0\U00016fe4\U0001d159")
SPACE_LIKE = frozenset("\u2800")
OBJECT_REPLACEMENTS = frozenset("\ufffc\ufffd")
MAX_FLAG_TAGS = 6


def _ranges(spec: str) -> tuple[tuple[int, int], ...]:
    """ "a9 2194-2199 …" (hex, as in web/src/text.ts) as (first, last) pairs."""
    pairs = []
    for item in spec.split():
        first, _, last = item.partition("-")
        pairs.append((int(first, 16), int(last or first, 16)))
    return tuple(pairs)


def _in(ranges: tuple[tuple[int, int], ...], char: str) -> bool:
    code = ord(char)
    return any(first <= code <= last for first, last in ranges)


# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): characters a renderer
# shows as nothing when it does not support them. The same string is in web/src/text.ts.
DEFAULT_IGNORABLE = _ranges(
    "ad 34f 61c 115f-1160 17b4-17b5 180b-180f 200b-200f 202a-202e 2060-206f 3164 fe00-fe0f"
    " feff ffa0 fff0-fff8 1bca0-1bca3 1d173-1d17a e0000-e0fff"
)
# Unicode 17's Extended_Pictographic (emoji-data.txt), which includes the code points reserved
# for future emoji. The same string is in web/src/text.ts, checked there against the browser's
# \p{Extended_Pictographic}.
EXTENDED_PICTOGRAPHIC = _ranges(
    "a9 ae 203c 2049 2122 2139 2194-2199 21a9-21aa 231a-231b 2328 23cf 23e9-23f3 23f8-23fa"
    " 24c2 25aa-25ab 25b6 25c0 25fb-25fe 2600-2604 260e 2611 2614-2615 2618 261d 2620"
    " 2622-2623 2626 262a 262e-262f 2638-263a 2640 2642 2648-2653 265f-2660 2663 2665-2666"
    " 2668 267b 267e-267f 2692-2697 2699 269b-269c 26a0-26a1 26a7 26aa-26ab 26b0-26b1"
    " 26bd-26be 26c4-26c5 26c8 26ce-26cf 26d1 26d3-26d4 26e9-26ea 26f0-26f5 26f7-26fa 26fd"
    " 2702 2705 2708-270d 270f 2712 2714 2716 271d 2721 2728 2733-2734 2744 2747 274c 274e"
    " 2753-2755 2757 2763-2764 2795-2797 27a1 27b0 27bf 2934-2935 2b05-2b07 2b1b-2b1c 2b50"
    " 2b55 3030 303d 3297 3299 1f004 1f02c-1f02f 1f094-1f09f 1f0af-1f0b0 1f0c0 1f0cf-1f0d0"
    " 1f0f6-1f0ff 1f170-1f171 1f17e-1f17f 1f18e 1f191-1f19a 1f1ae-1f1e5 1f201-1f20f 1f21a"
    " 1f22f 1f232-1f23a 1f23c-1f23f 1f249-1f25f 1f266-1f321 1f324-1f393 1f396-1f397"
    " 1f399-1f39b 1f39e-1f3f0 1f3f3-1f3f5 1f3f7-1f3fa 1f400-1f4fd 1f4ff-1f53d 1f549-1f54e"
    " 1f550-1f567 1f56f-1f570 1f573-1f57a 1f587 1f58a-1f58d 1f590 1f595-1f596 1f5a4-1f5a5"
    " 1f5a8 1f5b1-1f5b2 1f5bc 1f5c2-1f5c4 1f5d1-1f5d3 1f5dc-1f5de 1f5e1 1f5e3 1f5e8 1f5ef"
    " 1f5f3 1f5fa-1f64f 1f680-1f6c5 1f6cb-1f6d2 1f6d5-1f6e5 1f6e9 1f6eb-1f6f0 1f6f3-1f6ff"
    " 1f7da-1f7ff 1f80c-1f80f 1f848-1f84f 1f85a-1f85f 1f888-1f88f 1f8ae-1f8af 1f8bc-1f8bf"
    " 1f8c2-1f8cf 1f8d9-1f8ff 1f90c-1f93a 1f93c-1f945 1f947-1f9ff 1fa58-1fa5f 1fa6e-1faff"
    " 1fc00-1fffd"
)
EMOJI_MODIFIERS = _ranges("1f3fb-1f3ff")
# Scripts whose spelling uses ZWJ/ZWNJ between letters: Arabic (with its supplements and
# presentation forms), Syriac, Thaana, N'Ko, Samaritan, Mandaic; Devanagari to Malayalam and
# Sinhala; Myanmar; Khmer and Mongolian; Devanagari Extended. Same string in web/src/text.ts.
JOINING_SCRIPTS = _ranges(
    "600-8ff 900-dff 1000-109f 1780-18af a8e0-a8ff fb50-fdcf fdf0-fdff fe70-fefe"
)
CJK_IDEOGRAPHS = _ranges("3400-4dbf 4e00-9fff f900-faff 20000-3fffd")


def is_default_ignorable(char: str) -> bool:
    return _in(DEFAULT_IGNORABLE, char)


def is_emoji(char: str) -> bool:
    return bool(char) and _in(EXTENDED_PICTOGRAPHIC, char)


def is_variation_selector(char: str) -> bool:
    code = ord(char)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def is_tag(char: str) -> bool:
    return 0xE0020 <= ord(char) <= 0xE007F


def _is_flag_tag(char: str) -> bool:
    """A tag digit or small letter: what a subdivision flag spells ("gbeng")."""
    code = ord(char)
    return 0xE0030 <= code <= 0xE0039 or 0xE0061 <= code <= 0xE007A


def is_noncharacter(char: str) -> bool:
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def is_mark(char: str) -> bool:
    return unicodedata.category(char).startswith("M")


def is_unsupported(char: str) -> bool:
    """No agreed look: private use, unassigned (but not a future emoji), noncharacters, and
    the placeholders for something missing."""
    category = unicodedata.category(char)
    return (
        category == "Co"
        or (category == "Cn" and not is_emoji(char))
        or is_noncharacter(char)
        or char in OBJECT_REPLACEMENTS
    )


def is_invisible(char: str) -> bool:
    """Shows as nothing or as blank space."""
    return (
        char.isspace()
        or char in BLANK_LOOKING
        or is_default_ignorable(char)
        or unicodedata.category(char) == "Cf"
    )


def is_base(char: str) -> bool:
    """Something that shows by itself: what a text needs at least one of to not be blank."""
    return not is_invisible(char) and not is_mark(char)


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
        if is_unsupported(char):
            raise _error(
                "text_unsupported_character",
                "must not contain private-use, unassigned or replacement characters",
            )
    text = _trim(text)
    if not any(is_base(char) for char in text):
        if allow_empty:
            return ""
        raise _error("text_blank", "must not be blank")
    if not _all_invisibles_in_place(text):
        raise _error("text_invisible_character", "must not contain invisible characters")
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


def _all_invisibles_in_place(text: str) -> bool:
    """Every invisible character and combining mark sits where a writing system needs it."""
    flag_tags = _flag_tag_positions(text)
    has_base = False  # a base character since the last space, for combining marks
    for index, char in enumerate(text):
        if char.isspace() or char in SPACE_LIKE:
            has_base = False
        elif char in BLANK_LOOKING:
            return False
        elif is_invisible(char):
            if index not in flag_tags and not _allowed_here(text, index):
                return False
        elif is_mark(char):
            if not has_base:
                return False
        else:
            has_base = True
    return True


def _flag_tag_positions(text: str) -> set[int]:
    """Where the tags of well-formed tag sequences are: 🏴, 2–6 tag letters/digits, cancel."""
    positions: set[int] = set()
    for index, char in enumerate(text):
        if char != WAVING_BLACK_FLAG:
            continue
        end = index + 1
        while end < len(text) and _is_flag_tag(text[end]):
            end += 1
        if 2 <= end - index - 1 <= MAX_FLAG_TAGS and text[end : end + 1] == CANCEL_TAG:
            positions.update(range(index + 1, end + 1))
    return positions


def _allowed_here(text: str, index: int) -> bool:
    char = text[index]
    before = text[index - 1] if index > 0 else ""
    after = text[index + 1] if index + 1 < len(text) else ""
    if not before:
        return False
    if char == ZWJ:
        emoji_before = (
            is_emoji(before)
            or _in(EMOJI_MODIFIERS, before)
            or (before == EMOJI_PRESENTATION and index > 1 and is_emoji(text[index - 2]))
        )
        return (emoji_before and is_emoji(after)) or _joins_letters(before, after)
    if char == ZWNJ:
        return _joins_letters(before, after)
    if char in ("\ufe0e", EMOJI_PRESENTATION):
        return is_emoji(before) or before in KEYCAP_BASES
    if "\ufe00" <= char <= "\ufe0d":
        return unicodedata.category(before).startswith("S") or (
            is_base(before) and (_in(CJK_IDEOGRAPHS, before) or _in(JOINING_SCRIPTS, before))
        )
    if is_variation_selector(char):  # U+E0100–U+E01EF: ideographic variation sequences
        return _in(CJK_IDEOGRAPHS, before)
    return False


def _joins_letters(before: str, after: str) -> bool:
    """Both sides are letters or marks of a script that spells with joiners."""

    return all(
        char and unicodedata.category(char)[0] in "LM" and _in(JOINING_SCRIPTS, char)
        for char in (before, after)
    )


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
