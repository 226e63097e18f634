"""Who is calling: the client's Bearer key, checked as the key mode says, becomes a `Caller`."""

from __future__ import annotations

from starlette.requests import Request

from gateway.backend import Caller
from gateway.errors import Unauthorized
from gateway.settings import AuthMode, Settings, hash_key, key_matches

OWN_TENANT = "own"  # own_key mode: one user, one tenant


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
