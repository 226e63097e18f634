"""Build the gateway's ASGI app: routes, middleware, error handlers, and a lifespan that owns the
backend. Everything stateful is created here, per app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from gateway.api.context import AppContext
from gateway.api.errors import gateway_error, http_error, internal_error
from gateway.api.middleware import SERVER_SEND, RequestContext
from gateway.api.routes import routes
from gateway.backend import Backend
from gateway.bridge.backend import open_bridge
from gateway.engine.lifespan import open_engine
from gateway.entropy import token_hex
from gateway.errors import GatewayError
from gateway.heap import Pauses
from gateway.lifecycle import Lifecycle
from gateway.metrics import Metrics
from gateway.settings import BackendKind, Settings
from gateway.stream.response import Keepalive


def new_id(prefix: str) -> str:
    """MiniMax's id form: prefix + 32 lowercase hex."""
    return prefix + token_hex()


def unix_now() -> int:
    return int(time.time())


def open_backend(settings: Settings, metrics: Metrics) -> AbstractAsyncContextManager[Backend]:
    """The backend `settings` name, with what it owns (connection pools, a store), for the app's lifetime."""
    if settings.backend is BackendKind.ENGINE:
        return open_engine(settings, metrics, clock=unix_now)
    return open_bridge(settings, metrics, new_id=new_id, clock=unix_now)


class Gateway(Starlette):
    """Starlette, handing the server's own `send` to `RequestContext` (`SERVER_SEND`): an event
    stream's body messages go straight to it instead of through every middleware layer."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[SERVER_SEND] = send
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    metrics = Metrics()
    pauses = Pauses()
    metrics.count_gc_pauses(pauses)
    state: dict[str, Backend] = {}

    async def backend_ready() -> bool:
        return await state["backend"].ready() if "backend" in state else False

    lifecycle = Lifecycle(settings.max_streams, backend_ready, settings.ready_check_interval)
    key_hashes = tuple(settings.key_hashes())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        keepalive = Keepalive(settings.keepalive_interval)
        sweeper = asyncio.create_task(keepalive.run())
        pauses.install()  # the collector's callbacks are the process's: this app's timer leaves with it
        try:
            async with open_backend(settings, metrics) as backend:
                state["backend"] = backend
                app.state.context = AppContext(
                    settings=settings,
                    backend=backend,
                    lifecycle=lifecycle,
                    metrics=metrics,
                    keepalive=keepalive,
                    key_hashes=key_hashes,
                )
                yield
        finally:
            pauses.remove()
            sweeper.cancel()

    middleware = [
        Middleware(
            RequestContext,
            routes=routes,
            lifecycle=lifecycle,
            metrics=metrics,
            max_body_bytes=settings.max_body_bytes,
            max_upload_bytes=settings.max_file_bytes,
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
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
    app = Gateway(
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
