"""What the routes need, built once per app by its lifespan and reached through `request`."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from gateway.api.auth import caller
from gateway.backend import Backend, Caller
from gateway.lifecycle import Lifecycle
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.stream.response import Keepalive


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    backend: Backend
    lifecycle: Lifecycle
    metrics: Metrics
    keepalive: Keepalive
    key_hashes: tuple[str, ...] = ()

    def caller(self, request: Request) -> Caller:
        return caller(request, self.settings, self.key_hashes)


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.context
    return ctx
