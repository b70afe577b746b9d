"""Avatar pixels: uploads re-encoded to a clean 256×256 WebP, and generated initials avatars.

Everything here is synchronous and CPU-bound; callers run it with `asyncio.to_thread`.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import unicodedata
import warnings

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from api.errors import ImageTooLarge, UnsupportedImage

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
AVATAR_SIZE = 256
# Real sources stay below this: phones save 12-24 MP, full-frame cameras 24-36 MP, an 8K
# screenshot is 33 MP. The bound exists because a few KB of PNG can declare billions of pixels;
# at 40 MP a flat PNG or GIF still costs up to ~0.3 GB and ~1 s of CPU to decode and resize
# (JPEGs far less, thanks to draft()), so callers should also bound concurrent calls.
MAX_SOURCE_PIXELS = 40_000_000

# Content sniffing is restricted to these; "JPEG" also yields multi-picture JPEGs ("MPO").
_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")

# Dark enough that white text on each meets WCAG AA contrast (at least 4.5:1).
_PALETTE = (
    (0xC6, 0x28, 0x28),  # red
    (0xAD, 0x14, 0x57),  # pink
    (0x6A, 0x1B, 0x9A),  # purple
    (0x45, 0x27, 0xA0),  # deep purple
    (0x28, 0x35, 0x93),  # indigo
    (0x15, 0x65, 0xC0),  # blue
    (0x00, 0x69, 0x5C),  # teal
    (0x2E, 0x7D, 0x32),  # green
    (0xBF, 0x36, 0x0C),  # burnt orange
    (0x4E, 0x34, 0x2E),  # brown
    (0x37, 0x47, 0x4F),  # slate
)

# Letters and digits in any script: \w without the underscore.
_WORD = re.compile(r"[^\W_]+")

# What Pillow raises for bytes it cannot decode: "image file is truncated" is an OSError, broken
# chunks surface as SyntaxError or struct.error, an oversized PNG text chunk as ValueError.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


def normalize_avatar(data: bytes) -> bytes:
    """Decode an uploaded image and re-encode it as a 256x256 WebP with no metadata."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageTooLarge()
    try:
        # Pillow's own bomb check only warns below 2× its limit; make that a refusal. (The filter
        # is process-wide, but the pixel check in _square_avatar is the guard that counts.)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            avatar = _square_avatar(data)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnsupportedImage(_too_many_pixels_message()) from None
    except UnidentifiedImageError:
        raise UnsupportedImage("This file is not a PNG, JPEG, WebP or GIF image.") from None
    except _DECODE_ERRORS:
        raise UnsupportedImage("The image is damaged or incomplete; try saving it again.") from None
    out = io.BytesIO()
    avatar.save(out, "WEBP", quality=85, method=4)
    return out.getvalue()


def _square_avatar(data: bytes) -> Image.Image:
    # The full-size decode lives only inside this function; callers get the 256×256 result.
    with Image.open(io.BytesIO(data), formats=_FORMATS) as image:
        if image.width * image.height > MAX_SOURCE_PIXELS:
            raise UnsupportedImage(_too_many_pixels_message())
        # JPEGs can decode at 1/2, 1/4 or 1/8 scale: far less memory and time for big photos,
        # while both sides stay at least AVATAR_SIZE. Other formats ignore this.
        image.draft("RGB", (AVATAR_SIZE, AVATAR_SIZE))
        # Decode everything now, so a truncated or corrupt file fails instead of coming out grey.
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
        rgb = _rgb_or_rgba(image)
        avatar = ImageOps.fit(rgb, (AVATAR_SIZE, AVATAR_SIZE), Image.Resampling.LANCZOS)
    # .info still carries the source's EXIF, ICC profile and XMP (GPS position, camera serial…).
    avatar.info.clear()
    return avatar


def _rgb_or_rgba(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I"):
        # 16-bit greyscale PNG: a plain convert() would clip every value above 255 to white.
        image = image.point(lambda value: value / 256).convert("L")
    mode = "RGBA" if image.has_transparency_data else "RGB"
    return image if image.mode == mode else image.convert(mode)


def _too_many_pixels_message() -> str:
    megapixels = MAX_SOURCE_PIXELS // 1_000_000
    return f"The image has too many pixels; upload one of at most {megapixels} megapixels."


def default_avatar(seed: str, name: str) -> bytes:
    """A generated 256x256 WebP: the name's initials (1-2 letters, uppercase; '?' if none) on a
    background colour derived deterministically from `seed` (a user id)."""
    # Not hash(): it is salted per process, and the colour must not change between restarts.
    digest = hashlib.sha256(seed.encode()).digest()
    background = _PALETTE[int.from_bytes(digest[:8], "big") % len(_PALETTE)]
    image = Image.new("RGB", (AVATAR_SIZE, AVATAR_SIZE), background)
    draw = ImageDraw.Draw(image)
    text = _drawable(initials_of(name))
    font = ImageFont.load_default(size=AVATAR_SIZE * 2 // 5)
    # Centre the ink, not the line box: capitals would otherwise sit visibly high.
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    origin = ((AVATAR_SIZE - left - right) / 2, (AVATAR_SIZE - top - bottom) / 2)
    draw.text(origin, text, font=font, fill="white")
    out = io.BytesIO()
    # Lossless keeps the letters crisp, and for flat colour it is half the size of lossy.
    image.save(out, "WEBP", lossless=True)
    return out.getvalue()


def _drawable(initials: str) -> str:
    # Pillow's built-in font has only ASCII letters and digits and draws anything else as an empty
    # box, so fold accents away ("É" → "E") and let other scripts fall back to "?".
    folded = (unicodedata.normalize("NFKD", letter)[:1] for letter in initials)
    return "".join(letter for letter in folded if letter.isascii()).upper() or "?"


def initials_of(name: str) -> str:
    """The first letters of the first and last words, uppercased: "Ann Lee" → "AL"; "?" if none."""
    # NFC so that an "É" typed as E + combining accent stays one letter.
    words = _WORD.findall(unicodedata.normalize("NFC", name))
    if not words:
        return "?"
    firsts = [words[0]] if len(words) == 1 else [words[0], words[-1]]
    return "".join(_capital(word[0]) for word in firsts)


def _capital(letter: str) -> str:
    # A few letters uppercase to two ("ß" → "SS"), which would read as two initials.
    upper = letter.upper()
    return upper if len(upper) == 1 else letter
