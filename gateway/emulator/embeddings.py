"""POST /v1/embeddings in OpenAI's shape, so the gateway's semantic search runs over real HTTP in tests.

The vectors are deterministic and texts sharing words are close: the hashing trick over the text's
distinct terms (`analyze.query_terms`, the same words and CJK bigrams keyword search uses). Each term
is hashed with BLAKE2b to one of `dimensions` buckets (default 256; a request may set 1..4096) with a
sign from another bit of the hash; the signed counts are L2-normalised. A text without terms, or whose
terms cancel out, gets the unit vector on bucket 0. `usage.prompt_tokens` is the number of terms.

Request: `model` (any non-empty name, echoed), `input` (a non-empty string or a list of 1..2048
non-empty strings; token arrays are refused), optional `encoding_format` (`float`, or `base64` of
little-endian float32), `dimensions` and `user`. Any other field, a bad value or a missing bearer
token (or one other than the emulator's `api_key`) is answered in OpenAI's error shape,
`{"error": {"message", "type", "param", "code"}}`, with status 400 (401 for the token).

Fault hook: an input text containing `[[embed_fault:http:STATUS]]` (STATUS 400..599) makes the whole
request fail with that status and an OpenAI-shaped error body; `[[embed_fault:http:STATUS:SECONDS]]`
also sends `Retry-After: SECONDS` (as written, so fractions are possible). The marker is read after the
body is validated; any other `[[embed_fault:...]]` text is a 400.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import sys
from array import array
from functools import lru_cache
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.emulator.bodies import JsonResponse
from gateway.engine.retrieval.analyze import query_terms

DEFAULT_DIMENSIONS = 256
MAX_DIMENSIONS = 4096
MAX_INPUTS = 2048
MAX_TERMS = 10_000  # per input text
FIELDS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})
FAULT = re.compile(r"\[\[embed_fault:([^\]]*)\]\]")
_FAULT_SPEC = re.compile(r"http:(\d{3})(?::(\d+(?:\.\d+)?))?")


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.param, self.status = message, param, status


def error_response(
    status: int, message: str, *, param: str | None = None, code: str | None = None, kind: str | None = None
) -> JsonResponse:
    if kind is None:
        kind = "invalid_request_error" if status < 500 else "server_error"
        kind = "rate_limit_error" if status == 429 else kind
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JsonResponse(body, status_code=status)


async def create(request: Request) -> Response:
    """The `/v1/embeddings` handler (see the module docstring)."""
    if not _authorized(request):
        return error_response(401, "Incorrect API key provided.", code="invalid_api_key")
    try:
        texts, model, dimensions, encoding = _parse(await request.body())
        fault = _fault(texts)
    except BadRequest as exc:
        return error_response(exc.status, exc.message, param=exc.param)
    if fault is not None:
        status, retry_after = fault
        response = error_response(status, f"emulated embeddings fault: HTTP {status}")
        if retry_after is not None:
            response.headers["Retry-After"] = retry_after
        return response
    data: list[dict[str, Any]] = []
    tokens = 0
    for i, text in enumerate(texts):
        vector, count = embed(text, dimensions)
        tokens += count
        data.append({"object": "embedding", "index": i, "embedding": _encode(vector, encoding)})
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return JsonResponse({"object": "list", "data": data, "model": model, "usage": usage})


def embed(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> tuple[list[float], int]:
    """The text's unit vector and its number of terms."""
    vector = [0.0] * dimensions
    terms = query_terms(text, limit=MAX_TERMS)
    for term in terms:
        h = _hash(term)
        vector[h % dimensions] += 1.0 if h >> 63 else -1.0
    norm = math.sqrt(math.fsum(x * x for x in vector))
    if norm == 0:
        vector[0] = 1.0
        return vector, len(terms)
    return [x / norm for x in vector], len(terms)


@lru_cache(maxsize=1 << 16)
def _hash(term: str) -> int:
    """A stable 64-bit hash of a term (Python's own hash() changes between processes)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "big")


def _authorized(request: Request) -> bool:
    """A non-empty bearer token, equal to the emulator's `api_key` when it has one (as on chat)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    ctx = getattr(request.app.state, "emulator", None)
    key = None if ctx is None else ctx.config.api_key
    return scheme.lower() == "bearer" and bool(token) and (key is None or token == key)


def _parse(raw: bytes) -> tuple[list[str], str, int, str]:
    """(texts, model, dimensions, encoding_format) of a request body, or BadRequest."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise BadRequest(f"Unrecognized request argument supplied: {unknown[0]}", unknown[0])
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("you must provide a model parameter", "model")
    texts = _inputs(body.get("input"))
    dimensions = body.get("dimensions", DEFAULT_DIMENSIONS)
    if type(dimensions) is not int or not 1 <= dimensions <= MAX_DIMENSIONS:
        raise BadRequest(f"'dimensions' must be an integer from 1 to {MAX_DIMENSIONS}", "dimensions")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise BadRequest("'encoding_format' must be one of 'float', 'base64'", "encoding_format")
    if "user" in body and not isinstance(body["user"], str):
        raise BadRequest("'user' must be a string", "user")
    return texts, model, dimensions, encoding


def _inputs(value: object) -> list[str]:
    if value is None:
        raise BadRequest("you must provide an input parameter", "input")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise BadRequest("'input' must be a non-empty string or a non-empty array of strings", "input")
    if len(value) > MAX_INPUTS:
        raise BadRequest(f"'input' holds at most {MAX_INPUTS} items, got {len(value)}", "input")
    for i, item in enumerate(value):
        if isinstance(item, int | list):
            raise BadRequest("token arrays are not supported by this emulator; send strings", "input")
        if not isinstance(item, str) or not item:
            raise BadRequest(f"'input[{i}]' must be a non-empty string", f"input[{i}]")
    return value


def _fault(texts: list[str]) -> tuple[int, str | None] | None:
    """(status, Retry-After or None) of the first fault marker in the inputs."""
    for text in texts:
        if "[[embed_fault:" not in text:
            continue
        marker = FAULT.search(text)
        spec = _FAULT_SPEC.fullmatch(marker.group(1)) if marker else None
        if spec is None or not 400 <= int(spec.group(1)) <= 599:
            raise BadRequest(
                "bad embed_fault marker; expected [[embed_fault:http:STATUS[:SECONDS]]]", "input"
            )
        return int(spec.group(1)), spec.group(2)
    return None


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return vector
    packed = array("f", vector)  # C float: float32
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")
