"""Avatar images: uploads re-encoded to clean 256×256 WebPs, and generated initials avatars.

Every input is built in memory with Pillow.
"""

from __future__ import annotations

import io
import random
import struct
import time
import zlib
from typing import Any

import pytest
from PIL import Image, ImageCms, ImageFile, ImageSequence

from api.errors import ImageTooLarge, UnsupportedImage
from api.users import avatar_images
from api.users.avatar_images import (
    AVATAR_SIZE,
    MAX_SOURCE_PIXELS,
    MAX_UPLOAD_BYTES,
    default_avatar,
    initials_of,
    normalize_avatar,
)

RED = (220, 20, 20)
GREEN = (20, 160, 20)
BLUE = (20, 20, 220)
CENTRE = (AVATAR_SIZE // 2, AVATAR_SIZE // 2)


def encode(image: Image.Image, format: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **params)
    return out.getvalue()


def open_avatar(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "WEBP"
    assert image.size == (AVATAR_SIZE, AVATAR_SIZE)
    image.load()
    return image


def pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = image.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def stripes(size: tuple[int, int], colours: list[tuple[int, int, int]]) -> Image.Image:
    """Equal vertical stripes, left to right."""
    image = Image.new("RGB", size)
    width = size[0] // len(colours)
    for i, colour in enumerate(colours):
        image.paste(colour, (i * width, 0, (i + 1) * width, size[1]))
    return image


def first_half_of_noise(format: str) -> bytes:
    data = encode(Image.effect_noise((200, 200), 64).convert("RGB"), format)
    return data[: len(data) // 2]


def png_claiming(width: int, height: int) -> bytes:
    """A 1×1 PNG whose header claims another size: a few bytes that promise a huge image."""
    png = bytearray(encode(Image.new("1", (1, 1)), "PNG"))
    # Signature (8), IHDR length (4) and type (4), then width and height; the CRC covers the
    # type and the 13 bytes of data.
    png[16:24] = struct.pack(">II", width, height)
    png[29:33] = struct.pack(">I", zlib.crc32(png[12:29]))
    return bytes(png)


# --- accepted uploads ---


@pytest.mark.parametrize("format", ["PNG", "JPEG", "WEBP", "GIF"])
def test_each_supported_format_becomes_a_256px_webp(format: str) -> None:
    source = encode(Image.new("RGB", (300, 200), RED), format)
    avatar = open_avatar(normalize_avatar(source))
    assert avatar.mode == "RGB"
    assert near(pixel(avatar, CENTRE), RED)


def test_small_images_are_scaled_up() -> None:
    avatar = open_avatar(normalize_avatar(encode(Image.new("RGB", (16, 16), BLUE), "PNG")))
    assert near(pixel(avatar, (3, 3)), BLUE)


@pytest.mark.parametrize("format", ["GIF", "WEBP"])
def test_animated_images_keep_their_first_frame(format: str) -> None:
    first, second = Image.new("RGB", (64, 64), RED), Image.new("RGB", (64, 64), BLUE)
    source = encode(first, format, save_all=True, append_images=[second], duration=100)
    assert len(list(ImageSequence.Iterator(Image.open(io.BytesIO(source))))) == 2
    assert near(pixel(open_avatar(normalize_avatar(source)), CENTRE), RED)


def test_multi_picture_jpeg_from_a_phone_is_accepted() -> None:
    first, second = Image.new("RGB", (400, 300), GREEN), Image.new("RGB", (400, 300), BLUE)
    source = encode(first, "MPO", save_all=True, append_images=[second])
    assert near(pixel(open_avatar(normalize_avatar(source)), CENTRE), GREEN)


def test_wide_image_is_cropped_to_its_centre() -> None:
    source = encode(stripes((300, 100), [RED, GREEN, BLUE]), "PNG")
    avatar = open_avatar(normalize_avatar(source))
    last = AVATAR_SIZE - 1
    for xy in [CENTRE, (0, 0), (last, 0), (0, last), (last, last), (0, 128), (last, 128)]:
        assert near(pixel(avatar, xy), GREEN, tolerance=60), xy


def test_tall_image_is_cropped_to_its_centre() -> None:
    tall = Image.new("RGB", (100, 300), RED)
    tall.paste(GREEN, (0, 100, 100, 200))
    source = encode(tall, "PNG")
    avatar = open_avatar(normalize_avatar(source))
    assert near(pixel(avatar, (128, 0)), GREEN, tolerance=60)
    assert near(pixel(avatar, (128, AVATAR_SIZE - 1)), GREEN, tolerance=60)


def test_exif_orientation_is_applied() -> None:
    # Stored sideways, as a phone held upright saves it: red on the left, blue on the right, and
    # Orientation 6 ("rotate 90° clockwise to display") makes red the top and blue the bottom.
    exif = Image.Exif()
    exif[0x0112] = 6
    source = encode(stripes((200, 100), [RED, BLUE]), "JPEG", exif=exif)
    avatar = open_avatar(normalize_avatar(source))
    assert near(pixel(avatar, (128, 30)), RED)
    assert near(pixel(avatar, (128, 225)), BLUE)
    assert near(pixel(avatar, (30, 30)), RED)
    assert near(pixel(avatar, (225, 30)), RED)
    assert "exif" not in avatar.info


def test_metadata_is_stripped() -> None:
    exif = Image.Exif()
    exif[0x010F] = "SpyMaker"  # Make
    exif[0x0110] = "SpyCam 3000"  # Model
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 12.5)  # GPSLatitude
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">SpyXmpNote</x:xmpmeta>'
    source = encode(Image.new("RGB", (300, 300), RED), "JPEG", exif=exif, icc_profile=icc, xmp=xmp)
    assert b"SpyCam 3000" in source

    out = normalize_avatar(source)

    info = open_avatar(out).info
    assert not {"exif", "icc_profile", "xmp"} & set(info)
    for leak in (b"SpyMaker", b"SpyCam", b"SpyXmpNote", b"EXIF", b"ICCP", b"XMP "):
        assert leak not in out


@pytest.mark.parametrize("format", ["PNG", "WEBP", "GIF"])
def test_transparency_survives(format: str) -> None:
    source_image = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    source_image.paste((*BLUE, 255), (150, 0, 300, 300))
    avatar = open_avatar(normalize_avatar(encode(source_image, format)))
    assert avatar.mode == "RGBA"
    assert pixel(avatar, (20, 128))[3] == 0
    right = pixel(avatar, (235, 128))
    assert right[3] == 255
    assert near(right[:3], BLUE)


def test_sixteen_bit_greyscale_keeps_its_tones() -> None:
    grey = Image.new("I;16", (64, 64), 0x8000)
    avatar = open_avatar(normalize_avatar(encode(grey, "PNG")))
    assert near(pixel(avatar, CENTRE), (128, 128, 128), tolerance=8)


# --- refused uploads ---


NOT_SUPPORTED = "not a PNG, JPEG, WebP or GIF"
DAMAGED = "damaged or incomplete"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", NOT_SUPPORTED, id="empty"),
        pytest.param(random.Random(1).randbytes(4096), NOT_SUPPORTED, id="random-bytes"),
        pytest.param(b"Hello, this is just text.\n" * 20, NOT_SUPPORTED, id="text"),
        pytest.param(
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="256" '
            b'height="256"><circle cx="128" cy="128" r="100" fill="red"/></svg>',
            NOT_SUPPORTED,
            id="svg",
        ),
        pytest.param(encode(Image.new("RGB", (64, 64), RED), "BMP"), NOT_SUPPORTED, id="bmp"),
        pytest.param(encode(Image.new("RGB", (64, 64), RED), "TIFF"), NOT_SUPPORTED, id="tiff"),
        pytest.param(encode(Image.new("RGB", (64, 64), RED), "PDF"), NOT_SUPPORTED, id="pdf"),
        pytest.param(encode(Image.new("RGB", (64, 64), RED), "ICO"), NOT_SUPPORTED, id="ico"),
        pytest.param(first_half_of_noise("PNG"), DAMAGED, id="truncated-png"),
        pytest.param(first_half_of_noise("JPEG"), DAMAGED, id="truncated-jpeg"),
        pytest.param(first_half_of_noise("WEBP"), DAMAGED, id="truncated-webp"),
        pytest.param(first_half_of_noise("GIF"), DAMAGED, id="truncated-gif"),
    ],
)
def test_refuses_what_is_not_a_supported_image(data: bytes, message: str) -> None:
    with pytest.raises(UnsupportedImage, match=message):
        normalize_avatar(data)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def no_decoding(self: ImageFile.ImageFile) -> None:
    raise AssertionError("the bomb's pixels were allocated")


