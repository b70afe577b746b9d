"""Profiles and avatars over HTTP: editing, uniqueness, uploads of each kind, caching."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import aiohttp
from PIL import Image

from tests.client import ApiClient
from tests.mailbox import Mailbox

# `_id` and `avatar`: aliases for clients written for the original Gethory (protocol.md).
PUBLIC_FIELDS = {"id", "name", "username", "bio", "avatarUrl", "_id", "avatar"}


def image_bytes(fmt: str, size: tuple[int, int] = (64, 48), color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


async def upload(client: ApiClient, data: bytes, filename: str = "me.png") -> Any:
    form = aiohttp.FormData()
    form.add_field("avatar", data, filename=filename, content_type="application/octet-stream")
    return await client.call("PUT", "/api/users/me/avatar", data=form)


async def test_profile_edit_and_public_view(
    new_client: Callable[[], ApiClient], mailbox: Mailbox
) -> None:
    ann, bob = new_client(), new_client()
    email = await ann.signed_up(mailbox, "Ann")
    await bob.signed_up(mailbox, "Bob")
    reply = await ann.call(
        "PATCH", "/api/users/me", {"name": "Ann Lee", "username": "Ann.Lee_1", "bio": "Jazz & tea"}
    )
    assert reply.status == 200
    assert (reply.body["name"], reply.body["username"], reply.body["bio"]) == (
        "Ann Lee",
        "Ann.Lee_1",
        "Jazz & tea",
    )
    reply = await ann.call("PATCH", "/api/users/me", {"bio": "Only tea"})
    assert (reply.body["name"], reply.body["bio"]) == ("Ann Lee", "Only tea"), "omitted fields stay"

    public = await bob.get(f"/api/users/{reply.body['id']}")
    assert public.status == 200
    assert set(public.body) == PUBLIC_FIELDS
    assert email not in str(public.body)
    assert public.body["username"] == "Ann.Lee_1"


async def test_usernames_are_unique_ignoring_case(
    new_client: Callable[[], ApiClient], mailbox: Mailbox
) -> None:
    ann, bob = new_client(), new_client()
    await ann.signed_up(mailbox, "Ann")
    await bob.signed_up(mailbox, "Bob")
    assert (await ann.call("PATCH", "/api/users/me", {"username": "night_owl"})).status == 200
    reply = await bob.call("PATCH", "/api/users/me", {"username": "Night_Owl"})
    assert (reply.status, reply.error_code) == (409, "username_taken")
    assert (await bob.get("/api/users/me")).body["username"] is None
    assert (await ann.call("PATCH", "/api/users/me", {"username": "NIGHT_OWL"})).status == 200


async def test_invalid_profiles_are_refused(client: ApiClient, mailbox: Mailbox) -> None:
    await client.signed_up(mailbox)
    for body in (
        {"username": "ab"},
        {"username": "x" * 31},
        {"username": "has space"},
        {"username": "émile"},
        {"name": ""},
        {"name": "n" * 81},
        {"bio": "b" * 301},
        {"email": "new@example.com"},
        {"username": 42},
    ):
        reply = await client.call("PATCH", "/api/users/me", body)
        assert (reply.status, reply.error_code) == (422, "validation_failed"), body


async def test_unknown_users_are_404(client: ApiClient, mailbox: Mailbox) -> None:
    await client.signed_up(mailbox)
    for bad in ("usr_AAAAAAAAAAAAAAAA", "nope", "rm_AAAAAAAAAAAAAAAA"):
        assert (await client.get(f"/api/users/{bad}")).status == 404
        assert (await client.get(f"/api/users/{bad}/avatar")).status == 404


async def test_each_image_type_becomes_a_256_webp(client: ApiClient, mailbox: Mailbox) -> None:
    await client.signed_up(mailbox)
    for fmt, color in (("PNG", "red"), ("JPEG", "green"), ("WEBP", "blue"), ("GIF", "yellow")):
        # The file name lies on purpose: the content decides.
        reply = await upload(client, image_bytes(fmt, color=color), filename="photo.txt")
        assert reply.status == 200, (fmt, reply.body)
        avatar = await client.get(reply.body["avatarUrl"])
        assert avatar.status == 200 and avatar.headers["Content-Type"] == "image/webp"
        picture = Image.open(io.BytesIO(avatar.body))
        assert (picture.format, picture.size) == ("WEBP", (256, 256))
        expected = Image.new("RGB", (1, 1), color).getpixel((0, 0))
        actual = picture.convert("RGB").getpixel((128, 128))
        assert isinstance(expected, tuple) and isinstance(actual, tuple)
        assert all(abs(a - e) < 40 for a, e in zip(actual, expected, strict=True)), (fmt, actual)


async def test_bad_uploads_are_refused_and_change_nothing(
    client: ApiClient, mailbox: Mailbox
) -> None:
    await client.signed_up(mailbox)
    before = (await client.get("/api/users/me")).body["avatarUrl"]
    png = image_bytes("PNG", size=(300, 300))
    cases = [
        (b"just some text, not an image", 415, "unsupported_image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", 415, "unsupported_image"),
        (image_bytes("BMP"), 415, "unsupported_image"),
        (png[: len(png) // 2], 415, "unsupported_image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * (6 * 1024 * 1024), 413, "image_too_large"),
    ]
    for data, status, code in cases:
        reply = await upload(client, data)
        assert (reply.status, reply.error_code) == (status, code), data[:20]
    assert (await client.get("/api/users/me")).body["avatarUrl"] == before
    reply = await client.call(
        "PUT", "/api/users/me/avatar", data=png, headers={"Content-Type": "image/png"}
    )
    assert (reply.status, reply.error_code) == (415, "unsupported_media_type")


async def test_avatar_caching_and_default(client: ApiClient, mailbox: Mailbox) -> None:
    await client.signed_up(mailbox, "Ann")
    default_url = (await client.get("/api/users/me")).body["avatarUrl"]
    first = await client.get(default_url)
    assert first.status == 200 and first.headers["Content-Type"] == "image/webp"
    assert "immutable" in first.headers["Cache-Control"]
    etag = first.headers["ETag"]
    bare_url = default_url.split("?")[0]
    revalidated = await client.get(bare_url, headers={"If-None-Match": etag})
    assert revalidated.status == 304 and revalidated.body == b""
    assert "immutable" not in (await client.get(bare_url)).headers["Cache-Control"]

    uploaded_url = (await upload(client, image_bytes("PNG"))).body["avatarUrl"]
    assert uploaded_url != default_url
    assert (await client.get(bare_url, headers={"If-None-Match": etag})).status == 200

    assert (await client.delete("/api/users/me/avatar")).status == 204
    assert (await client.get("/api/users/me")).body["avatarUrl"] == default_url
    assert (await client.get(bare_url, headers={"If-None-Match": etag})).status == 304


async def test_malformed_multipart_is_400(client: ApiClient, mailbox: Mailbox) -> None:
    await client.signed_up(mailbox)
    no_boundary = await client.call(
        "PUT", "/api/users/me/avatar", data=b"x", headers={"Content-Type": "multipart/form-data"}
    )
    assert (no_boundary.status, no_boundary.error_code) == (400, "malformed_upload")
    broken_part = b'--b\r\nContent-Disposition: form-data; name="a\x0b"\r\n\r\nx\r\n--b--\r\n'
    reply = await client.call(
        "PUT",
        "/api/users/me/avatar",
        data=broken_part,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert (reply.status, reply.error_code) == (400, "malformed_upload")
    empty = await client.call(
        "PUT",
        "/api/users/me/avatar",
        data=b"--b--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert (empty.status, empty.error_code) == (415, "unsupported_image")
