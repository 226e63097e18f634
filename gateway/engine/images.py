"""Images in user messages, on the engine.

A user message may hold `image_url` parts (an http(s) URL, or a `data:image/...;base64,` URL whose bytes
are checked here) and `image_file` parts (a file of the caller's with purpose `vision` or `assistants`),
stored in OpenAI's content shape, `detail` kept as sent. MiniMax's chat takes images as URLs, so when a
run's request is built each `image_file` goes inline as a `data:` URL of its bytes (`inline`, where the
executor holds the run's history: resumed runs are built the same way); an http(s) URL goes as it is.

Only the models of `VISION_MODELS` take images. A run on another model is refused when it is created if
its new messages or its thread hold an image (`Images.refuse_blind`); `inline` refuses it again in case
an image arrived between that check and the run's creation, so MiniMax never gets one it cannot take.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from sqlalchemy import Text, bindparam, cast, or_, select

from gateway.engine.models import model_aliases
from gateway.engine.store import HistoryItem, NotFound, Store, direct
from gateway.engine.store.files import Files
from gateway.engine.store.tables import messages
from gateway.errors import InvalidRequest
from gateway.settings import Settings

JSON = dict[str, Any]
KINDS: Final = ("image_url", "image_file")
PURPOSES: Final = ("vision", "assistants")
_DATA_URL: Final = re.compile(r"data:image/(png|jpeg|gif|webp);base64,", re.IGNORECASE)
_URL_RULE: Final = "an https://, http:// or data:image/(png|jpeg|gif|webp);base64, URL"
_FORMATS: Final = "PNG, JPEG, GIF or WEBP"

# A prefilter for the thread's user messages that may hold an image: their JSON names an image part's
# type. Exact checks follow on the few it finds; a thread of text only costs this one indexed query.
_m = messages.c
_TEXT = cast(_m.content, Text)
_MAY_HOLD_IMAGES: Final = (
    select(_m.id)
    .where(
        _m.thread_id == bindparam("b_thread"),
        _m.tenant == bindparam("b_tenant"),
        _m.role == "user",
        or_(_TEXT.like('%"image_url"%'), _TEXT.like('%"image_file"%')),
    )
    .order_by(_m.seq)
)


def media_type(data: bytes) -> str | None:
    """The image type its first bytes announce (PNG, JPEG, GIF, WEBP), else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def first_image(content: Sequence[Mapping[str, Any]]) -> tuple[int, str] | None:
    """The index and type of the first image part of stored content, or None."""
    for i, block in enumerate(content):
        if block.get("type") in KINDS:
            return i, str(block["type"])
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class Images:
    """The image rules of one gateway: `MAX_IMAGE_BYTES`, `VISION_MODELS`, `MODEL_ALIASES`."""

    max_bytes: int
    vision_models: tuple[str, ...]
    aliases: Mapping[str, str]

    @classmethod
    def of(cls, settings: Settings) -> Images:
        return cls(settings.max_image_bytes, tuple(settings.vision_models), model_aliases(settings))

    def sees(self, model: str) -> bool:
        """Whether `model` (as the client named it) takes images, once `MODEL_ALIASES` mapped it."""
        mapped = self.aliases.get(model, model).lower()
        return any(mapped == m.lower() for m in self.vision_models)

    def refusal(self, model: str, where: str, kind: str, code: str | None = None) -> InvalidRequest:
        mapped = self.aliases.get(model, model)
        named = f"'{model}'" if mapped == model else f"'{model}' ({mapped})"
        return InvalidRequest(
            f"The model {named} does not take images ({where} is an {kind}); "
            f"use one of: {', '.join(self.vision_models) or '(none: VISION_MODELS is empty)'}",
            param="model",
            code=code,
        )

    # -- a new message's parts -------------------------------------------------------------------

    def part(self, kind: str, value: Mapping[str, Any], role: str, where: str) -> JSON:
        """An image part as stored. An `image_url` is checked here; an `image_file`'s file is checked
        by `check_file`, which needs the store."""
        if role != "user":
            raise InvalidRequest(
                f"Images are allowed only in user messages, not in {role} messages", param=f"{where}.type"
            )
        detail = value.get("detail") or "auto"
        if kind == "image_file":
            return {"type": "image_file", "image_file": {"file_id": value["file_id"], "detail": detail}}
        self._check_url(value["url"], f"{where}.image_url.url")
        return {"type": "image_url", "image_url": {"url": value["url"], "detail": detail}}

    def _check_url(self, url: str, param: str) -> None:
        scheme = url[:8].lower()
        if scheme.startswith(("https://", "http://")):
            if not urlsplit(url).hostname:
                raise InvalidRequest(f"The image URL {url[:100]!r} names no host", param=param)
            return
        found = _DATA_URL.match(url)
        if found is None:
            raise InvalidRequest(f"An image URL must be {_URL_RULE}; got {url[:40]!r}...", param=param)
        payload = url[found.end() :]
        if len(payload) // 4 * 3 > self.max_bytes + 2:
            raise InvalidRequest(
                f"The data URL's image is larger than MAX_IMAGE_BYTES ({self.max_bytes} bytes)", param=param
            )
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("The data URL's base64 is not valid", param=param) from None
        if len(data) > self.max_bytes:
            raise InvalidRequest(
                f"The data URL's image is {len(data)} bytes, more than MAX_IMAGE_BYTES ({self.max_bytes})",
                param=param,
            )
        if media_type(data) is None:
            raise InvalidRequest(f"The data URL's bytes are not an image ({_FORMATS})", param=param)

    async def check_file(self, files: Files, tenant: str, file_id: str, where: str) -> None:
        """An `image_file` names a file of `tenant`'s, with an image purpose, an image's signature
        and at most `max_bytes`."""
        param = f"{where}.image_file.file_id"
        try:
            row = await files.row(tenant, file_id)
        except NotFound:
            raise InvalidRequest(f"No such File object: {file_id}", param=param) from None
        if row["purpose"] not in PURPOSES:
            raise InvalidRequest(
                f"File {file_id} has purpose '{row['purpose']}': an image_file needs purpose 'vision' "
                "or 'assistants'",
                param=param,
            )
        if row["bytes"] > self.max_bytes:
            raise InvalidRequest(
                f"File {file_id} is {row['bytes']} bytes, more than MAX_IMAGE_BYTES ({self.max_bytes})",
                param=param,
            )
        if media_type(await files.part(file_id, 0) or b"") is None:
            raise InvalidRequest(f"File {file_id} is not an image ({_FORMATS})", param=param)

    # -- a run's model ---------------------------------------------------------------------------

    async def refuse_blind(
        self,
        store: Store,
        tenant: str,
        thread_id: str | None,
        model: str | None,
        assistant_id: str,
        new: Sequence[tuple[str, Sequence[Mapping[str, Any]]]],
    ) -> None:
        """Raise `refusal` if a run on `model` (None: the assistant's) would send an image to a model
        that takes none. `new`: the messages the run's request adds, as (where, stored content);
        `thread_id`: the thread they join (None: a thread made with them)."""
        if model is not None and self.sees(model):
            return
        found: tuple[str, str] | None = None
        for where, content in new:
            if (hit := first_image(content)) is not None:
                found = f"{where}.content[{hit[0]}]", hit[1]
                break
        if found is None and thread_id is not None:
            found = await _thread_image(store, tenant, thread_id)
        if found is None:
            return
        if model is None:
            model = str((await store.assistants.retrieve(tenant, assistant_id))["model"])
        if not self.sees(model):
            raise self.refusal(model, *found)


