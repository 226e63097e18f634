"""Property-based fuzzing of the OpenAI-facing edge over real HTTP: every route of `gateway/api/routes.py`
on both backends (the engine on a temporary SQLite file, the bridge), each in front of the built-in
emulator. Bodies are random JSON, random bytes, or built from the request models' JSON schemas with
wrong types, missing fields, huge strings, NUL bytes and unicode; path ids are real, junk, traversal
(`../`), NUL or very long. Whatever comes in: no 5xx, every 4xx is an OpenAI-shaped error, and the
gateway still answers a healthy request afterwards."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from gateway.api.routes import routes
from gateway.emulator.config import EmulatorConfig
from gateway.schemas.documents import (
    AttributesIn,
    FileBatchIn,
    SearchIn,
    StoreFileIn,
    VectorStoreIn,
    VectorStorePatch,
)
from gateway.schemas.openai import (
    AssistantIn,
    AssistantPatch,
    MessageIn,
    MetadataIn,
    RunIn,
    SubmitToolOutputsIn,
    ThreadAndRunIn,
    ThreadIn,
)
from tests.e2e.conftest import serve

EXAMPLES = 60
AUTH = {"Authorization": "Bearer fuzz-key", "Content-Type": "application/json"}
BODIES: dict[tuple[str, str], type[BaseModel] | None] = {
    ("POST", "/v1/assistants"): AssistantIn,
    ("POST", "/v1/assistants/{assistant_id}"): AssistantPatch,
    ("POST", "/v1/threads"): ThreadIn,
    ("POST", "/v1/threads/runs"): ThreadAndRunIn,
    ("POST", "/v1/threads/{thread_id}"): MetadataIn,
    ("POST", "/v1/threads/{thread_id}/messages"): MessageIn,
    ("POST", "/v1/threads/{thread_id}/messages/{message_id}"): MetadataIn,
    ("POST", "/v1/threads/{thread_id}/runs"): RunIn,
    ("POST", "/v1/threads/{thread_id}/runs/{run_id}"): MetadataIn,
    ("POST", "/v1/threads/{thread_id}/runs/{run_id}/cancel"): None,
    ("POST", "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"): SubmitToolOutputsIn,
    ("POST", "/v1/files"): None,  # multipart: anything JSON or random is a 400
    ("POST", "/v1/vector_stores"): VectorStoreIn,
    ("POST", "/v1/vector_stores/{vs}"): VectorStorePatch,
    ("POST", "/v1/vector_stores/{vs}/search"): SearchIn,
    ("POST", "/v1/vector_stores/{vs}/files"): StoreFileIn,
    ("POST", "/v1/vector_stores/{vs}/files/{file}"): AttributesIn,
    ("POST", "/v1/vector_stores/{vs}/file_batches"): FileBatchIn,
    ("POST", "/v1/vector_stores/{vs}/file_batches/{batch}/cancel"): None,
}
ASSISTANT = object()  # stands for the target's real assistant id
FILE = object()  # and for its real file id
VALID: dict[type[BaseModel], dict[str, Any]] = {
    AssistantIn: {"model": "gpt-4o"},
    MessageIn: {"role": "user", "content": "hi"},
    RunIn: {"assistant_id": ASSISTANT},
    ThreadAndRunIn: {"assistant_id": ASSISTANT},
    SubmitToolOutputsIn: {"tool_outputs": []},
    SearchIn: {"query": "hi"},
    StoreFileIn: {"file_id": FILE},
    AttributesIn: {"attributes": {}},
    FileBatchIn: {"file_ids": [FILE]},
}
ROUTES = sorted(
    {(method, route.path) for route in routes for method in route.methods or () if method != "HEAD"}
)
CASES: Counter[str] = Counter()
STATUSES: Counter[str] = Counter()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
nasty = st.sampled_from(
    [
        "",
        "\x00",
        "a\x00b",
        "../../etc/passwd",
        "..",
        "%00",
        "é" * 7,
        "🌍" * 3,
        "\u202egpt",
        "\r\n\r\nX: y",
        "gpt-4o",
        "MiniMax-M2.7",
        "abab6.5s-chat",
        "auto",
        "text",
        "function",
        "user",
        "last_messages",
        "json_schema",
    ]
)
huge = st.builds(
    lambda c, n: c * n, st.sampled_from(["x", "é", "\x00", "🌍"]), st.sampled_from([65, 257, 513, 256_001])
)
raw_bodies = st.one_of(
    st.binary(max_size=80),
    st.sampled_from(
        [b"", b"{", b"[]", b"null", b'"x"', b'{"model": "\\ud800"}', b"{}" * 3, b"[" * 2000 + b"]" * 2000]
    ),
)


@dataclass
class Target:
    backend: str
    base: str
    client: httpx.Client
    ids: dict[str, list[str]] = field(default_factory=dict)


@pytest.fixture(scope="module", params=["engine", "assistants"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A gateway holding one real object of each kind, so some fuzzed requests reach the backend's depths."""
    for base in serve(request.param, EmulatorConfig(), tmp_path_factory.mktemp(f"fuzz-{request.param}")):
        with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
            assistant = client.post("/assistants", json={"model": "gpt-4o", "name": "fuzz"}).json()["id"]
            thread = client.post("/threads", json={"messages": [{"role": "user", "content": "hi"}]}).json()[
                "id"
            ]
            run = client.post(f"/threads/{thread}/runs", json={"assistant_id": assistant}).json()["id"]
            message = client.get(f"/threads/{thread}/messages").json()["data"][0]["id"]
            steps = client.get(f"/threads/{thread}/runs/{run}/steps").json()["data"]
            upload: dict[str, tuple[str | None, bytes | str]] = {
                "file": ("fuzz.txt", b"fuzzing the edge"),
                "purpose": (None, "assistants"),
            }
            made = httpx.post(base + "/files", files=upload, headers={"Authorization": AUTH["Authorization"]})
            file = made.json()["id"] if made.status_code == 200 else "file-x"
            store = client.post(
                "/vector_stores", json={"file_ids": [file]} if made.status_code == 200 else {}
            )
            vs = store.json()["id"] if store.status_code == 200 else "vs_x"
            batch = client.post(f"/vector_stores/{vs}/file_batches", json={"file_ids": [file]})
            ids = {
                "assistant_id": [assistant],
                "thread_id": [thread],
                "run_id": [run],
                "message_id": [message],
                "step_id": [s["id"] for s in steps] or ["step_x"],
                "file_id": [file],
                "file": [file],
                "vs": [vs],
                "batch": [batch.json()["id"] if batch.status_code == 200 else "vsfb_x"],
            }
            yield Target(request.param, base, client, ids)


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        per_backend = Counter(key.split(" ", 1)[0] for key in CASES.elements())
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nedge fuzz: {len(CASES)} route x backend pairs, cases {dict(per_backend)}, "
                f"answers {dict(sorted(STATUSES.items()))}"
            )


