"""`CodeSessions` on a sandbox server (`server.py`) over HTTP: the gateway's side of CODE_SANDBOX_URL.

Files are streamed both ways, never held whole. What goes wrong maps to the sandbox's own errors:

    SandboxError          the server refused the call (4xx: its message), or cannot be reached
    └── FileTooLarge      413: a file past the server's limit or the caller's

A transport failure, a timeout or a 5xx says "cannot be reached" and the failure's kind; no message
carries the token, the headers or the response's body beyond the server's own error message.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import fields
from typing import Any, Final
from urllib.parse import quote

import httpx

from gateway.sandbox.session import Cell
from gateway.sandbox.sessions import FileMissing, FileTooLarge, SandboxError, check_key, check_name

TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0)
CELL_TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0, read=3600.0)  # the server's wall clock ends a cell
CELL_FIELDS: Final = frozenset(f.name for f in fields(Cell))


def _unreachable(what: str) -> SandboxError:
    return SandboxError(f"the code sandbox server cannot be reached ({what})")


def _failed(exc: httpx.HTTPError) -> SandboxError:
    """A transport failure or timeout: its kind and httpx's words (which never hold a header)."""
    return _unreachable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def _refusal(response: httpx.Response) -> SandboxError:
    """The error a non-2xx answer stands for (its body read)."""
    status = response.status_code
    if status >= 500:
        return _unreachable(f"HTTP {status}")
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = None
    if not isinstance(message, str):
        message = f"the code sandbox server refused the call (HTTP {status})"
    if status == 413:
        return FileTooLarge(message)
    return FileMissing(message) if status == 404 else SandboxError(message)


def _cell(data: Any) -> Cell:
    try:
        return Cell(**{k: v for k, v in data.items() if k in CELL_FIELDS})
    except (AttributeError, TypeError):
        raise SandboxError("the code sandbox server answered with something other than a cell") from None


class RemoteSessions:
    """The sessions of the server at `url`, which expires its own; `client`: for tests or a shared pool
    (closed by its owner), else one of its own, closed by `aclose`."""

    def __init__(self, url: str, token: str, client: httpx.AsyncClient | None = None) -> None:
        self.location = url
        self._base = url.rstrip("/") + "/v1/sessions/"
        self._auth = {"Authorization": f"Bearer {token.strip()}"}
        self._own = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=TIMEOUT)

    def __repr__(self) -> str:
        return f"RemoteSessions({self.location!r})"

    def _url(self, key: str, *parts: str) -> str:
        return self._base + "/".join(quote(p, safe="") for p in (check_key(key), *parts))

    async def _call(self, method: str, url: str, **options: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, url, headers=self._auth, **options)
        except httpx.HTTPError as exc:
            raise _failed(exc) from None
        if response.is_success:
            return response
        raise _refusal(response)

    async def execute(self, key: str, code: str) -> Cell:
        response = await self._call(
            "POST", self._url(key, "cells"), json={"code": code}, timeout=CELL_TIMEOUT
        )
        try:
            data = response.json()
        except ValueError:
            data = None
        return _cell(data)

    async def put_file(self, key: str, name: str, chunks: AsyncIterable[bytes]) -> None:
        async def body() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                yield chunk

        await self._call("PUT", self._url(key, "files", check_name(name)), content=body())

    async def read_file(self, key: str, name: str, limit: int) -> AsyncIterator[bytes]:
        url = self._url(key, "files", check_name(name))
        left = limit
        try:
            async with self._client.stream(
                "GET", url, params={"limit": limit}, headers=self._auth
            ) as response:
                if not response.is_success:
                    await response.aread()
                    raise _refusal(response)
                async for chunk in response.aiter_bytes():
                    left -= len(chunk)
                    if left < 0:
                        raise FileTooLarge(f"{name} is larger than {limit} bytes")
                    yield chunk
        except httpx.HTTPError as exc:
            raise _failed(exc) from None

    async def has(self, key: str) -> bool:
        response = await self._call("GET", self._url(key))
        try:
            exists = response.json()["exists"]
        except (ValueError, KeyError, TypeError):
            exists = None
        if not isinstance(exists, bool):
            raise SandboxError("the code sandbox server answered with something other than {exists}")
        return exists

    async def close(self, key: str) -> None:
        await self._call("DELETE", self._url(key))

    async def expire(self) -> int:
        return 0  # the server ends its idle sessions itself

    async def aclose(self) -> None:
        if self._own:
            await self._client.aclose()
