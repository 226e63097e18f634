"""Images in user messages through the real Python SDK, on the engine over SQLite and over PostgreSQL,
with the emulator's vision model upstream: data URLs, http(s) URLs and uploaded image files reach
MiniMax-M3 (the emulator says what it received, byte-exact); a model without vision is refused before
anything runs; every bad image part is a 400 naming it."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from gateway.app import create_app
from gateway.emulator.app import create_emulator_app
from gateway.emulator.config import EmulatorConfig
from gateway.emulator.replies import text_reply, tool_result_reply
from gateway.emulator.state import Context
from gateway.loopback import ServerThread
from tests.e2e.conftest import settings_for
from tests.e2e.files_helpers import pg_database
from tests.pictures import data_url, picture
from tests.sdk_messages import first_text

MAX_IMAGE_BYTES = 64_000
POLL = 50  # ms between the SDK's polls of a run
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


@dataclass
class Vision:
    """An engine gateway (`url`) in front of an emulator (`emulator`: its record of chat requests)."""

    url: str
    emulator: Context

    def client(self, key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.url, api_key=key or f"sk-{uuid.uuid4().hex[:12]}", max_retries=0, timeout=60
        )

    def requests_with(self, token: str) -> list[dict[str, Any]]:
        return [body for body in list(self.emulator.chat_requests) if token in str(body.get("messages"))]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def gw(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vision]:
    options: dict[str, Any] = {"keepalive_interval": 0, "max_image_bytes": MAX_IMAGE_BYTES}
    if request.param == "postgresql":
        options.update(database_url=pg_database(request.getfixturevalue("pg_server")), migrate_on_start=True)
    emulator = create_emulator_app(EmulatorConfig())
    with ServerThread(emulator) as upstream:
        directory = tmp_path_factory.mktemp(f"images-{request.param}")
        with ServerThread(create_app(settings_for("engine", upstream.url, directory, **options))) as server:
            yield Vision(server.url + "/v1", emulator.state.emulator)


def seen(data: bytes, size: str, fmt: str) -> str:
    return f"a {size} {fmt} (SHA-256 prefix {hashlib.sha256(data).hexdigest()[:8]})"


def token() -> str:
    return f"tok{uuid.uuid4().hex[:10]}"


def text(value: str) -> Any:
    return {"type": "text", "text": value}


def image_url(url: str, **detail: str) -> Any:
    return {"type": "image_url", "image_url": {"url": url, **detail}}


def image_file(file_id: str, **detail: str) -> Any:
    return {"type": "image_file", "image_file": {"file_id": file_id, **detail}}


def last_user(body: dict[str, Any]) -> Any:
    return [m for m in body["messages"] if m["role"] == "user"][-1]["content"]


def test_a_streamed_run_sees_a_data_url_and_an_uploaded_file(gw: Vision) -> None:
    sdk = gw.client()
    png, jpeg = picture((4, 3)), picture((5, 7), "JPEG")
    uploaded = sdk.files.create(file=("photo.jpg", jpeg), purpose="vision")
    tok = token()
    assistant = sdk.beta.assistants.create(model="MiniMax-M3")
    thread = sdk.beta.threads.create()
    content = [
        text(f"{tok} compare this "),
        image_url(data_url(png), detail="high"),
        text("with this"),
        image_file(uploaded.id),
    ]
    message = sdk.beta.threads.messages.create(thread.id, role="user", content=content)
    assert [c.type for c in message.content] == ["text", "image_url", "text", "image_file"]
    blocks: Any = message.content
    assert (blocks[1].image_url.url, blocks[1].image_url.detail) == (data_url(png), "high")
    assert (blocks[3].image_file.file_id, blocks[3].image_file.detail) == (uploaded.id, "auto")

    with sdk.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        streamed = "".join(stream.text_deltas)
        run = stream.get_final_run()
    expected = (
        f"I received 2 images: image 1 is {seen(png, '4x3', 'PNG')}, image 2 is {seen(jpeg, '5x7', 'JPEG')}. "
        + text_reply(f"{tok} compare this with this")
    )
    assert run.status == "completed" and streamed == expected
    (sent,) = gw.requests_with(tok)
    assert sent["model"] == "MiniMax-M3"
    assert last_user(sent) == [
        {"type": "text", "text": f"{tok} compare this "},
        {"type": "image_url", "image_url": {"url": data_url(png), "detail": "high"}},
        {"type": "text", "text": "with this"},
        {"type": "image_url", "image_url": {"url": data_url(jpeg, "jpeg"), "detail": "auto"}},
    ]
    stored = sdk.beta.threads.messages.list(thread.id, order="asc").data
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[0].content == message.content
    assert first_text(stored[1]) == expected


def test_an_http_url_goes_as_it_is_and_text_turns_stay_strings(gw: Vision) -> None:
    sdk = gw.client()
    tok = token()
    assistant = sdk.beta.assistants.create(model="gpt-4.1")  # MODEL_ALIASES: MiniMax-M3
    cat = "https://example.com/cat.png?size=large"
    thread = sdk.beta.threads.create(
        messages=[{"role": "user", "content": [image_url(cat, detail="low"), text(f"{tok} what is it")]}]
    )
    run = sdk.beta.threads.runs.create_and_poll(
        poll_interval_ms=POLL, thread_id=thread.id, assistant_id=assistant.id
    )
    assert run.status == "completed", run.last_error
    reply = sdk.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    expected = f"I received 1 image: image 1 is at {cat}. " + text_reply(f"{tok} what is it")
    assert first_text(reply) == expected
    sdk.beta.threads.messages.create(thread.id, role="user", content="and in one word?")
    run = sdk.beta.threads.runs.create_and_poll(
        poll_interval_ms=POLL, thread_id=thread.id, assistant_id=assistant.id
    )
    assert run.status == "completed", run.last_error
    reply = sdk.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    assert first_text(reply) == text_reply("and in one word?")
    first, second = gw.requests_with(tok)
    picture_turn = [
        {"type": "image_url", "image_url": {"url": cat, "detail": "low"}},
        {"type": "text", "text": f"{tok} what is it"},
    ]
    assert last_user(first) == picture_turn
    user_turns = [m["content"] for m in second["messages"] if m["role"] == "user"]
    assert user_turns == [picture_turn, "and in one word?"]
    assert isinstance(second["messages"][1]["content"], str)  # the assistant's turn, as before


def test_the_image_goes_again_after_tool_outputs(gw: Vision) -> None:
    sdk = gw.client()
    png = picture((6, 2))
    uploaded = sdk.files.create(file=("chart.png", png), purpose="assistants")
    tok = token()
    assistant = sdk.beta.assistants.create(model="MiniMax-M3", tools=[WEATHER])
    content = [text(f"{tok} get_weather for the city in this picture"), image_file(uploaded.id, detail="low")]
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": content}])
    run = sdk.beta.threads.runs.create_and_poll(
        poll_interval_ms=POLL, thread_id=thread.id, assistant_id=assistant.id
    )
    assert run.status == "requires_action", run.last_error
    assert run.required_action is not None
    calls = run.required_action.submit_tool_outputs.tool_calls
    outputs: Any = [{"tool_call_id": c.id, "output": "sunny"} for c in calls]
    run = sdk.beta.threads.runs.submit_tool_outputs_and_poll(
        poll_interval_ms=POLL,
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=outputs,
    )
    assert run.status == "completed", run.last_error
    first, second = gw.requests_with(tok)
    inlined = {"type": "image_url", "image_url": {"url": data_url(png), "detail": "low"}}
    assert last_user(first)[1] == inlined and last_user(second)[1] == inlined
    reply = sdk.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    assert first_text(reply) == tool_result_reply("get_weather", "sunny")


def refused(exc: pytest.ExceptionInfo[openai.BadRequestError], param: str, *words: str) -> None:
    error = exc.value.body
    assert isinstance(error, dict) and error["param"] == param, error
    assert all(w in error["message"] for w in words), error["message"]


def test_a_model_without_vision_is_refused_before_anything_runs(gw: Vision) -> None:
    sdk = gw.client()
    tok = token()
    blind = sdk.beta.assistants.create(model="MiniMax-M2.7")
    thread = sdk.beta.threads.create(
        messages=[
            {"role": "user", "content": f"{tok} hello"},
            {"role": "user", "content": [text("look"), image_url("https://example.com/a.png")]},
        ]
    )
    image_message = sdk.beta.threads.messages.list(thread.id, order="asc").data[1].id
    names = f"(messages[{image_message}].content[1] is an image_url); use one of: MiniMax-M3"
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as exc:
            sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=blind.id, stream=stream)
        refused(exc, "model", f"The model 'MiniMax-M2.7' does not take images {names}")
    with pytest.raises(openai.BadRequestError) as exc:
        sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=blind.id, model="gpt-4o")
    refused(exc, "model", f"The model 'gpt-4o' (MiniMax-M2.7) does not take images {names}")
    with pytest.raises(openai.BadRequestError) as exc:
        sdk.beta.threads.create_and_run(
            assistant_id=blind.id,
            thread={
                "messages": [{"role": "user", "content": [text(tok), image_url(data_url(picture((1, 1))))]}]
            },
        )
    refused(exc, "model", "(thread.messages[0].content[1] is an image_url)")
    plain = sdk.beta.threads.create(messages=[{"role": "user", "content": f"{tok} plain"}])
    with pytest.raises(openai.BadRequestError) as exc:
        sdk.beta.threads.runs.create(
            thread_id=plain.id,
            assistant_id=blind.id,
            additional_messages=[{"role": "user", "content": [image_url("http://example.com/b.gif")]}],
        )
    refused(exc, "model", "(additional_messages[0].content[0] is an image_url)")
    # Nothing ran, nothing was added, and the threads take messages and runs as before.
    assert gw.requests_with(tok) == []
    assert sdk.beta.threads.runs.list(thread.id).data == sdk.beta.threads.runs.list(plain.id).data == []
    assert len(sdk.beta.threads.messages.list(plain.id).data) == 1
    sdk.beta.threads.messages.create(thread.id, role="user", content="still here?")
    run = sdk.beta.threads.runs.create_and_poll(
        poll_interval_ms=POLL, thread_id=thread.id, assistant_id=blind.id, model="MiniMax-M3"
    )
    assert run.status == "completed", run.last_error
    run = sdk.beta.threads.runs.create_and_poll(
        poll_interval_ms=POLL, thread_id=plain.id, assistant_id=blind.id
    )
    assert run.status == "completed", run.last_error
    sent = gw.requests_with(tok)
    assert [body["model"] for body in sent] == ["MiniMax-M3", "MiniMax-M2.7"]
    assert all(isinstance(m["content"], str) for m in sent[1]["messages"])


def test_bad_image_parts_are_400s_naming_the_part(gw: Vision) -> None:
    sdk, stranger = gw.client(), gw.client()
    theirs = stranger.files.create(file=("theirs.png", picture((2, 2))), purpose="vision").id
    not_image = sdk.files.create(file=("notes.png", b"just some notes"), purpose="vision").id
    user_data = sdk.files.create(file=("u.png", picture((2, 2))), purpose="user_data").id
    big = picture((200, 200), noise=True)
    assert len(big) > MAX_IMAGE_BYTES
    too_large = sdk.files.create(file=("big.png", big), purpose="vision").id
    cases: list[tuple[Any, str, str]] = [
        (image_file(theirs), "image_file.file_id", f"No such File object: {theirs}"),
        (image_file("file-nope"), "image_file.file_id", "No such File object: file-nope"),
        (image_file(not_image), "image_file.file_id", "is not an image"),
        (image_file(user_data), "image_file.file_id", "purpose 'user_data'"),
        (image_file(too_large), "image_file.file_id", f"more than MAX_IMAGE_BYTES ({MAX_IMAGE_BYTES})"),
        (image_url(data_url(big)), "image_url.url", f"MAX_IMAGE_BYTES ({MAX_IMAGE_BYTES} bytes)"),
        (image_url("data:image/png;base64,not*base64"), "image_url.url", "base64 is not valid"),
        (image_url(data_url(b"GIF? no")), "image_url.url", "not an image"),
        (image_url("data:image/svg+xml;base64,PHN2Zz4="), "image_url.url", "must be an https://"),
        (image_url("ftp://example.com/a.png"), "image_url.url", "must be an https://"),
    ]
    thread = sdk.beta.threads.create()
    assistant = sdk.beta.assistants.create(model="MiniMax-M3")
    for part, where, words in cases:
        content = [text("look"), part]
        with pytest.raises(openai.BadRequestError) as exc:
            sdk.beta.threads.messages.create(thread.id, role="user", content=content)
        refused(exc, f"content[1].{where}", words)
        with pytest.raises(openai.BadRequestError) as exc:
            sdk.beta.threads.create(
                messages=[{"role": "user", "content": [text("a")]}, {"role": "user", "content": content}]
            )
        refused(exc, f"messages[1].content[1].{where}", words)
        with pytest.raises(openai.BadRequestError) as exc:
            sdk.beta.threads.runs.create(
                thread_id=thread.id,
                assistant_id=assistant.id,
                additional_messages=[{"role": "user", "content": content}],
            )
        refused(exc, f"additional_messages[0].content[1].{where}", words)
        with pytest.raises(openai.BadRequestError) as exc:
            sdk.beta.threads.create_and_run(
                assistant_id=assistant.id,
                thread={"messages": [{"role": "user", "content": content}]},
                stream=True,
            )
        refused(exc, f"thread.messages[0].content[1].{where}", words)
    with pytest.raises(openai.BadRequestError) as exc:
        sdk.beta.threads.messages.create(
            thread.id,
            role="assistant",
            content=[text("here you go"), image_url("https://example.com/a.png")],
        )
    refused(exc, "content[1].type", "only in user messages")
    assert sdk.beta.threads.messages.list(thread.id).data == []
    assert sdk.beta.threads.runs.list(thread.id).data == []


def test_a_deleted_image_file_fails_the_run_naming_it(gw: Vision) -> None:
    sdk = gw.client()
    tok = token()
    uploaded = sdk.files.create(file=("gone.png", picture((3, 3))), purpose="vision")
    assistant = sdk.beta.assistants.create(model="MiniMax-M3")
    thread = sdk.beta.threads.create(
        messages=[{"role": "user", "content": [text(tok), image_file(uploaded.id)]}]
    )
    sdk.files.delete(uploaded.id)
    run = sdk.beta.threads.runs.create_and_poll(
        poll_interval_ms=POLL, thread_id=thread.id, assistant_id=assistant.id
    )
    assert run.status == "failed" and run.last_error is not None
    assert run.last_error.code == "invalid_prompt"
    assert f"The image file {uploaded.id} of message" in run.last_error.message
    assert gw.requests_with(tok) == []
    with pytest.raises(openai.BadRequestError) as exc:
        sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, stream=True)
    assert "was deleted" in str(exc.value)
