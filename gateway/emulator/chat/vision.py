"""What the emulator's vision model (MiniMax-M3) says it saw: for each image of the last user message,
its format, pixel size and the first 8 hex digits of its bytes' SHA-256 (a `data:` URL, decoded here),
or its URL (an http(s) URL: the emulator fetches nothing). Sizes are read from the format's own header
(PNG IHDR, GIF logical screen, JPEG SOF, WEBP VP8/VP8L/VP8X), so no image library is needed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from typing import Final

VISION_MODELS: Final = frozenset({"MiniMax-M3"})
_DATA_URL: Final = re.compile(r"data:([\w.+-]+/[\w.+-]+);base64,", re.IGNORECASE)
_JPEG_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def data_url_bytes(url: str) -> bytes | None:
    """The bytes of a base64 `data:` URL; None if `url` is not one or its base64 is broken."""
    found = _DATA_URL.match(url)
    if found is None:
        return None
    try:
        return base64.b64decode(url[found.end() :], validate=True)
    except (binascii.Error, ValueError):
        return None


def url_is_valid(url: str) -> bool:
    """An http(s) URL, or a base64 `data:` URL that decodes."""
    return url.lower().startswith(("https://", "http://")) or data_url_bytes(url) is not None


def _be(data: bytes, start: int, size: int) -> int:
    return int.from_bytes(data[start : start + size], "big")


def _le(data: bytes, start: int, size: int) -> int:
    return int.from_bytes(data[start : start + size], "little")


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if marker in _JPEG_SOF:
            return _be(data, i + 7, 2), _be(data, i + 5, 2)
        i += 2 + _be(data, i + 2, 2)
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return _le(data, 24, 3) + 1, _le(data, 27, 3) + 1
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = _le(data, 21, 4)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return _le(data, 26, 2) & 0x3FFF, _le(data, 28, 2) & 0x3FFF
    return None


def image_size(data: bytes) -> tuple[str, tuple[int, int] | None] | None:
    """(format, (width, height) or None if its header cannot be read), or None: not an image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG", ((_be(data, 16, 4), _be(data, 20, 4)) if data[12:16] == b"IHDR" else None)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF", ((_le(data, 6, 2), _le(data, 8, 2)) if len(data) >= 10 else None)
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG", _jpeg(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP", _webp(data)
    return None


def describe_image(url: str) -> str:
    data = data_url_bytes(url)
    if data is None:
        return f"at {url}"
    digest = hashlib.sha256(data).hexdigest()[:8]
    seen = image_size(data)
    if seen is None:
        return f"{len(data)} bytes of no image format I know (SHA-256 prefix {digest})"
    kind, size = seen
    pixels = f"{size[0]}x{size[1]}" if size else "unknown-size"
    return f"a {pixels} {kind} (SHA-256 prefix {digest})"


def describe_images(urls: Sequence[str]) -> str:
    """E.g. `I received 2 images: image 1 is a 4x3 PNG (SHA-256 prefix ab12cd34), image 2 is at
    https://example.com/cat.png.`"""
    seen = ", ".join(f"image {i} is {describe_image(url)}" for i, url in enumerate(urls, 1))
    return f"I received {len(urls)} image{'s' if len(urls) != 1 else ''}: {seen}."
