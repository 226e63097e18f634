"""The embeddings client over real loopback HTTP: against the emulator's /v1/embeddings (batching, order,
normalisation, similarity, faults, auth) and against a scripted aiohttp server for what the emulator
never answers (malformed lists, recovery after retries, key masking), plus dead and silent endpoints."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
import orjson
import pytest
import pytest_asyncio
from aiohttp import web

from gateway.emulator import EmulatorConfig, create_emulator_app
from gateway.emulator.embeddings import embed as emulator_embed
from gateway.engine.retrieval.embeddings import MAX_RETRY_AFTER, Embeddings, EmbeddingsError, retry_delay
from gateway.loopback import ServerThread

KEY = "emb-test-key"
FAST = 0.001  # seconds of backoff: retries without waiting


@dataclass
class Recorded:
    auth: str | None
    body: Any = None  # the JSON body, once the app has read it


class Recorder:
    """ASGI middleware keeping each /v1/embeddings request's Authorization header and JSON body."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[Recorded] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/embeddings":
            await self.app(scope, receive, send)
            return
        auth = dict(scope["headers"]).get(b"authorization")
        record = Recorded(None if auth is None else auth.decode())
        self.requests.append(record)
        chunks: list[bytes] = []

        async def recording_receive() -> dict[str, Any]:
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    record.body = orjson.loads(b"".join(chunks))
            return message

        await self.app(scope, recording_receive, send)


@dataclass
class Emulator:
    url: str  # the base URL, .../v1
    recorder: Recorder

    @property
    def inputs(self) -> list[list[str]]:
        return [r.body["input"] for r in self.recorder.requests]


@pytest.fixture(scope="module")
def emulator_server() -> Iterator[Emulator]:
    recorder = Recorder(create_emulator_app(EmulatorConfig(api_key=KEY)))
    with ServerThread(recorder) as server:
        yield Emulator(server.url + "/v1", recorder)


@pytest.fixture
def emulator(emulator_server: Emulator) -> Emulator:
    emulator_server.recorder.requests.clear()
    return emulator_server


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


# --- against the emulator ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_batches_keep_order_and_normalise(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    texts = [f"document {i} about topic{i % 7} with word{i}" for i in range(150)]
    client = Embeddings(session, emulator.url, "test-embed-model", KEY, batch_size=64)
    vectors = await client.embed(texts)

    assert [len(batch) for batch in emulator.inputs] == [64, 64, 22]
    assert [text for batch in emulator.inputs for text in batch] == texts
    for r in emulator.recorder.requests:
        assert r.body["model"] == "test-embed-model" and r.body["encoding_format"] == "float"
        assert r.auth == f"Bearer {KEY}"
    assert len(vectors) == 150
    for text, vector in zip(texts, vectors, strict=True):
        assert vector.dtype == np.float32 and vector.shape == (256,)
        assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-6)
        assert np.allclose(vector, emulator_embed(text)[0], atol=1e-6)  # each text got its own vector


