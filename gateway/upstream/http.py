"""The one upstream connection pool: aiohttp for streams, httpx on top of it for REST calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from gateway.settings import Settings


@asynccontextmanager
async def upstream_http(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, aiohttp.ClientSession]]:
    """One aiohttp connection pool: streams read it directly, REST calls go through httpx on top of
    it (httpx's own transport costs several times more CPU per read). The pool limit is explicit:
    aiohttp defaults to 100 connections, which would queue stream 101."""
    connector = aiohttp.TCPConnector(limit=settings.max_connections, limit_per_host=0)
    # Reads of up to 256 KiB: a cumulative MiniMax sends frames of hundreds of KB, which aiohttp's
    # default (64 KiB, pausing the socket at twice that) takes in many paused and resumed pieces.
    # Higher would let a slow client's stream hold more here before the upstream is paused.
    session = aiohttp.ClientSession(connector=connector, read_bufsize=2**18)
    async with httpx.AsyncClient(transport=AiohttpTransport(client=session)) as http:  # closes `session`
        yield http, session
