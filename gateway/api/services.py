"""What the routes need, built once per app by its lifespan and reached through `request`."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from starlette.requests import Request

from gateway.api.edge import client_key
from gateway.api.streaming import Keepalive
from gateway.errors import Unauthorized
from gateway.lifecycle import Lifecycle
from gateway.metrics import Metrics
from gateway.settings import AuthMode, Settings, key_matches
from gateway.translate.events import Clock, NewId
from gateway.upstream.client import Credentials, MiniMaxClient


def new_id(prefix: str) -> str:
    """MiniMax's id form: prefix + 32 lowercase hex."""
    return prefix + uuid.uuid4().hex


def unix_now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class Services:
    settings: Settings
    minimax: MiniMaxClient
    lifecycle: Lifecycle
    metrics: Metrics
    keepalive: Keepalive
    key_hashes: tuple[str, ...] = ()
    new_id: NewId = new_id
    clock: Clock = unix_now

    def auth(self, request: Request) -> Credentials:
        """The credentials for MiniMax (see `AuthMode`). passthrough: the client's key, with the
        GroupId from the `group_id_header` or config; gateway_keys: the client's key must match a
        stored hash; gateway_keys and own_key call MiniMax with the gateway's key and GroupId."""
        settings = self.settings
        key = client_key(request)
        mode = settings.effective_auth_mode()
        if mode is AuthMode.PASSTHROUGH:
            return Credentials(
                key, request.headers.get(settings.group_id_header) or settings.minimax_group_id
            )
        if mode is AuthMode.GATEWAY_KEYS and not key_matches(key, list(self.key_hashes)):
            raise Unauthorized("Incorrect API key provided.")
        assert settings.minimax_api_key is not None  # Settings enforces it in these modes
        return Credentials(settings.minimax_api_key.get_secret_value(), settings.minimax_group_id)


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc
