"""Text people show each other: normalized, no control or bidi tricks, never blank-looking."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ValidationError

from api.text import DisplayText
from tests.client import ApiClient
from tests.mailbox import Mailbox

FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f467"  # 👩‍👩‍👧
HEART_ON_FIRE = "\u2764\ufe0f\u200d\U0001f525"  # ❤️‍🔥
ENGLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"  # 🏴 flag
PERSIAN_WITH_ZWNJ = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # می‌خواهم
DECOMPOSED = "Jose\u0301"  # José typed as e + combining acute

BLANK_LOOKING = [
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\u200c\u200b\u2060\ufeff",  # ZWNJ, ZWSP, word joiner, BOM
    "\u3164",  # Hangul filler
    "\u115f\u1160\uffa0",  # other Hangul fillers
    "\u2800\u2800",  # braille blank
    "\u00a0\u3000 \u2003",  # no-break, ideographic, em spaces
    "\ufe0f",  # a variation selector on its own
]
CONTROL = ["nul\x00byte", "bell\x07", "esc\x1b[31mred", "line\nbreak", "sep\u2028arator", "\ud800"]
BIDI = ["evil\u202egpj.exe", "\u202aLRE", "a\u2066isolate\u2069", "\u2067x", "\u202c"]
INVISIBLE_INSIDE = ["ad\u200bmin", "Ann\u3164Lee", "soft\u00adhyphen", "\u200dx", "x\u200d y"]


class Sample(BaseModel):
    name: Annotated[str, DisplayText(max_length=10)]
    bio: Annotated[str, DisplayText(max_length=20, allow_empty=True, multiline=True)] = ""


def error_code(**fields: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Sample(**fields)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return str(errors[0]["type"])


def test_ordinary_and_emoji_text_is_kept() -> None:
    kept = ("Ann", FAMILY, HEART_ON_FIRE, ENGLAND, PERSIAN_WITH_ZWNJ, "a\u2800b", "1\ufe0f\u20e3")
    for text in kept:
        assert Sample(name=text).name == text


def test_text_is_nfc_and_trimmed_of_surrounding_space_and_filler() -> None:
    assert Sample(name=DECOMPOSED).name == "Jos\u00e9"
    assert Sample(name=f" \u3000\u200b{DECOMPOSED}\ufeff\u3164 ").name == "Jos\u00e9"
    assert Sample(name="x", bio="one\r\ntwo\rthree").bio == "one\ntwo\nthree"


@pytest.mark.parametrize("text", [*BLANK_LOOKING, "", "   "])
def test_blank_looking_text_is_blank(text: str) -> None:
    assert error_code(name=text) == "text_blank"
    # Where empty is allowed it is stored as empty, not as invisible characters.
    assert Sample(name="x", bio=text).bio == ""


@pytest.mark.parametrize("text", CONTROL)
def test_control_characters_are_refused(text: str) -> None:
    assert error_code(name=text) == "text_control_character"


def test_multiline_text_takes_line_breaks_only() -> None:
    assert Sample(name="x", bio="a\nb").bio == "a\nb"
    assert error_code(name="x", bio="a\tb") == "text_control_character"
    assert error_code(name="x", bio="a\x00b") == "text_control_character"


@pytest.mark.parametrize("text", BIDI)
def test_bidi_overrides_and_isolates_are_refused(text: str) -> None:
    assert error_code(name=text) == "text_bidi_control"


@pytest.mark.parametrize("text", INVISIBLE_INSIDE)
def test_invisible_characters_inside_text_are_refused(text: str) -> None:
    assert error_code(name=text) == "text_invisible_character"


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
