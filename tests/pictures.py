"""Real images for the tests (Pillow), and data URLs of them."""

from __future__ import annotations

import base64
import io
import os
from typing import Any

from PIL import Image


def picture(size: tuple[int, int], fmt: str = "PNG", noise: bool = False, **options: Any) -> bytes:
    """An image of `size` in `fmt` (Pillow's save `options`); with `noise`, random pixels (it compresses
    badly: a large file)."""
    image = Image.new("RGB", size, (10, 120, 240))
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def data_url(data: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"
