"""The naive pass-through baseline: Starlette `StreamingResponse` over `httpx.AsyncClient` (default
transport), forwarding MiniMax's bytes unchanged.

This is the "obvious" proxy the issue measures the gateway against: it maps the OpenAI run request
to a `create_stream` body and relays the upstream body as it arrives, without parsing a single
frame. `POST /v1/chat/completions` (the `naive-chat` target) forwards the request body and relays
MiniMax's chat stream the same way. Pool limits are raised (httpx defaults to 100 connections, which
would queue stream 101+ and measure queueing instead of CPU); the read timeout matches the gateway's
idle timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


def create_naive_app(upstream: str) -> Starlette:
    base = upstream.rstrip("/") + "/v1/threads/run/create_stream"
    chat = upstream.rstrip("/") + "/v1/chat/completions"
    clients: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(None, connect=10.0)) as client:
            clients["http"] = client
            yield

    async def create_run(request: Request) -> Response:
        body = await request.json()
        payload = {
            "stream": 1,
            "thread_id": request.path_params["thread_id"],
            "assistant_id": body.get("assistant_id", ""),
            "messages": [],
        }
        client = clients["http"]
        upstream_request = client.build_request(
            "POST",
            base,
            json=payload,
            headers={
                "authorization": request.headers.get("authorization", ""),
                "accept": "text/event-stream",
            },
        )
        return await relay(client, upstream_request)

    async def chat_completion(request: Request) -> Response:
        client = clients["http"]
        upstream_request = client.build_request(
            "POST",
            chat,
            content=await request.body(),
            headers={
                "authorization": request.headers.get("authorization", ""),
                "content-type": "application/json",
                "accept": "text/event-stream",
            },
        )
        return await relay(client, upstream_request)

    async def relay(client: httpx.AsyncClient, upstream_request: httpx.Request) -> Response:
        response = await client.send(upstream_request, stream=True)
        return StreamingResponse(
            response.aiter_raw(),
            status_code=response.status_code,
            media_type=response.headers.get("content-type", "text/event-stream"),
            background=BackgroundTask(response.aclose),
        )

    return Starlette(
        routes=[
            Route("/v1/threads/{thread_id}/runs", create_run, methods=["POST"]),
            Route("/v1/chat/completions", chat_completion, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