@pytest.mark.asyncio
async def test_similar_texts_are_closer(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    client = Embeddings(session, emulator.url + "/", "m", KEY)  # a trailing slash is fine
    query, near, far, zh_query, zh_near = await client.embed(
        [
            "what is the refund policy for orders",
            "our refund policy: orders may be returned for a refund within 30 days",
            "the weather in paris is sunny today",
            "退款政策是什么",
            "退款政策：三十天内可以退款",  # noqa: RUF001
        ]
    )
    assert float(query @ near) > float(query @ far)  # four words shared, against "the" and "is"
    assert float(zh_query @ zh_near) > 0.3 > float(zh_query @ far)


@pytest.mark.asyncio
async def test_no_texts_no_request(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    assert await Embeddings(session, emulator.url, "m", KEY).embed([]) == []
    assert emulator.recorder.requests == []


@pytest.mark.asyncio
async def test_server_error_is_retried_then_raised(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    client = Embeddings(session, emulator.url, "m", KEY, retries=2, backoff=FAST)
    with pytest.raises(EmbeddingsError) as info:
        await client.embed(["fine", "broken [[embed_fault:http:503]]"])
    assert len(emulator.recorder.requests) == 3
    assert info.value.status == 503
    assert str(info.value) == (
        "the embeddings endpoint answered HTTP 503: emulated embeddings fault: HTTP 503 (after 3 attempts)"
    )


@pytest.mark.asyncio
async def test_retry_after_is_honoured(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    client = Embeddings(session, emulator.url, "m", KEY, retries=1, backoff=0.0)
    start = time.monotonic()
    with pytest.raises(EmbeddingsError) as info:
        await client.embed(["[[embed_fault:http:429:0.3]]"])
    assert time.monotonic() - start >= 0.3
    assert info.value.status == 429 and len(emulator.recorder.requests) == 2


@pytest.mark.parametrize("status", [400, 404, 422])
@pytest.mark.asyncio
async def test_client_errors_are_not_retried(
    emulator: Emulator, session: aiohttp.ClientSession, status: int
) -> None:
    client = Embeddings(session, emulator.url, "m", KEY, retries=3, backoff=FAST)
    with pytest.raises(EmbeddingsError) as info:
        await client.embed([f"[[embed_fault:http:{status}]]"])
    assert len(emulator.recorder.requests) == 1
    assert info.value.status == status
    assert (
        str(info.value)
        == f"the embeddings endpoint answered HTTP {status}: emulated embeddings fault: HTTP {status}"
    )


@pytest.mark.asyncio
async def test_bad_request_names_the_endpoint_message(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(EmbeddingsError) as info:
        await Embeddings(session, emulator.url, "m", KEY, backoff=FAST).embed(["ok", ""])
    assert info.value.status == 400 and "'input[1]' must be a non-empty string" in str(info.value)
    assert len(emulator.recorder.requests) == 1


@pytest.mark.asyncio
async def test_key_sent_only_when_set(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    for key in (None, "wrong-key"):
        with pytest.raises(EmbeddingsError) as info:
            await Embeddings(session, emulator.url, "m", key, backoff=FAST).embed(["hello"])
        assert info.value.status == 401 and "Incorrect API key" in str(info.value)
        assert "wrong-key" not in str(info.value)
    assert [r.auth for r in emulator.recorder.requests] == [None, "Bearer wrong-key"]


# --- dead and silent endpoints ----------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.asyncio
async def test_connection_refused_is_retried_then_raised(session: aiohttp.ClientSession) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    client = Embeddings(session, url, "m", "secret-key", retries=2, backoff=0.1)
    start = time.monotonic()
    with pytest.raises(EmbeddingsError) as info:
        await client.embed(["hello"])
    assert time.monotonic() - start >= 0.3  # two waits: 0.1 s, then 0.2 s
    assert info.value.status is None
    assert (
        str(info.value) == "could not reach the embeddings endpoint (ClientConnectorError) (after 3 attempts)"
    )


@pytest.mark.asyncio
async def test_silent_endpoint_times_out(session: aiohttp.ClientSession) -> None:
    connections: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)  # read nothing, answer nothing

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = Embeddings(
            session, f"http://127.0.0.1:{port}/v1", "m", None, retries=1, timeout=0.2, backoff=0
        )
        with pytest.raises(EmbeddingsError) as info:
            await client.embed(["hello"])
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()
    assert str(info.value) == "the embeddings endpoint did not answer within 0.2 s (after 2 attempts)"
    assert info.value.status is None and len(connections) == 2


# --- against a scripted endpoint --------------------------------------------------------------------


@dataclass
class Script:
    """An embeddings endpoint answering queued (status, body, headers) replies in order."""

    url: str = ""
    replies: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def reply(self, body: Any, status: int = 200, **headers: str) -> None:
        self.replies.append((status, body, headers))

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(orjson.loads(await request.read()))
        status, body, headers = self.replies.pop(0)
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        return web.Response(status=status, body=raw, headers=headers, content_type="application/json")


@pytest_asyncio.fixture
async def script() -> AsyncIterator[Script]:
    script = Script()
    app = web.Application()
    app.router.add_post("/v1/embeddings", script.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    script.url = f"http://{host}:{port}/v1"
    yield script
    await runner.cleanup()


def listing(*vectors: Any, indices: list[Any] | None = None) -> dict[str, Any]:
    data = [{"object": "embedding", "embedding": v} for v in vectors]
    for item, index in zip(data, range(len(data)) if indices is None else indices, strict=True):
        if index is not None:
            item["index"] = index
    return {"object": "list", "data": data, "model": "m", "usage": {"prompt_tokens": 1, "total_tokens": 1}}


@pytest.mark.asyncio
async def test_placed_by_index(script: Script, session: aiohttp.ClientSession) -> None:
    script.reply(listing([0, 2], [3, 4], indices=[1, 0]))
    script.reply(listing([1, 0], [0, 1], indices=[None, None]))  # no index: by position
    client = Embeddings(session, script.url, "m", None, batch_size=2)
    a, b, c, d = await client.embed(["a", "b", "c", "d"])
    assert np.allclose(a, [0.6, 0.8]) and np.allclose(b, [0, 1])
    assert np.allclose(c, [1, 0]) and np.allclose(d, [0, 1])
    assert [r["input"] for r in script.requests] == [["a", "b"], ["c", "d"]]


@pytest.mark.asyncio
async def test_recovers_after_retries(script: Script, session: aiohttp.ClientSession) -> None:
    script.reply({"error": {"message": "overloaded"}}, status=503)
    script.reply(b"<html>bad gateway</html>", status=502, **{"Retry-After": "0"})
    script.reply(listing([1, 1]))
    (vector,) = await Embeddings(session, script.url, "m", None, backoff=FAST).embed(["x"])
    assert np.allclose(vector, [2**-0.5, 2**-0.5]) and len(script.requests) == 3


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "a body that is not JSON"),
        ({"data": "x"}, "no `data` list"),
        ([1, 2], "no `data` list"),
        (listing([1, 0]), "1 vectors for 2 inputs"),
        (listing([1, 0], [0, 1], [1, 1]), "3 vectors for 2 inputs"),
        ({"data": [[1, 0], [0, 1]]}, "data[0] is not an object"),
        (listing([1, 0], [0, 1], indices=[0, 0]), "data[1].index is 0"),
        (listing([1, 0], [0, 1], indices=[0, 2]), "data[1].index is 2"),
        (listing([1, 0], [0, 1], indices=[0, "1"]), "data[1].index is '1'"),
        (listing([1, 0], [0, 1], indices=[True, 0]), "data[0].index is True"),
        (listing([1, 0], ["0", "1"]), "data[1].embedding is not a non-empty list of numbers"),
        (listing([1, 0], [True, 1]), "data[1].embedding is not"),
        (listing([1, 0], [None, 1]), "data[1].embedding is not"),
        (listing([1, 0], []), "data[1].embedding is not"),
        (listing([1, 0], "0.5,0.5"), "data[1].embedding is not"),
        (listing([1, 0], [1, 0, 0]), "vectors of different lengths"),
        (listing([1, 0], [0, 0]), "a vector is all zeros"),
        (listing([1, 0], [1e39, 1]), "out of float32 range"),
    ],
)
@pytest.mark.asyncio
async def test_malformed_answers(
    script: Script, session: aiohttp.ClientSession, body: Any, detail: str
) -> None:
    script.reply(body)
    with pytest.raises(EmbeddingsError) as info:
        await Embeddings(session, script.url, "m", None, backoff=FAST).embed(["a", "b"])
    assert detail in str(info.value) and info.value.status == 200
    assert len(script.requests) == 1  # a malformed answer is not retried


@pytest.mark.asyncio
async def test_dimensions_must_not_change_between_batches(
    script: Script, session: aiohttp.ClientSession
) -> None:
    script.reply(listing([1, 0]))
    script.reply(listing([1, 0, 0]))
    with pytest.raises(EmbeddingsError, match="vectors of 3 dimensions after vectors of 2"):
        await Embeddings(session, script.url, "m", None, batch_size=1).embed(["a", "b"])


@pytest.mark.asyncio
async def test_error_message_masked_and_cut(script: Script, session: aiohttp.ClientSession) -> None:
    key = "sk-very-secret"
    script.reply({"error": {"message": f"Incorrect API key provided: {key}. Check it."}}, status=401)
    script.reply({"error": {"message": "x" * 1000}}, status=400)
    script.reply(b"plain   text\n\n error", status=403)
    script.reply({"error": "just a string"}, status=400)
    client = Embeddings(session, script.url, "m", key)
    messages = []
    for _ in range(4):
        with pytest.raises(EmbeddingsError) as info:
            await client.embed(["a"])
        messages.append(str(info.value))
    assert (
        messages[0] == "the embeddings endpoint answered HTTP 401: Incorrect API key provided: ***. Check it."
    )
    assert messages[1] == "the embeddings endpoint answered HTTP 400: " + "x" * 297 + "..."
    assert messages[2] == "the embeddings endpoint answered HTTP 403: plain text error"
    assert messages[3] == "the embeddings endpoint answered HTTP 400: just a string"
    assert all(key not in m for m in messages)


# --- pure parts -------------------------------------------------------------------------------------


def test_retry_delay() -> None:
    assert [retry_delay(a, None) for a in range(4)] == pytest.approx([0.2, 0.4, 0.8, 1.6])
    assert retry_delay(1, None, backoff=0.5) == 1.0
    assert retry_delay(0, "2") == 2.0
    assert retry_delay(3, "0.5") == 0.5
    assert retry_delay(0, "0") == 0.0
    assert retry_delay(0, "120") == MAX_RETRY_AFTER == 5.0
    for ignored in ("-1", "nan", "inf", "Wed, 21 Oct 2015 07:28:00 GMT", ""):
        assert retry_delay(2, ignored) == pytest.approx(0.8), ignored


@pytest.mark.asyncio
async def test_constructor_checks(session: aiohttp.ClientSession) -> None:
    bad: dict[str, Any]
    for bad in ({"batch_size": 0}, {"retries": -1}, {"timeout": 0}, {"backoff": -1}):
        with pytest.raises(ValueError):
            Embeddings(session, "http://127.0.0.1:1/v1", "m", None, **bad)
