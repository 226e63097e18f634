"""The client of an OpenAI-compatible `/embeddings` endpoint, for the semantic half of vector-store search.

`Embeddings.embed(texts)` posts the texts in batches (`{"model", "input": [...], "encoding_format":
"float"}`, with `Authorization: Bearer <key>` when a key is set) and returns one float32 vector per text,
L2-normalised, in input order: each answer's vectors are placed by their `index` (by position when an
endpoint omits it), and an answer must hold one vector per input, all of one length, of finite
numbers, none all zero. Batches go one after another, so one search or ingestion holds at most one
request to the endpoint at a time.

Connection failures, timeouts, 429 and 5xx answers are retried `retries` times, after
`backoff * 2**attempt` seconds or a numeric Retry-After (at most `MAX_RETRY_AFTER` seconds); any other
status fails at once. Every failure is an `EmbeddingsError` whose message may be shown to a client: it
holds the status and the endpoint's own error message (at most 300 characters, with the key masked
should the endpoint echo it), never the key or the request.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import aiohttp
import numpy as np
import orjson
from numpy.typing import NDArray

MAX_RETRY_AFTER = 5.0  # seconds: a longer Retry-After is cut to this
MAX_MESSAGE = 300  # characters of the endpoint's error message kept in an EmbeddingsError
_NUMBER_TYPES = frozenset({int, float})


class EmbeddingsError(Exception):
    """The endpoint could not embed the texts. The message is safe to show; `status` is the HTTP status
    of the endpoint's last answer (None when none came: connection failure or timeout)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def retryable(status: int) -> bool:
    return status == 429 or status >= 500


def retry_delay(attempt: int, retry_after: str | None, backoff: float = 0.2) -> float:
    """Seconds to wait before retry number `attempt` + 1 (attempt counts from 0): a numeric Retry-After,
    capped at MAX_RETRY_AFTER, else `backoff * 2**attempt`. A date in Retry-After is ignored."""
    if retry_after is not None:
        try:
            seconds = float(retry_after)
        except ValueError:
            seconds = math.nan
        if seconds >= 0 and math.isfinite(seconds):
            return min(seconds, MAX_RETRY_AFTER)
    return float(backoff * 2**attempt)


class Embeddings:
    """Embed texts with `model` at the OpenAI-compatible base URL `url` (like `http://host:port/v1`)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        model: str,
        api_key: str | None,
        *,
        batch_size: int = 64,
        retries: int = 3,
        timeout: float = 30.0,
        backoff: float = 0.2,
    ) -> None:
        if batch_size < 1 or retries < 0 or timeout <= 0 or backoff < 0:
            raise ValueError("batch_size must be >= 1, retries >= 0, timeout > 0 and backoff >= 0")
        self._session = session
        self._endpoint = url.rstrip("/") + "/embeddings"
        self.model = model
        self._api_key = api_key
        self.batch_size = batch_size
        self.retries = retries
        self.backoff = backoff
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._timeout_seconds = timeout
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    async def embed(self, texts: Sequence[str]) -> list[NDArray[np.float32]]:
        """One L2-normalised float32 vector per text, in input order; [] for no texts."""
        out: list[NDArray[np.float32]] = []
        dimensions: int | None = None
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            matrix = await self._embed_batch(batch)
            if dimensions is not None and matrix.shape[1] != dimensions:
                raise EmbeddingsError(
                    f"the embeddings endpoint answered vectors of {matrix.shape[1]} dimensions after "
                    f"vectors of {dimensions}"
                )
            dimensions = matrix.shape[1]
            out.extend(matrix)
        return out

    async def _embed_batch(self, batch: list[str]) -> NDArray[np.float32]:
        body = orjson.dumps({"model": self.model, "input": batch, "encoding_format": "float"})
        attempts = self.retries + 1
        for attempt in range(attempts):
            retry_after: str | None = None
            status: int | None = None
            try:
                async with self._session.post(
                    self._endpoint, data=body, headers=self._headers, timeout=self._timeout
                ) as response:
                    status = response.status
                    raw = await response.read()
                    retry_after = response.headers.get("Retry-After")
            except TimeoutError:
                failure = f"the embeddings endpoint did not answer within {self._timeout_seconds:g} s"
            except aiohttp.ClientError as exc:
                failure = f"could not reach the embeddings endpoint ({type(exc).__name__})"
            else:
                if status == 200:
                    return self._vectors(raw, len(batch))
                failure = f"the embeddings endpoint answered HTTP {status}: {self._error_message(raw)}"
                if not retryable(status):
                    raise EmbeddingsError(failure, status)
            if attempt + 1 == attempts:
                tries = f" (after {attempts} attempts)" if attempts > 1 else ""
                raise EmbeddingsError(failure + tries, status)
            await asyncio.sleep(retry_delay(attempt, retry_after, self.backoff))
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _error_message(self, raw: bytes) -> str:
        """The endpoint's `error.message` (else its body as text), masked and cut to MAX_MESSAGE."""
        text = raw.decode("utf-8", "replace")
        try:
            doc: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict):
            error = doc.get("error")
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                text = error["message"]
            elif isinstance(error, str):
                text = error
        if self._api_key:
            text = text.replace(self._api_key, "***")
        text = " ".join(text.split())
        return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."

    def _vectors(self, raw: bytes, count: int) -> NDArray[np.float32]:
        """The (count, d) L2-normalised matrix of a 200 answer, rows in input order."""
        try:
            doc: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise EmbeddingsError("the embeddings endpoint answered a body that is not JSON", 200) from None
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, list):
            raise _malformed("no `data` list")
        if len(data) != count:
            raise _malformed(f"{len(data)} vectors for {count} inputs")
        rows: list[list[float] | None] = [None] * count
        for position, item in enumerate(data):
            if not isinstance(item, dict):
                raise _malformed(f"data[{position}] is not an object")
            index = item.get("index", position)
            if type(index) is not int or not 0 <= index < count or rows[index] is not None:
                raise _malformed(f"data[{position}].index is {index!r}")
            vector = item.get("embedding")
            if not isinstance(vector, list) or not vector or not set(map(type, vector)) <= _NUMBER_TYPES:
                raise _malformed(f"data[{position}].embedding is not a non-empty list of numbers")
            rows[index] = vector
        if len({len(row) for row in rows if row is not None}) != 1:
            raise _malformed("vectors of different lengths")
        with np.errstate(over="ignore"):
            matrix = np.array(rows, dtype=np.float32)
        if not np.isfinite(matrix).all():
            raise _malformed("a vector holds a number out of float32 range")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        if not (norms > 0).all():
            raise _malformed("a vector is all zeros")
        normalised: NDArray[np.float32] = (matrix / norms).astype(np.float32, copy=False)
        return normalised


def _malformed(detail: str) -> EmbeddingsError:
    return EmbeddingsError(f"the embeddings endpoint answered a malformed list of embeddings: {detail}", 200)
