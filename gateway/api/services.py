"""What the routes need, built once per app by its lifespan and reached through `request`."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from starlette.requests import Request

from gateway.api.edge import client_key
from gateway.settings import Settings
from gateway.translate.events import Clock, NewId
from gateway.upstream.client import MiniMaxClient


def new_id(prefix: str) -> str:
    """MiniMax's id form: prefix + 32 lowercase hex."""
    return prefix + uuid.uuid4().hex


def unix_now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class Services:
    settings: Settings
    minimax: MiniMaxClient
    new_id: NewId = new_id
    clock: Clock = unix_now

    def key(self, request: Request) -> str | None:
        """The key for upstream calls: required from the client unless the gateway has its own."""
        return client_key(request, required=self.settings.minimax_api_key is None)


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc
