"""The engine target's set-up, done before the timed part: one assistant, and one thread per stream
whose user message is the stream's shape (the engine forwards it to the upstream's chat endpoint).
The `run` scenarios need the assistant only (`assistant_sync`): each of their requests makes its own
thread (create-thread-and-run).

A thread per stream, not one reused, because a thread allows one active run and its history grows
with every reply (each later run would send a longer prompt). Every call must answer 200: a set-up
that fails stops the measurement instead of turning into stream errors.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import orjson

MODEL = "MiniMax-M2.7"
PARALLEL = 16


def tenant_key() -> str:
    """A fresh Bearer key: in the default key mode every key is its own tenant."""
    return "sk-bench-" + uuid.uuid4().hex


async def _post(session: aiohttp.ClientSession, url: str, body: dict[str, object]) -> dict[str, object]:
    async with session.post(url, data=orjson.dumps(body)) as response:
        content = await response.read()
        if response.status != 200:
            raise RuntimeError(f"engine set-up: POST {url} -> {response.status}: {content[:300]!r}")
        doc: dict[str, object] = orjson.loads(content)
        return doc


async def prepare(base: str, key: str, text: str, count: int) -> tuple[bytes, tuple[str, ...]]:
    """Create the assistant and `count` threads on the engine at `base`; return the run request body
    and the runs URL of each thread."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=PARALLEL)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        assistant = await _post(session, f"{base}/v1/assistants", {"model": MODEL, "name": "bench"})
        threads: list[str] = [""] * count
        todo = iter(range(count))

        async def worker() -> None:
            for i in todo:
                doc = await _post(
                    session, f"{base}/v1/threads", {"messages": [{"role": "user", "content": text}]}
                )
                threads[i] = str(doc["id"])

        await asyncio.gather(*(worker() for _ in range(min(PARALLEL, count))))
    body = orjson.dumps({"assistant_id": assistant["id"], "stream": True})
    return body, tuple(f"{base}/v1/threads/{t}/runs" for t in threads)


def prepare_sync(base: str, key: str, text: str, count: int) -> tuple[bytes, tuple[str, ...], float]:
    """`prepare` from synchronous code; also returns the seconds it took."""
    started = time.monotonic()
    body, urls = asyncio.run(prepare(base, key, text, count))
    return body, urls, time.monotonic() - started


async def _assistant(base: str, key: str) -> str:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers) as session:
        assistant = await _post(session, f"{base}/v1/assistants", {"model": MODEL, "name": "bench"})
    return str(assistant["id"])


def assistant_sync(base: str, key: str) -> str:
    """Create one assistant for tenant `key` on the engine at `base`; its id."""
    return asyncio.run(_assistant(base, key))
