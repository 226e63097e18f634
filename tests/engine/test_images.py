"""Images on the engine below HTTP: the checks of a new message's image parts, the model check, the
chat request's parts and token estimate, and the store's part (an image file's checks, a thread's first
image, image files inlined as data URLs) on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from gateway.engine.images import _MAY_HOLD_IMAGES, Images, inline, media_type
from gateway.engine.prompt import IMAGE_TOKENS, PromptTooLong, chat_request, fit
from gateway.engine.store import HistoryItem, NewMessage, Store, direct, migrate
from gateway.errors import InvalidRequest
from gateway.settings import Settings
from tests.pictures import data_url, picture
from tests.postgres import PgServer, fresh_pg_db

ALIASES = {"gpt-4.1": "MiniMax-M3", "gpt-4o": "MiniMax-M2.7"}
RULES = Images(max_bytes=1000, vision_models=("MiniMax-M3",), aliases=ALIASES)


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": value, "annotations": []}}


def url_part(url: str, detail: str = "auto") -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, "detail": detail}}


def file_part(file_id: str, detail: str = "auto") -> dict[str, Any]:
    return {"type": "image_file", "image_file": {"file_id": file_id, "detail": detail}}


def refused(exc: pytest.ExceptionInfo[InvalidRequest], param: str, *words: str) -> None:
    assert exc.value.param == param, exc.value.message
    assert all(w in exc.value.message for w in words), exc.value.message


# -- a new message's parts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "kind"), [("PNG", "png"), ("JPEG", "jpeg"), ("GIF", "gif"), ("WEBP", "webp")]
)
def test_media_type_reads_the_signature(fmt: str, kind: str) -> None:
    assert media_type(picture((3, 2), fmt)) == f"image/{kind}"


@pytest.mark.parametrize("data", [b"", b"hello", b"RIFF\x00\x00\x00\x00WAVE", b"%PDF-1.7"])
def test_media_type_of_other_bytes_is_none(data: bytes) -> None:
    assert media_type(data) is None


def test_the_settings_and_which_models_see() -> None:
    assert Settings().vision_models == ["MiniMax-M3"] and Settings().max_image_bytes == 20 * 1024 * 1024
    assert Settings(vision_models="MiniMax-M3, MiniMax-M4").vision_models == ["MiniMax-M3", "MiniMax-M4"]
    assert RULES.sees("MiniMax-M3") and RULES.sees("minimax-m3") and RULES.sees("gpt-4.1")
    assert not RULES.sees("MiniMax-M2.7") and not RULES.sees("gpt-4o")
    assert Images(1, ("minimax-m3",), {}).sees("MiniMax-M3")
    assert not Images(1, (), {}).sees("MiniMax-M3")


def test_parts_are_stored_in_openais_shape_detail_kept() -> None:
    png = data_url(picture((2, 2)))
    assert RULES.part("image_url", {"url": "https://example.com/a.png"}, "user", "content[1]") == url_part(
        "https://example.com/a.png"
    )
    assert RULES.part("image_url", {"url": png, "detail": "low"}, "user", "content[0]") == url_part(
        png, "low"
    )
    assert RULES.part("image_file", {"file_id": "file-1", "detail": "high"}, "user", "x") == file_part(
        "file-1", "high"
    )
    assert RULES.part("image_url", {"url": "HTTP://Example.com/b"}, "user", "c")["image_url"]["url"] == (
        "HTTP://Example.com/b"
    )


BIG = picture((40, 40), noise=True)
BAD_URLS = {
    "ftp": ("ftp://example.com/a.png", "must be an https://"),
    "no host": ("https:///a.png", "names no host"),
    "svg": ("data:image/svg+xml;base64,PHN2Zz4=", "must be an https://"),
    "not base64": ("data:image/png;base64,@@@@", "base64 is not valid"),
    "bad padding": ("data:image/png;base64,iVBORw0", "base64 is not valid"),
    "not an image": (data_url(b"just some text"), "not an image"),
    "empty": ("data:image/png;base64,", "not an image"),
    "too large": (data_url(BIG), "MAX_IMAGE_BYTES (1000 bytes)"),
    "just over": (data_url(b"\x89PNG\r\n\x1a\n" + b"\0" * 993), "1001 bytes, more than MAX_IMAGE_BYTES"),
    "relative": ("/images/a.png", "must be an https://"),
}


@pytest.mark.parametrize("case", sorted(BAD_URLS))
def test_a_bad_image_url_names_the_url(case: str) -> None:
    url, words = BAD_URLS[case]
    with pytest.raises(InvalidRequest) as exc:
        RULES.part("image_url", {"url": url}, "user", "messages[2].content[1]")
    refused(exc, "messages[2].content[1].image_url.url", words)


def test_an_image_at_the_size_limit_is_taken() -> None:
    exact = b"\x89PNG\r\n\x1a\n" + b"\0" * 992
    assert RULES.part("image_url", {"url": data_url(exact)}, "user", "c")["type"] == "image_url"


@pytest.mark.parametrize("kind", ["image_url", "image_file"])
def test_an_image_in_an_assistant_message_is_refused(kind: str) -> None:
    value = {"url": "https://example.com/a.png", "file_id": "file-1"}
    with pytest.raises(InvalidRequest) as exc:
        RULES.part(kind, value, "assistant", "content[2]")
    refused(exc, "content[2].type", "only in user messages")


# -- the chat request ------------------------------------------------------------------------------

RUN = {"model": "MiniMax-M3", "instructions": "", "tools": [], "truncation_strategy": {"type": "auto"}}


def user(*content: dict[str, Any], message_id: str = "msg_1") -> HistoryItem:
    return HistoryItem(role="user", run_id=None, message_id=message_id, content=list(content))


def test_text_only_turns_stay_strings() -> None:
    history = [
        user(text("first"), text("second")),
        HistoryItem(role="assistant", run_id="run_1", message_id="msg_2", content=[text("ok")]),
        user(text("again"), message_id="msg_3"),
    ]
    assert chat_request(RUN, history, {})["messages"] == [
        {"role": "user", "content": "first\nsecond"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "again"},
    ]


def test_a_turn_with_images_is_its_parts_in_order() -> None:
    png = data_url(picture((2, 2)))
    history = [user(text("a"), url_part(png, "high"), text("b"), url_part("https://example.com/c.gif"))]
    assert chat_request(RUN, history, {})["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "a"},
                {"type": "image_url", "image_url": {"url": png, "detail": "high"}},
                {"type": "text", "text": "b"},
                {"type": "image_url", "image_url": {"url": "https://example.com/c.gif", "detail": "auto"}},
            ],
        }
    ]


def test_an_image_costs_image_tokens_not_its_urls_length() -> None:
    huge = data_url(b"\x89PNG\r\n\x1a\n" + b"\0" * 3_000_000)  # 4 MB of base64: a million "tokens" as text
    history = [user(text("old"), message_id="m0"), user(text("look"), url_part(huge), message_id="m1")]
    run = {**RUN, "max_prompt_tokens": IMAGE_TOKENS + 50}
    assert [m["content"] for m in fit(history, run, 0, "MiniMax-M3")][-1][1]["image_url"]["url"] == huge
    assert len(fit(history, run, 0, "MiniMax-M3")) == 2
    with pytest.raises(PromptTooLong):
        fit(history, {**run, "max_prompt_tokens": IMAGE_TOKENS - 10}, 0, "MiniMax-M3")


def test_an_image_file_must_be_inlined_first() -> None:
    with pytest.raises(ValueError, match="inlined"):
        chat_request(RUN, [user(file_part("file-1"))], {})


# -- the store's part, on SQLite and PostgreSQL ----------------------------------------------------


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        await migrate(url)
    else:
        server: PgServer = request.getfixturevalue("pg_server")
        url = await fresh_pg_db(server, migrated=True)
    opened = await Store.open(url)
    try:
        yield opened
    finally:
        await opened.close()


def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


async def upload(
    store: Store, who: str, data: bytes, purpose: str = "vision", part_bytes: int = 1 << 20
) -> str:
    file_id = await store.files.begin(who, filename="f.png", purpose=purpose, expires_at=None)
    for i in range(0, max(len(data), 1), part_bytes):
        await store.files.write_part(file_id, i // part_bytes, data[i : i + part_bytes])
    await store.files.finish(who, file_id, len(data))
    return file_id


def message(role: str, *content: dict[str, Any]) -> NewMessage:
    return {"role": role, "content": list(content)}  # type: ignore[typeddict-item]


@pytest.mark.asyncio
async def test_an_image_files_checks(store: Store) -> None:
    who, other = tenant(), tenant()
    rules = Images(max_bytes=2000, vision_models=("MiniMax-M3",), aliases={})
    good = await upload(store, who, picture((4, 3)))
    await rules.check_file(store.files, who, good, "content[0]")
    await rules.check_file(store.files, who, await upload(store, who, picture((4, 3)), "assistants"), "c")
    cases = {
        await upload(store, other, picture((4, 3))): "No such File object",
        "file-nope": "No such File object",
        await upload(store, who, b"hello, world"): "is not an image (PNG, JPEG, GIF or WEBP)",
        await upload(store, who, b""): "is not an image",
        await upload(store, who, picture((4, 3)), "user_data"): "purpose 'user_data'",
        await upload(store, who, picture((40, 40), noise=True)): "more than MAX_IMAGE_BYTES (2000)",
    }
    for file_id, words in cases.items():
        with pytest.raises(InvalidRequest) as exc:
            await rules.check_file(store.files, who, file_id, "messages[1].content[3]")
        refused(exc, "messages[1].content[3].image_file.file_id", file_id, words)


@pytest.mark.asyncio
async def test_refuse_blind_names_the_threads_first_image(store: Store) -> None:
    who = tenant()
    blind = await store.assistants.create(who, model="MiniMax-M2.7")
    seeing = await store.assistants.create(who, model="gpt-4.1")
    text_only = await store.threads.create(who, messages=[message("user", text("plain"))])
    decoy = text("image_file")  # its JSON holds "image_file": the prefilter's false hit, checked exactly
    thread = await store.threads.create(
        who,
        messages=[
            message("user", decoy),
            message("assistant", text("noted")),
            message("user", text("see"), url_part("https://example.com/a.png")),
            message("user", file_part("file-1")),
        ],
    )
    listed = (await store.messages.list(who, thread["id"], order="asc"))["data"]
    key = {"b_thread": thread["id"], "b_tenant": who}
    hits = await store.db.read(lambda conn: [r.id for r in direct.rows(conn, _MAY_HOLD_IMAGES, key)])
    assert hits == [listed[0]["id"], listed[2]["id"], listed[3]["id"]]
    names = f"messages[{listed[2]['id']}].content[1] is an image_url"

    async def check(thread_id: str | None, model: str | None, assistant: str, new: Any = ()) -> None:
        await RULES.refuse_blind(store, who, thread_id, model, assistant, new)

    await check(text_only["id"], "MiniMax-M2.7", blind["id"])  # no image: any model
    await check(thread["id"], "MiniMax-M3", blind["id"])
    await check(thread["id"], None, seeing["id"])  # the assistant's model, through MODEL_ALIASES
    for model, assistant, named in [
        ("MiniMax-M2.7", seeing["id"], "'MiniMax-M2.7'"),
        (None, blind["id"], "'MiniMax-M2.7'"),
        ("gpt-4o", seeing["id"], "'gpt-4o' (MiniMax-M2.7)"),
    ]:
        with pytest.raises(InvalidRequest) as exc:
            await check(thread["id"], model, assistant)
        refused(exc, "model", f"The model {named} does not take images ({names}); use one of: MiniMax-M3")
    # Another tenant's thread holds no image for this one (its run is a 404 later).
    await RULES.refuse_blind(store, tenant(), thread["id"], "MiniMax-M2.7", blind["id"], ())
    # The request's own messages are named first, without reading the thread.
    new = [("additional_messages[0]", [text("x")]), ("additional_messages[1]", [text("y"), file_part("f")])]
    with pytest.raises(InvalidRequest) as exc:
        await check(None, "MiniMax-M2.7", blind["id"], new)
    refused(exc, "model", "(additional_messages[1].content[1] is an image_file)")


@pytest.mark.asyncio
async def test_inline_makes_image_files_data_urls(store: Store) -> None:
    who = tenant()
    png, jpeg = picture((4, 3)), picture((30, 20), "JPEG")
    png_id = await upload(store, who, png)
    jpeg_id = await upload(store, who, jpeg, part_bytes=100)  # several parts, joined in order
    thread = await store.threads.create(
        who,
        messages=[
            message("user", text("one"), file_part(png_id, "low")),
            message("user", text("two")),
            message("user", url_part("https://example.com/x.png"), file_part(jpeg_id), file_part(png_id)),
        ],
    )
    history = await store.history(who, thread["id"])
    settings = Settings()
    out = await inline(store.files, who, {"model": "MiniMax-M3"}, history, settings)
    assert out[1] is history[1]
    assert out[0].content == [text("one"), url_part(data_url(png), "low")]
    assert out[2].content == [
        url_part("https://example.com/x.png"),
        url_part(data_url(jpeg, "jpeg")),
        url_part(data_url(png)),
    ]
    assert history[0].content[1] == file_part(png_id, "low")  # the history read is not changed
    text_only = await store.threads.create(who, messages=[message("user", text("plain"))])
    plain = await store.history(who, text_only["id"])
    assert await inline(store.files, who, {"model": "MiniMax-M2.7"}, plain, settings) is plain
    with pytest.raises(InvalidRequest) as exc:
        await inline(store.files, who, {"model": "MiniMax-M2.7"}, history, settings)
    assert exc.value.code == "invalid_prompt" and "does not take images" in exc.value.message
    await store.files.delete(who, jpeg_id)
    with pytest.raises(InvalidRequest) as exc:
        await inline(store.files, who, {"model": "MiniMax-M3"}, history, settings)
    assert exc.value.code == "invalid_prompt" and f"image file {jpeg_id}" in exc.value.message
    assert "was deleted" in exc.value.message
