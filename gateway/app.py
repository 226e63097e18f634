"""Build the gateway's ASGI app: routes, middleware, error handlers, and a lifespan that owns the
upstream client. Everything stateful is created here, per app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from gateway.api.edge import gateway_error, http_error, internal_error
from gateway.api.middleware import RequestContext
from gateway.api.routes import routes
from gateway.api.services import Services
from gateway.api.streaming import Keepalive
from gateway.errors import GatewayError
from gateway.lifecycle import Lifecycle
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.upstream.client import MiniMaxClient


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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    metrics = Metrics()
    state: dict[str, MiniMaxClient] = {}

    async def upstream_reachable() -> bool:
        return await state["minimax"].reachable() if "minimax" in state else False

    lifecycle = Lifecycle(settings.max_streams, upstream_reachable, settings.ready_check_interval)
    key_hashes = tuple(settings.key_hashes())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        keepalive = Keepalive(settings.keepalive_interval)
        sweeper = asyncio.create_task(keepalive.run())
        try:
            async with upstream_http(settings) as (http, session):
                state["minimax"] = minimax = MiniMaxClient(settings, http, session, metrics)
                app.state.services = Services(
                    settings=settings,
                    minimax=minimax,
                    lifecycle=lifecycle,
                    metrics=metrics,
                    keepalive=keepalive,
                    key_hashes=key_hashes,
                )
                yield
        finally:
            sweeper.cancel()

    middleware = [
        Middleware(
            RequestContext,
            routes=routes,
            lifecycle=lifecycle,
            metrics=metrics,
            max_body_bytes=settings.max_body_bytes,
        )
    ]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                allow_headers=["*"],
                expose_headers=["x-request-id"],
                max_age=600,
            )
        )
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            GatewayError: gateway_error,
            HTTPException: http_error,
            Exception: internal_error,
        },
    )
    app.state.lifecycle = lifecycle
    return app
