"""`/healthz`: the process is up and serving (liveness)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.edge import JSON


async def healthz(request: Request) -> Response:
    return JSON({"status": "ok"})
