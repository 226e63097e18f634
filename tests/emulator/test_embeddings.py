"""POST /v1/embeddings over real HTTP: OpenAI's shape, deterministic hashed vectors, request validation in
OpenAI's error shape, auth, and the `[[embed_fault:...]]` hook."""

from __future__ import annotations

import base64
import hashlib
import math
import os
import subprocess
import sys
import time
from array import array
from typing import Any

import httpx
import pytest

from gateway.emulator.embeddings import DEFAULT_DIMENSIONS, MAX_INPUTS, embed
from gateway.engine.retrieval.analyze import query_terms


def post(emu: Any, body: Any) -> httpx.Response:
    r: httpx.Response = emu.client.post("/embeddings", json=body)
    return r


def vectors(emu: Any, inputs: Any, **extra: Any) -> list[list[float]]:
    r = post(emu, {"model": "text-embedding-3-small", "input": inputs, **extra})
    assert r.status_code == 200, r.text
    return [item["embedding"] for item in r.json()["data"]]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_shape_of_an_answer(emu: Any) -> None:
    r = post(emu, {"model": "my-embedder", "input": ["hello world hello", "退款政策"]})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"object", "data", "model", "usage"}
    assert body["object"] == "list" and body["model"] == "my-embedder"
    assert body["usage"] == {"prompt_tokens": 2 + 3, "total_tokens": 5}  # distinct terms: 2 words, 3 bigrams
    assert [(d["object"], d["index"]) for d in body["data"]] == [("embedding", 0), ("embedding", 1)]
    for item in body["data"]:
        assert len(item["embedding"]) == DEFAULT_DIMENSIONS
        assert math.fsum(x * x for x in item["embedding"]) == pytest.approx(1.0)


def test_a_string_input_is_one_text(emu: Any) -> None:
    assert vectors(emu, "refund policy") == vectors(emu, ["refund policy"])


def test_vectors_are_the_documented_hash(emu: Any) -> None:
    """Each distinct term adds ±1 at a BLAKE2b bucket; the sum is L2-normalised."""
    text = "Refund refund POLICY for 退款政策"
    expected = [0.0] * 64
    for term in query_terms(text, limit=10_000):
        h = int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "big")
        expected[h % 64] += 1.0 if h >> 63 else -1.0
    norm = math.sqrt(sum(x * x for x in expected))
    (got,) = vectors(emu, text, dimensions=64)
    assert got == pytest.approx([x / norm for x in expected])


def test_deterministic_across_processes() -> None:
    """BLAKE2b, not hash(): the same vector whatever PYTHONHASHSEED a process runs with."""
    code = "from gateway.emulator.embeddings import embed; print(embed('refund policy 退款 x')[0])"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert outputs.pop().strip() == str(embed("refund policy 退款 x")[0])


def test_similar_texts_are_closer(emu: Any) -> None:
    query, near, far, ja_query, ja_near = vectors(
        emu,
        [
            "refund policy for damaged orders",
            "our refund policy covers damaged orders",
            "weather forecast in paris tomorrow",
            "返金ポリシーについて",
            "返金ポリシーの詳細",
        ],
    )
    assert cosine(query, near) > 0.5 > cosine(query, far)
    assert cosine(ja_query, ja_near) > 0.5 > cosine(ja_query, far)


def test_dimensions(emu: Any) -> None:
    for n in (1, 8, 4096):
        (v,) = vectors(emu, "hello there", dimensions=n)
        assert len(v) == n and math.fsum(x * x for x in v) == pytest.approx(1.0)


def test_text_without_terms_is_the_fixed_unit_vector(emu: Any) -> None:
    r = post(emu, {"model": "m", "input": ["?!", "... ---"], "dimensions": 4})
    assert [d["embedding"] for d in r.json()["data"]] == [[1.0, 0.0, 0.0, 0.0]] * 2
    assert r.json()["usage"]["prompt_tokens"] == 0