def strings(known: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=16), nasty, huge, st.sampled_from(known))


def from_schema(
    schema: dict[str, Any], defs: dict[str, Any], text: st.SearchStrategy[str]
) -> st.SearchStrategy[Any]:
    """Values shaped by a JSON schema but not held to its limits (lengths, ranges, patterns), with
    junk of any type in a field's place now and then, and required fields sometimes left out."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return st.deferred(lambda: from_schema(defs[name], defs, text))
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return st.one_of([from_schema(option, defs, text) for option in options])
    if "enum" in schema or "const" in schema:
        return st.sampled_from(schema.get("enum") or [schema.get("const")])
    kind = schema.get("type", "")
    if kind == "object":
        props = {
            k: wrong_now_and_then(from_schema(v, defs, text)) for k, v in schema.get("properties", {}).items()
        }
        required = {k: v for k, v in props.items() if k in schema.get("required", ())}
        optional = {k: v for k, v in props.items() if k not in required}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not props:
            return st.dictionaries(text, from_schema(extra, defs, text), max_size=18)
        return st.fixed_dictionaries(required, optional=optional) | st.fixed_dictionaries({}, optional=props)
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {}), defs, text), max_size=4) | st.lists(
            st.just({"role": "user", "content": "x"}) | st.just({"type": "code_interpreter"}),
            min_size=20,
            max_size=34,
        )
    return {
        "string": text,
        "integer": st.integers(-(2**63), 2**63 - 1) | st.sampled_from([0, 1, 255, 256, -1, 2**31]),
        "number": st.floats(allow_nan=False, allow_infinity=False)
        | st.sampled_from([0, 2, 2.0001, -0.0, 1e308]),
        "boolean": st.booleans(),
        "null": st.none(),
    }.get(kind, junk)


def wrong_now_and_then(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(value, value, value, junk)


def body_strategy(
    model: type[BaseModel] | None, known: list[str], assistant: str, file: str
) -> st.SearchStrategy[bytes]:
    """Random JSON or bytes; a body shaped by the model; or a valid body with one field fuzzed (so the
    backend, not only the validation, sees odd but acceptable values)."""
    if model is None:
        return st.one_of(junk.map(orjson.dumps), raw_bodies)
    schema = model.model_json_schema()
    defs, props, text = schema.get("$defs", {}), schema.get("properties", {}), strings(known)
    real = {id(ASSISTANT): assistant, id(FILE): file}
    base = {
        k: [real.get(id(x), x) for x in v] if isinstance(v, list) else real.get(id(v), v)
        for k, v in VALID.get(model, {}).items()
    }
    one_field = st.sampled_from(sorted(props)).flatmap(
        lambda key: from_schema(props[key], defs, text).map(lambda value: {**base, key: value})
    )
    shaped = from_schema(schema, defs, text)
    valid = one_field.map(orjson.dumps)
    return st.one_of(valid, valid, valid, shaped.map(orjson.dumps), junk.map(orjson.dumps), raw_bodies)


def path_ids(known: list[str]) -> st.SearchStrategy[str]:
    real = st.sampled_from(known)
    return st.one_of(
        real,
        real,
        real,
        real,
        st.text(min_size=1, max_size=24),
        nasty.filter(bool),
        st.sampled_from(
            ["../../v1/assistants", "..", ".", "x" * 5000, "\x00", "%2e%2e%2f", "asst_" + "0" * 32]
        ),
    )


def encoded(value: str) -> str:
    """Sent byte for byte: dots too, so no client or server normalizes `..` away before routing."""
    return quote(value, safe="").replace(".", "%2E")


def queries(known: list[str]) -> st.SearchStrategy[dict[str, str]]:
    values = st.one_of(
        st.text(max_size=16),
        nasty,
        st.sampled_from(known),
        st.just("q" * 4000),
        st.sampled_from(["0", "1", "100", "101", "-1", "²", "asc", "desc", "1e2", " 5"]),
    )
    keys = st.sampled_from(["limit", "order", "after", "before", "run_id", "include[]", "x"])
    return st.dictionaries(keys, values, max_size=4)


def assert_openai_shaped(response: httpx.Response, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:500]}"
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}, f"{what}: {error}"
        assert isinstance(error["message"], str) and error["message"], what


def test_every_route_is_fuzzed() -> None:
    posts = {key for key in ROUTES if key[0] == "POST"}
    assert posts == set(BODIES), "a POST route without a body model here: add it to BODIES"
    assert len(ROUTES) == 47


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_route_answers_junk_with_an_openai_error_never_a_5xx(
    target: Target, method: str, path: str, data: st.DataObject
) -> None:
    CASES[f"{target.backend} {method} {path}"] += 1
    known = [i for ids in target.ids.values() for i in ids]
    url = path.removeprefix("/v1")
    for name, ids in target.ids.items():
        if "{" + name + "}" in url:
            url = url.replace("{" + name + "}", encoded(data.draw(path_ids(ids), label=name)))
    if method == "GET":
        response = target.client.get(url, params=data.draw(queries(known), label="query"))
    else:
        model, assistant = BODIES.get((method, path)), target.ids["assistant_id"][0]
        body = data.draw(body_strategy(model, known, assistant, target.ids["file_id"][0]), label="body")
        response = target.client.request(method, url, content=body)
    STATUSES[f"{target.backend} {response.status_code}"] += 1
    assert_openai_shaped(response, f"{target.backend} {method} {url[:200]}")


def test_the_gateway_still_serves_after_the_fuzzing(target: Target) -> None:
    root = target.base.removesuffix("/v1")
    assert httpx.get(f"{root}/healthz").status_code == 200
    created = target.client.post("/assistants", json={"model": "gpt-4o", "name": "after"})
    assert created.status_code == 200, created.text
    listed = target.client.get("/assistants", params={"limit": 100})
    assert created.json()["id"] in [a["id"] for a in listed.json()["data"]]


def test_a_large_valid_run_body_is_not_a_5xx(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Found by the fuzzer: a valid run whose MiniMax body passes 1 MiB (here instructions and
    additional instructions at their limits, 4-byte characters: ~2 MB) makes aiohttp warn
    (`ResourceWarning`: a large raw-bytes body may block the event loop); under this suite's
    warnings-as-errors it is a 500."""
    for base in serve("assistants", EmulatorConfig(), tmp_path_factory.mktemp("large")):
        with httpx.Client(base_url=base, headers=AUTH, timeout=60) as client:
            assistant = client.post("/assistants", json={"model": "gpt-4o"}).json()["id"]
            thread = client.post("/threads", json={"messages": [{"role": "user", "content": "hi"}]}).json()[
                "id"
            ]
            body = {
                "assistant_id": assistant,
                "instructions": "🌍" * 256_000,
                "additional_instructions": "🌍" * 256_000,
            }
            response = client.post(f"/threads/{thread}/runs", json=body)
        assert response.status_code == 200, response.text