@pytest.mark.parametrize(
    ("width", "height"),
    [
        pytest.param(8_000, 8_000, id="over-our-limit"),
        pytest.param(10_000, 10_000, id="over-pillow-warning"),
        pytest.param(20_000, 20_000, id="over-pillow-error"),
        pytest.param(65_535, 65_535, id="largest-declarable"),
    ],
)
def test_decompression_bomb_is_refused_before_decoding(
    width: int, height: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert width * height > MAX_SOURCE_PIXELS
    bomb = png_claiming(width, height)
    assert len(bomb) < 100
    assert Image.open(io.BytesIO(png_claiming(3, 2))).size == (3, 2)  # the header patch works
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    started = time.perf_counter()
    with pytest.raises(UnsupportedImage, match="too many pixels"):
        normalize_avatar(bomb)
    assert time.perf_counter() - started < 0.5


def test_pillow_bomb_warning_alone_refuses_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow only warns between its limit and twice that; with our own limit out of the way,
    # that warning must still refuse the image rather than let it decode.
    monkeypatch.setattr(avatar_images, "MAX_SOURCE_PIXELS", 10**12)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(UnsupportedImage, match="too many pixels"):
        normalize_avatar(png_claiming(1_200, 1_200))


def test_over_five_megabytes_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    png = encode(Image.new("RGB", (8, 8), RED), "PNG")
    payload = png + b"\0" * (6 * 1024 * 1024 - len(png))

    def no_opening(*args: object, **kwargs: object) -> None:
        raise AssertionError("a too-large upload was opened")

    monkeypatch.setattr(Image, "open", no_opening)
    with pytest.raises(ImageTooLarge):
        normalize_avatar(payload)
    with pytest.raises(ImageTooLarge):
        normalize_avatar(b"\0" * (MAX_UPLOAD_BYTES + 1))


def test_exactly_five_megabytes_is_not_too_large() -> None:
    with pytest.raises(UnsupportedImage):
        normalize_avatar(b"\0" * MAX_UPLOAD_BYTES)


# --- generated avatars ---


def background(avatar: Image.Image) -> tuple[int, ...]:
    return pixel(avatar.convert("RGB"), (2, 2))


def contrast_with_white(colour: tuple[int, ...]) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in colour[:3])
    return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05)


