"""The ConfigMap and Secret against the app's `Settings`: real fields, values that load, secrets kept secret.

gateway.settings.Settings is the authoritative list of settings; the keys of the env file and of the
Secret are its field names in upper case, and envFrom turns them into the app's environment.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from yamlload import Doc

# Settings that are secrets: they belong in the Secret, never in the ConfigMap.
SECRET_SETTINGS = {"MINIMAX_API_KEY", "GATEWAY_KEY_HASHES"}
# Common proxy / load-balancer idle timeouts are 60 s: SSE keep-alive pings must come sooner.
MAX_KEEPALIVE = 55


def settings_model() -> Any:
    from gateway.settings import Settings  # the app's authoritative list of settings

    return Settings


def key_errors(keys: list[str], source: str) -> list[str]:
    """Each key must be an upper-case field name of gateway.settings.Settings."""
    fields = settings_model().model_fields
    errs = [
        f"{source}: {key} is not a setting (gateway.settings.Settings has no field {key.lower()!r})"
        for key in keys
        if key.lower() not in fields
    ]
    errs += [
        f"{source}: {key} must be upper case (the convention of the env file and the Secret)"
        for key in keys
        if key != key.upper()
    ]
    return errs


def settings_errors(data: dict[str, str], source: str) -> list[str]:
    """Every key must be a Settings field, and the values must load (as env vars, which is what
    envFrom makes of them). The secrets are stubbed so gateway_keys mode validates too."""
    errs = key_errors(list(data), source)
    if errs:
        return errs
    settings_cls = settings_model()

    class FromFileOnly(settings_cls):  # type: ignore[misc, valid-type]
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: Any,
            init_settings: Any,
            env_settings: Any,
            dotenv_settings: Any,
            file_secret_settings: Any,
        ) -> tuple[Any, ...]:
            return (init_settings, dotenv_settings)  # not the environment of whoever runs the check

    with tempfile.TemporaryDirectory() as tmp:
        env = Path(tmp) / "settings.env"
        env.write_text("".join(f"{k}='{v}'\n" if "'" not in v else f"{k}={v}\n" for k, v in data.items()))
        try:
            FromFileOnly(
                _env_file=env,
                minimax_api_key="placeholder",
                gateway_key_hashes_file=None,
                gateway_key_hashes=["sha256:" + "0" * 64],
            )
        except Exception as exc:  # pydantic ValidationError, or whatever a validator raises
            return [f"{source}: settings do not load: {exc}".replace("\n", " | ")]
    return []


def config_errors(configmaps: list[Doc], secrets: list[Doc]) -> tuple[dict[str, str], list[str]]:
    """The settings the ConfigMaps set, and every problem of the ConfigMaps' and Secrets' keys and values."""
    settings: dict[str, str] = {}
    errs: list[str] = []
    for cm in configmaps:
        settings.update({k: str(v) for k, v in (cm.get("data") or {}).items()})
        errs += settings_errors(
            {k: str(v) for k, v in (cm.get("data") or {}).items()}, f"ConfigMap/{cm['metadata']['name']}"
        )
        for key in SECRET_SETTINGS & set(cm.get("data") or {}):
            errs.append(f"ConfigMap/{cm['metadata']['name']}: {key} is a secret; put it in the Secret")
    for sec in secrets:
        keys = [*(sec.get("stringData") or {}), *(sec.get("data") or {})]
        errs += key_errors(keys, f"Secret/{sec['metadata']['name']}")
    return settings, errs


def setting(settings: dict[str, str], key: str) -> str:
    """A setting's value: the ConfigMap's, else the Settings field's default."""
    return settings.get(key, str(settings_model().model_fields[key.lower()].default))


def limit_errors(settings: dict[str, str]) -> list[str]:
    """Keep-alive pings beat proxy idle timeouts; the connection pool holds every stream."""
    errs: list[str] = []
    keepalive = float(setting(settings, "KEEPALIVE_INTERVAL"))
    if not 0 < keepalive <= MAX_KEEPALIVE:
        errs.append(
            f"KEEPALIVE_INTERVAL={keepalive:g}: SSE pings must be on and under {MAX_KEEPALIVE}s "
            "(60 s proxy/LB idle timeouts)"
        )
    if int(setting(settings, "MAX_CONNECTIONS")) < int(setting(settings, "MAX_STREAMS")):
        errs.append("MAX_CONNECTIONS < MAX_STREAMS: streams beyond the pool would queue for a connection")
    return errs
