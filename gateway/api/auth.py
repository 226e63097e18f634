"""Who is calling: the client's Bearer key, checked as the key mode says, becomes a `Caller`."""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request

from gateway.backend import Caller
from gateway.errors import Unauthorized
from gateway.settings import AuthMode, Settings

OWN_TENANT = "own"  # own_key mode: one user, one tenant


def hash_key(key: str) -> str:
    """How gateway keys are stored: `sha256:<hex>` of the key text."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def key_matches(key: str, hashes: list[str]) -> bool:
    """Constant-time check of a presented key against every stored hash."""
    presented = hash_key(key).encode()
    found = False
    for stored in hashes:
        found |= hmac.compare_digest(presented, stored.encode())
    return found


def client_key(request: Request) -> str:
    """The client's Bearer key; every API route needs one."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return key.strip()
    raise Unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer KEY'.")


def caller(request: Request, settings: Settings, key_hashes: tuple[str, ...]) -> Caller:
    """The caller (see `AuthMode`). passthrough: the client's key goes upstream, with the account
    from the `group_id_header` or config, and owns what it makes; gateway_keys: the client's key must
    match a stored hash and owns what it makes, and the gateway's key goes upstream; own_key: one
    tenant, the gateway's key upstream. Tenants are key hashes, never keys."""
    key = client_key(request)
    mode = settings.effective_auth_mode()
    if mode is AuthMode.PASSTHROUGH:
        account = request.headers.get(settings.group_id_header) or settings.minimax_group_id
        return Caller(hash_key(key), key, account)
    if mode is AuthMode.GATEWAY_KEYS and not key_matches(key, list(key_hashes)):
        raise Unauthorized("Incorrect API key provided.")
    assert settings.minimax_api_key is not None  # Settings enforces it in these modes
    tenant = hash_key(key) if mode is AuthMode.GATEWAY_KEYS else OWN_TENANT
    return Caller(tenant, settings.minimax_api_key.get_secret_value(), settings.minimax_group_id)
