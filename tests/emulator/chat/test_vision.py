"""The emulator's vision model: MiniMax-M3 acknowledges each image of the last user message (format, pixel
size and hash of a data URL's bytes, an http(s) URL as given, nothing fetched); any other model answers
an image with 2013, in both of MiniMax's error shapes; the image headers are read right for every format
Pillow writes."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from gateway.emulator.chat.model import reply_for
from gateway.emulator.chat.request import parse_chat_request
from gateway.emulator.chat.vision import describe_images, image_size
from gateway.emulator.replies import text_reply
from tests.emulator.chat.reader import COMPAT, NATIVE, assert_compat, assert_native
from tests.pictures import data_url, picture

FORMATS = {"PNG": "png", "JPEG": "jpeg", "GIF": "gif", "WEBP": "webp"}


def prefix(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8]


def image_part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, "detail": "auto"}}


def body(model: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "reasoning_split": True,
        "messages": [{"role": "user", "content": content}],
        **extra,
    }


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("size", [(4, 3), (1, 1), (317, 45)], ids=str)
def test_image_size_reads_each_format(fmt: str, size: tuple[int, int]) -> None:
    assert image_size(picture(size, fmt)) == (fmt, size)


@pytest.mark.parametrize(
    ("options", "label"),
    [({"lossless": True}, "VP8L"), ({"quality": 80}, "VP8"), ({"exif": b"Exif\x00\x00MM"}, "VP8X")],
)
def test_image_size_reads_each_webp_layout(options: dict[str, Any], label: str) -> None:
    data = picture((33, 21), "WEBP", **options)
    assert data[12:16] == label.ljust(4).encode()
    assert image_size(data) == ("WEBP", (33, 21))


def test_progressive_jpeg_and_unknown_bytes() -> None:
    assert image_size(picture((40, 30), "JPEG", progressive=True)) == ("JPEG", (40, 30))
    assert image_size(b"hello, not an image") is None
    assert image_size(b"\x89PNG\r\n\x1a\n") == ("PNG", None)  # cut short: a PNG of unknown size


def test_describe_images_reports_bytes_and_urls() -> None:
    png, gif = picture((4, 3)), picture((9, 2), "GIF")
    text = describe_images([data_url(png), "https://example.com/cat.png", data_url(gif, "gif")])
    assert text == (
        f"I received 3 images: image 1 is a 4x3 PNG (SHA-256 prefix {prefix(png)}), "
        "image 2 is at https://example.com/cat.png, "
        f"image 3 is a 9x2 GIF (SHA-256 prefix {prefix(gif)})."
    )
    junk = b"plain text"
    assert describe_images([data_url(junk)]) == (
        f"I received 1 image: image 1 is 10 bytes of no image format I know (SHA-256 prefix {prefix(junk)})."
    )


def test_parse_keeps_the_last_user_messages_images_in_order() -> None:
    png = picture((4, 3))
    first = {"role": "user", "content": [image_part("https://example.com/old.png")]}
    last = {
        "role": "user",
        "content": [
            {"type": "text", "text": "look at "},
            image_part(data_url(png)),
            {"type": "text", "text": "and"},
            image_part("http://example.com/b.jpg"),
        ],
    }
    req = parse_chat_request(
        {"model": "MiniMax-M3", "messages": [first, {"role": "assistant", "content": "ok"}, last]}
    )
    assert req.user_text == "look at and"
    assert req.images == (data_url(png), "http://example.com/b.jpg")
    reply = reply_for(req, "k")
    assert reply.text == (
        f"I received 2 images: image 1 is a 4x3 PNG (SHA-256 prefix {prefix(png)}), "
        "image 2 is at http://example.com/b.jpg. " + text_reply("look at and")
    )
    assert parse_chat_request(body("MiniMax-M3", "plain")).images == ()


def test_the_vision_model_streams_its_acknowledgement(chat_emu: Any) -> None:
    emu = chat_emu()
    jpeg = picture((5, 7), "JPEG")
    content = [{"type": "text", "text": "what is this"}, image_part(data_url(jpeg, "jpeg"))]
    read = emu.stream(body("MiniMax-M3", content))
    assert read.answer == (
        f"I received 1 image: image 1 is a 5x7 JPEG (SHA-256 prefix {prefix(jpeg)}). "
        + text_reply("what is this")
    )
    assert read.finish_reason == "stop"
    assert emu.ctx.chat_requests[-1]["messages"][0]["content"] == content


IMAGE = image_part("https://example.com/cat.png")
REFUSED = {
    "M2.7 with an image": body("MiniMax-M2.7", [IMAGE]),
    "M2.5 with an old image": {
        "model": "MiniMax-M2.5",
        "messages": [
            {"role": "user", "content": [IMAGE]},
            {"role": "assistant", "content": "a cat"},
            {"role": "user", "content": "and now?"},
        ],
    },
    "broken data URL": body("MiniMax-M3", [image_part("data:image/png;base64,@@@")]),
    "ftp URL": body("MiniMax-M3", [image_part("ftp://example.com/cat.png")]),
    "image part without url": body("MiniMax-M3", [{"type": "image_url", "image_url": {}}]),
    "image in an assistant message": {
        "model": "MiniMax-M3",
        "messages": [{"role": "assistant", "content": [IMAGE]}, {"role": "user", "content": "hi"}],
    },
    "audio part": body("MiniMax-M3", [{"type": "input_audio", "input_audio": {}}]),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_images_a_model_cannot_take_are_2013_in_both_shapes(chat_emu: Any, case: str) -> None:
    emu = chat_emu()
    sent = REFUSED[case]
    native = assert_native(emu.post(sent, NATIVE), 2013)
    compat = assert_compat(emu.post(sent, COMPAT), 400, "bad_request_error", 2013)
    assert native.startswith("invalid params, ") and compat == f"{native} (2013)"
    if case.startswith("M2"):
        assert native == f"invalid params, model {sent['model']} does not support image input"
    assert emu.ctx.chat_requests == [sent, sent] and emu.ctx.chat_stream_ends == []
