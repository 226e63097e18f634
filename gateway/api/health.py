"""Probes and metrics: `/healthz` (liveness), `/readyz` (readiness), `/metrics` (Prometheus)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.context import context
from gateway.api.responses import JSON


async def healthz(request: Request) -> Response:
    """The process serves requests (it may be draining: that is readiness, not liveness)."""
    return JSON({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready: not draining, and the backend is ready (a cached check: MiniMax's host answers, and for
    the engine its database too)."""
    lifecycle = context(request).lifecycle
    if lifecycle.draining:
        return JSON({"status": "draining"}, status_code=503)
    if not await lifecycle.ready():
        return JSON({"status": "upstream unreachable"}, status_code=503)
    return JSON({"status": "ready"})


async def metrics(request: Request) -> Response:
    ctx = context(request)
    ctx.metrics.draining.set(1 if ctx.lifecycle.draining else 0)
    return Response(ctx.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