def test_base64_encoding(emu: Any) -> None:
    (plain,) = vectors(emu, "base64 please", dimensions=16)
    r = post(emu, {"model": "m", "input": "base64 please", "dimensions": 16, "encoding_format": "base64"})
    packed = array("f")
    packed.frombytes(base64.b64decode(r.json()["data"][0]["embedding"]))
    if sys.byteorder == "big":
        packed.byteswap()
    assert list(packed) == pytest.approx(plain, abs=1e-7)


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"input": "x"}, "model", "you must provide a model parameter"),
        ({"model": "", "input": "x"}, "model", "model"),
        ({"model": 3, "input": "x"}, "model", "model"),
        ({"model": "m"}, "input", "you must provide an input parameter"),
        ({"model": "m", "input": ""}, "input[0]", "'input[0]' must be a non-empty string"),
        ({"model": "m", "input": []}, "input", "non-empty"),
        ({"model": "m", "input": ["a", ""]}, "input[1]", "'input[1]' must be a non-empty string"),
        ({"model": "m", "input": ["a", None]}, "input[1]", "must be a non-empty string"),
        ({"model": "m", "input": [1, 2, 3]}, "input", "token arrays are not supported"),
        ({"model": "m", "input": [[1, 2], [3]]}, "input", "token arrays are not supported"),
        ({"model": "m", "input": {"text": "x"}}, "input", "non-empty string or a non-empty array"),
        ({"model": "m", "input": ["x"] * (MAX_INPUTS + 1)}, "input", f"at most {MAX_INPUTS} items"),
        ({"model": "m", "input": "x", "dimensions": 0}, "dimensions", "from 1 to 4096"),
        ({"model": "m", "input": "x", "dimensions": 4097}, "dimensions", "from 1 to 4096"),
        ({"model": "m", "input": "x", "dimensions": "8"}, "dimensions", "from 1 to 4096"),
        ({"model": "m", "input": "x", "dimensions": True}, "dimensions", "from 1 to 4096"),
        ({"model": "m", "input": "x", "encoding_format": "int8"}, "encoding_format", "'float', 'base64'"),
        ({"model": "m", "input": "x", "user": 5}, "user", "'user' must be a string"),
        (
            {"model": "m", "input": "x", "stream": True},
            "stream",
            "Unrecognized request argument supplied: stream",
        ),
        ({"model": "m", "input": "[[embed_fault:boom]]"}, "input", "bad embed_fault marker"),
        ({"model": "m", "input": "[[embed_fault:http:200]]"}, "input", "bad embed_fault marker"),
        ({"model": "m", "input": "[[embed_fault:http:503:soon]]"}, "input", "bad embed_fault marker"),
    ],
)
def test_bad_requests(emu: Any, body: dict[str, Any], param: str, message: str) -> None:
    r = post(emu, body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["code"] is None
    assert message in error["message"]


@pytest.mark.parametrize(("raw", "message"), [(b"{nope", "could not parse"), (b"[1, 2]", "JSON object")])
def test_bad_bodies(emu: Any, raw: bytes, message: str) -> None:
    r = emu.client.post("/embeddings", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400 and message in r.json()["error"]["message"]


def test_only_post(emu: Any) -> None:
    assert emu.client.get("/embeddings").status_code == 405


def test_auth(serve: Any) -> None:
    server = serve(api_key="right-key")
    body = {"model": "m", "input": "x"}
    missing = httpx.post(f"{server.url}/v1/embeddings", json=body)
    wrong = httpx.post(f"{server.url}/v1/embeddings", json=body, headers={"Authorization": "Bearer nope"})
    right = httpx.post(
        f"{server.url}/v1/embeddings", json=body, headers={"Authorization": "Bearer right-key"}
    )
    for r in (missing, wrong):
        assert r.status_code == 401
        assert r.json()["error"] == {
            "message": "Incorrect API key provided.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    assert right.status_code == 200


@pytest.mark.parametrize(
    ("status", "kind"), [(400, "invalid_request_error"), (429, "rate_limit_error"), (503, "server_error")]
)
def test_fault_marker(emu: Any, status: int, kind: str) -> None:
    r = post(emu, {"model": "m", "input": ["fine", f"a text [[embed_fault:http:{status}]] here"]})
    assert r.status_code == status and "retry-after" not in r.headers
    assert r.json() == {
        "error": {
            "message": f"emulated embeddings fault: HTTP {status}",
            "type": kind,
            "param": None,
            "code": None,
        }
    }


def test_fault_marker_with_retry_after(emu: Any) -> None:
    r = post(emu, {"model": "m", "input": "[[embed_fault:http:429:1.5]]"})
    assert r.status_code == 429 and r.headers["retry-after"] == "1.5"


def test_fault_marker_checked_after_validation(emu: Any) -> None:
    r = post(emu, {"model": "m", "input": "[[embed_fault:http:503]]", "dimensions": 0})
    assert r.status_code == 400 and r.json()["error"]["param"] == "dimensions"


def test_fast_enough() -> None:
    """64 chunks of 800 words, as one ingestion batch: well under 100 ms measured; bounded loosely here."""
    words = [f"w{i}x{i * 7919 % 1000}" for i in range(4000)]
    chunks = [" ".join(words[(c * 131 + j * 17) % 4000] for j in range(800)) for c in range(64)]
    start = time.perf_counter()
    for chunk in chunks:
        embed(chunk)
    assert time.perf_counter() - start < 0.5