def test_default_avatar_is_a_256px_webp() -> None:
    avatar = open_avatar(default_avatar("u_1", "Ann Lee"))
    assert avatar.mode == "RGB"
    assert contrast_with_white(background(avatar)) >= 4.5


def test_default_avatar_is_deterministic() -> None:
    assert default_avatar("u_1", "Ann Lee") == default_avatar("u_1", "Ann Lee")
    assert default_avatar("u_1", "Ann Lee") != default_avatar("u_1", "Bob Ray")


def test_default_avatar_colour_depends_on_the_seed_and_stays_readable() -> None:
    colours = {background(open_avatar(default_avatar(f"user-{i}", "Ann Lee"))) for i in range(12)}
    assert len(colours) >= 4
    for colour in colours:
        assert contrast_with_white(colour) >= 4.5, colour
    # The colour follows the seed only, so renaming does not repaint the avatar.
    renamed = open_avatar(default_avatar("user-0", "Zed Zee"))
    assert background(renamed) == background(open_avatar(default_avatar("user-0", "Ann Lee")))


def test_default_avatar_letters_are_white_and_centred() -> None:
    avatar = open_avatar(default_avatar("u_1", "Ann Lee")).convert("L")
    ink = avatar.point(lambda v: 255 if v > 200 else 0).getbbox()
    assert ink is not None
    left, top, right, bottom = ink
    assert abs((left + right) / 2 - AVATAR_SIZE / 2) <= 4
    assert abs((top + bottom) / 2 - AVATAR_SIZE / 2) <= 4
    assert right - left > AVATAR_SIZE / 4  # large enough to read at a glance


def test_default_avatar_never_draws_missing_glyph_boxes() -> None:
    # The built-in font has no "É"; drawing "E" beats drawing an empty box.
    assert default_avatar("u_1", "Émile Zola") == default_avatar("u_1", "Emile Zola")
    # Nor has it Cyrillic or CJK: "?" rather than boxes.
    assert default_avatar("u_1", "Юлия Петрова") == default_avatar("u_1", "")
    assert default_avatar("u_1", "山田 太郎") == default_avatar("u_1", "")


@pytest.mark.parametrize(
    ("name", "initials"),
    [
        ("Ann Lee", "AL"),
        ("ann", "A"),
        ("ann lee", "AL"),
        ("Mary Jane Watson", "MW"),
        ("  ann   lee  ", "AL"),
        ("  ", "?"),
        ("", "?"),
        ("!!! ___ ...", "?"),
        ("Émile Zola", "ÉZ"),
        ("E\u0301mile zola", "ÉZ"),  # "É" typed as E + combining accent
        ("Jean-Luc Picard", "JP"),
        ("R2 D2", "RD"),
        ("42", "4"),
        ("юлия петрова", "ЮП"),
        ("山田 太郎", "山太"),
    ],
)
def test_initials_of(name: str, initials: str) -> None:
    assert initials_of(name) == initials
