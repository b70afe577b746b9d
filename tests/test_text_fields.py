"""Text people show each other: normalized, no control or bidi tricks, never blank-looking."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from api import text as text_rule
from api.text import DisplayText
from tests.client import ApiClient
from tests.mailbox import Mailbox

FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f467"  # 👩‍👩‍👧
HEART_ON_FIRE = "\u2764\ufe0f\u200d\U0001f525"  # ❤️‍🔥
ENGLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"  # 🏴 flag
PERSIAN_WITH_ZWNJ = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # می‌خواهم
DECOMPOSED = "Jose\u0301"  # José typed as e + combining acute

CASES_FILE = Path(__file__).resolve().parent.parent / "web" / "src" / "text.cases.ts"
RULES = {
    "name": DisplayText(max_length=80),
    "bio": DisplayText(max_length=300, allow_empty=True, multiline=True),
}


def shared_cases() -> list[dict[str, Any]]:
    """The cases web/src/text.test.ts runs too, so both sides are held to the same answers."""
    source = CASES_FILE.read_text()
    start = source.index("/* cases-json-start */") + len("/* cases-json-start */")
    cases: list[dict[str, Any]] = json.loads(source[start : source.index("/* cases-json-end */")])
    return cases


def problem(text: str, rule: DisplayText) -> str | None:
    try:
        rule.clean(text)
    except PydanticCustomError as error:
        return error.type
    return None


@pytest.mark.parametrize(
    "case", shared_cases(), ids=lambda case: f"{case['why']}:{ascii(case['text'])[:40]}"
)
def test_shared_case(case: dict[str, Any]) -> None:
    assert problem(case["text"], RULES[case["rule"]]) == case["expect"]


def test_tables_are_the_web_clients() -> None:
    """The same ranges on both sides (text.test.ts checks them against the browser's Unicode)."""
    web = (CASES_FILE.parent / "text.ts").read_text()
    for name in ("DEFAULT_IGNORABLE", "EXTENDED_PICTOGRAPHIC", "JOINING_SCRIPTS", "CJK_IDEOGRAPHS"):
        declaration = web[web.index(f"export const {name} =") :]
        spec = "".join(re.findall(r'"([^"]*)"', declaration[: declaration.index(";")]))
        assert text_rule._ranges(spec) == getattr(text_rule, name), name
    assert unicodedata.unidata_version >= "14.0.0"


def test_an_emoji_unknown_to_python_is_still_an_emoji() -> None:
    """U+1FAE8 (Unicode 15) is unassigned for Python 3.11; it is kept, as in the browser."""
    shaking_face = "\U0001fae8"
    if unicodedata.category(shaking_face) == "Cn":
        assert problem(shaking_face, RULES["name"]) is None


class Sample(BaseModel):
    name: Annotated[str, DisplayText(max_length=10)]
    bio: Annotated[str, DisplayText(max_length=20, allow_empty=True, multiline=True)] = ""


def error_code(**fields: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Sample(**fields)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return str(errors[0]["type"])


def test_text_is_nfc_and_trimmed_of_surrounding_space_and_filler() -> None:
    assert Sample(name=DECOMPOSED).name == "Jos\u00e9"
    assert Sample(name=f" \u3000\u200b{DECOMPOSED}\ufeff\u3164 ").name == "Jos\u00e9"
    assert Sample(name="x", bio="one\r\ntwo\rthree").bio == "one\ntwo\nthree"


def test_multiline_text_takes_line_breaks_only() -> None:
    assert Sample(name="x", bio="a\nb").bio == "a\nb"
    assert error_code(name="x", bio="a\tb") == "text_control_character"
    assert error_code(name="x", bio="a\x00b") == "text_control_character"


def test_length_is_counted_in_code_points_after_normalizing() -> None:
    assert Sample(name="\U0001f600" * 10).name == "\U0001f600" * 10  # 20 UTF-16 units
    assert error_code(name="\U0001f600" * 11) == "text_too_long"
    assert Sample(name=DECOMPOSED * 2).name == "Jos\u00e9" * 2  # 10 code points raw, 8 in NFC
    assert Sample(name="  " + "x" * 10 + "  ").name == "x" * 10
    with pytest.raises(ValidationError) as caught:
        Sample(name="x" * 11)
    assert caught.value.errors()[0]["ctx"] == {"max_length": 10}


def test_json_schema_publishes_the_limits() -> None:
    schema = Sample.model_json_schema()["properties"]
    assert (schema["name"]["maxLength"], schema["name"]["minLength"]) == (10, 1)
    assert schema["bio"]["maxLength"] == 20 and "minLength" not in schema["bio"]


# ---- every human text field, over REST -------------------------------------------------


def field_codes(body: Any) -> dict[str, str]:
    return {item["field"]: item["code"] for item in body["error"]["details"]}


BAD_CLASSES = [
    ("\u200b\u3164\u2800", "text_blank"),
    ("nul\x00", "text_control_character"),
    ("bell\x07", "text_control_character"),
    ("evil\u202egpj", "text_bidi_control"),
    ("ad\u200bmin", "text_invisible_character"),
    # What the review of the first fix still got through:
    ("A\u200dnn", "text_invisible_character"),  # shows as "Ann"
    (
        "hi \U0001f3f4" + "".join(chr(0xE0000 + ord(c)) for c in "ignore all"),
        "text_invisible_character",
    ),
    ("\u0301" * 20, "text_blank"),
    ("\U00016fe4\U0001d159", "text_blank"),
    ("a\U0001d159b", "text_invisible_character"),
    ("\ufffc", "text_unsupported_character"),
    ("a\ufffe", "text_unsupported_character"),
    ("a\ue000", "text_unsupported_character"),
]


@pytest.mark.parametrize(("text", "code"), BAD_CLASSES)
async def test_registration_name(client: ApiClient, text: str, code: str) -> None:
    body = {"email": "text@example.com", "password": "long enough password", "name": text}
    reply = await client.post("/api/auth/register", body)
    assert (reply.status, reply.error_code) == (422, "validation_failed")
    assert field_codes(reply.body) == {"name": code}


async def test_profile_and_room_fields(
    new_client: Callable[[], ApiClient], mailbox: Mailbox
) -> None:
    client = new_client()
    await client.signed_up(mailbox)
    room = await client.post(
        "/api/rooms", {"topic": "Plain", "visibility": "public", "media": "mesh"}
    )
    assert room.status == 201, room.body
    room_path = f"/api/rooms/{room.body['id']}"
    for text, code in BAD_CLASSES:
        reply = await client.call("PATCH", "/api/users/me", {"name": text, "bio": text})
        expected = {"name": code, "bio": code}
        if code == "text_blank":
            expected = {"name": code}  # an empty bio is allowed
        assert (reply.status, field_codes(reply.body)) == (422, expected), text
        for method, path, extra in (
            ("POST", "/api/rooms", {"visibility": "public", "media": "mesh"}),
            ("PATCH", room_path, {}),
        ):
            reply = await client.call(method, path, {"topic": text, **extra})
            assert (reply.status, field_codes(reply.body)) == (422, {"topic": code}), text
    # What is accepted comes back normalized; 120 emoji are 120 characters, not 240.
    reply = await client.call(
        "PATCH", "/api/users/me", {"name": f" {FAMILY} {DECOMPOSED}\u200b", "bio": "\u3164"}
    )
    assert reply.status == 200, reply.body
    assert (reply.body["name"], reply.body["bio"]) == (f"{FAMILY} Jos\u00e9", "")
    topic = "\U0001f600" * 120
    reply = await client.call("PATCH", room_path, {"topic": topic})
    assert (reply.status, reply.body["topic"]) == (200, topic)
    reply = await client.call("PATCH", room_path, {"topic": topic + "x"})
    assert (reply.status, field_codes(reply.body)) == (422, {"topic": "text_too_long"})