async def _thread_image(store: Store, tenant: str, thread_id: str) -> tuple[str, str] | None:
    """The first image of a thread's user messages: (where, type), or None."""
    key = {"b_thread": thread_id, "b_tenant": tenant}
    ids = await store.db.read(lambda conn: [r.id for r in direct.rows(conn, _MAY_HOLD_IMAGES, key)])
    for message_id in ids:
        try:
            message = await store.messages.retrieve(tenant, thread_id, message_id)
        except NotFound:
            continue  # deleted since
        if (hit := first_image(message["content"])) is not None:
            return f"messages[{message_id}].content[{hit[0]}]", hit[1]
    return None


# -- a run's request -------------------------------------------------------------------------------


async def inline(
    files: Files, tenant: str, run: Mapping[str, Any], history: list[HistoryItem], settings: Settings
) -> list[HistoryItem]:
    """`history` with each `image_file` part an `image_url` part holding its file's bytes as a `data:`
    URL (the same list when there is none). Raises `InvalidRequest` (the run fails) if the run's model
    takes no images, or if an image's file was deleted since its message was written."""
    out: list[HistoryItem] | None = None
    urls: dict[str, str] = {}
    for n, item in enumerate(history):
        hit = first_image(item.content) if item.role == "user" else None
        if hit is None:
            continue
        images = Images.of(settings)
        if not images.sees(run["model"]):
            where = f"messages[{item.message_id}].content[{hit[0]}]"
            raise images.refusal(run["model"], where, hit[1], code="invalid_prompt")
        if not any(block.get("type") == "image_file" for block in item.content):
            continue
        content = []
        for block in item.content:
            if block.get("type") == "image_file":
                file = block["image_file"]
                if file["file_id"] not in urls:
                    urls[file["file_id"]] = await _data_url(files, tenant, file["file_id"], item.message_id)
                url = {"url": urls[file["file_id"]], "detail": file.get("detail") or "auto"}
                block = {"type": "image_url", "image_url": url}
            content.append(block)
        out = out or list(history)
        out[n] = dataclasses.replace(item, content=content)
    return history if out is None else out


async def _data_url(files: Files, tenant: str, file_id: str, message_id: str | None) -> str:
    gone = InvalidRequest(
        f"The image file {file_id} of message {message_id} was deleted: delete the message, or upload "
        "the image again in a new one",
        code="invalid_prompt",
    )
    try:
        row = await files.row(tenant, file_id)
    except NotFound:
        raise gone from None
    parts: list[bytes] = []
    while (part := await files.part(file_id, len(parts))) is not None:
        parts.append(part)
    data = b"".join(parts)
    if len(data) != row["bytes"]:
        raise gone  # deleted while it was read
    kind = media_type(data) or "application/octet-stream"  # an image when its message was written
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
