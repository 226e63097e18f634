"""The gateway's one typed settings object: defaults, then a config file, then the environment.

`config/gateway.env.example` documents every setting; `--config FILE` reads a file of that form,
and environment variables (same names, any case) override it. Invalid values stop start-up with a
message naming the setting. Secrets are `SecretStr`: they never appear in a repr or a log.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gateway.stream.text import TextMode

DEFAULT_UPSTREAM = "https://api.minimax.io"  # China: https://api.minimaxi.com
DEFAULT_DATABASE = "sqlite:///minimax-gateway.db"


class BackendKind(StrEnum):
    ENGINE = "engine"  # the gateway keeps the objects and runs each run over MiniMax chat completions
    ASSISTANTS = "assistants"  # the bridge: everything forwarded to MiniMax's Assistants API


class AuthMode(StrEnum):
    AUTO = "auto"  # gateway_keys if key hashes are set, else own_key if MINIMAX_API_KEY is, else passthrough
    PASSTHROUGH = "passthrough"  # the client's Bearer key is sent to MiniMax
    GATEWAY_KEYS = "gateway_keys"  # clients present gateway keys; MiniMax gets the gateway's own key
    OWN_KEY = "own_key"  # clients are not checked; MiniMax gets the gateway's own key (one user, local)


class LogFormat(StrEnum):
    AUTO = "auto"  # JSON lines, or human-readable when stderr is a terminal
    JSON = "json"
    TEXT = "text"


class Settings(BaseSettings):
    """Every setting has a default that runs the gateway (against MiniMax, keys passed through)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True, case_sensitive=False)

    # -- backend -----------------------------------------------------------------------------------
    backend: BackendKind = Field(BackendKind.ENGINE, description="engine or assistants")
    database_url: str = Field(
        DEFAULT_DATABASE, description="The engine's store: sqlite:///PATH or postgresql://USER:PASS@HOST/DB"
    )
    migrate_on_start: bool | None = Field(
        None, description="Apply migrations at start-up (default: on for SQLite, off for PostgreSQL)"
    )
    db_pool_size: int = Field(10, gt=0, description="Database connections kept open per process")
    db_max_overflow: int = Field(10, ge=0, description="Extra connections allowed beyond the pool at peaks")
    db_pool_timeout: float = Field(10.0, gt=0, description="Seconds to wait for a free connection, then 503")
    run_timeout: float = Field(600.0, gt=0, description="Seconds a run may execute before it is failed")
    lease_seconds: float = Field(
        30.0, gt=0, description="A running run's lease; a run whose lease lapses is failed (its process died)"
    )
    sweep_interval: float = Field(
        5.0, gt=0, description="Seconds between sweeps for expired tool calls and orphaned runs"
    )
    checkpoint_interval: float = Field(
        1.0, gt=0, description="Seconds between saves of the streaming replies' text (one transaction)"
    )
    # -- files and vector stores (engine) -----------------------------------------------------------
    max_file_bytes: int = Field(512 * 1024 * 1024, gt=0, description="Largest file an upload may hold")
    max_image_bytes: int = Field(
        20 * 1024 * 1024, gt=0, description="Largest image a user message may hold (a file or a data: URL)"
    )
    ingest_workers: int = Field(2, gt=0, description="Files each process ingests at once")
    embeddings_url: str | None = Field(
        None, description="An OpenAI-compatible embeddings API (`.../v1`); unset: keyword search only"
    )
    embeddings_model: str = Field(
        "text-embedding-3-small", description="The model EMBEDDINGS_URL is asked for"
    )
    embeddings_api_key: SecretStr | None = Field(None, description="Bearer key for EMBEDDINGS_URL")
    embeddings_batch_size: int = Field(64, gt=0, le=2048, description="Chunks embedded per request")
    embeddings_cache_mb: int = Field(
        256, ge=0, description="Memory per process for stores' embeddings kept between searches (MB)"
    )
    # -- code_interpreter (engine) ------------------------------------------------------------------
    code_interpreter: bool = Field(
        True, description="Offer the code_interpreter tool (only where a sandbox can run: fails closed)"
    )
    code_sandbox_url: str | None = Field(
        None, description="A sandbox server (`python -m gateway.sandbox.server`); unset: bubblewrap here"
    )
    code_sandbox_token: SecretStr | None = Field(
        None, description="Bearer token between the gateway and CODE_SANDBOX_URL (both sides)"
    )
    code_sandbox_dir: Path = Field(
        Path("/tmp/minimax-gateway-sandbox"), description="Where local sessions keep their /mnt/data"
    )
    code_session_idle_seconds: float = Field(
        3600.0, gt=0, description="Seconds a thread's code session is kept unused (OpenAI: one hour)"
    )
    code_max_sessions: int = Field(64, gt=0, description="Sessions kept per sandbox host (oldest ends first)")
    code_first_uid: int = Field(
        230_000, gt=0, description="First of the CODE_MAX_SESSIONS user ids local sessions run as (as root)"
    )
    code_cpu_seconds: int = Field(60, gt=0, description="CPU seconds a session's interpreter may use")
    code_wall_seconds: float = Field(120.0, gt=0, description="Seconds one call's code may run")
    code_memory_bytes: int = Field(2 << 30, gt=0, description="Address space of a session's processes")
    code_processes: int = Field(64, gt=0, description="Processes a session may have at once")
    code_file_bytes: int = Field(1 << 30, gt=0, description="Largest file code may write")
    code_disk_bytes: int = Field(
        4 << 30, gt=0, description="Disk a session's files may take (checked after each call)"
    )
    code_output_bytes: int = Field(1 << 20, gt=0, description="Output of one call kept (stdout and stderr)")
    # -- upstream ----------------------------------------------------------------------------------
    minimax_base_url: str = Field(DEFAULT_UPSTREAM, description="MiniMax host; `/v1/...` paths go below it")
    minimax_api_key: SecretStr | None = Field(None, description="The gateway's own MiniMax key")
    minimax_group_id: str | None = Field(None, description="GroupId query parameter, sent only when set")
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to connect to MiniMax")
    first_byte_timeout: float = Field(
        60.0, gt=0, description="Seconds for MiniMax to answer a call or send a first frame"
    )
    first_event_wait: float = Field(
        5.0,
        ge=0,
        description="Seconds a stream waits for MiniMax to start before it starts anyway (pings until then)",
    )
    idle_timeout: float = Field(
        120.0,
        gt=0,
        description="Seconds MiniMax may stay silent between stream frames (noticed up to a quarter later)",
    )
    upstream_retries: int = Field(
        2, ge=0, le=5, description="Retries of calls that could not connect (backoff)"
    )
    max_connections: int = Field(
        10_000, gt=0, description="Upstream connections per pool (streamed answers; other calls)"
    )
    poll_interval: float = Field(
        0.5, gt=0, description="Seconds between polls of a run MiniMax does not stream"
    )
    follow_timeout: float = Field(600.0, gt=0, description="Seconds to follow such a run before giving up")
    # -- translation -------------------------------------------------------------------------------
    model_aliases: dict[str, str] | None = Field(
        None, description="OpenAI model name -> MiniMax model (JSON); default: per backend"
    )
    vision_models: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["MiniMax-M3"],
        description="Comma-separated MiniMax models that take images (matched after MODEL_ALIASES, any case)",
    )
    text_mode: TextMode = Field(TextMode.AUTO, description="How MiniMax message frames carry text")
    think_closer_only: bool = Field(
        False, description="The model may send </think> without <think>: hold reply text until it is known"
    )
    # -- keys --------------------------------------------------------------------------------------
    auth_mode: AuthMode = Field(AuthMode.AUTO, description="auto, passthrough, gateway_keys or own_key")
    gateway_key_hashes: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated `sha256:<hex>` hashes of accepted gateway keys"
    )
    gateway_key_hashes_file: Path | None = Field(None, description="File of key hashes, one per line")
    group_id_header: str = Field("X-MiniMax-Group-Id", description="Header a client may set GroupId with")
    # -- serving -----------------------------------------------------------------------------------
    keepalive_interval: float = Field(
        15.0, ge=0, description="Seconds of stream silence before `: ping` (0: off)"
    )
    drain_seconds: float = Field(30.0, ge=0, description="On SIGTERM, how long open streams may finish")
    max_streams: int = Field(5000, gt=0, description="Open streams per process; beyond: 503 + Retry-After")
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0, description="Largest request body accepted")
    request_head_timeout: float = Field(
        10.0, gt=0, description="Seconds a client has to send a request's head (then 408)"
    )
    request_body_timeout: float = Field(
        30.0, gt=0, description="Seconds a client has to send a request's body after its head"
    )
    max_header_bytes: int = Field(
        16384, gt=0, description="Largest header block accepted (bytes); beyond, or a line over 8192: 431"
    )
    max_headers: int = Field(100, gt=0, description="Most request headers accepted; beyond: 431")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated origins for browser clients (`*`: any); empty: off"
    )
    ready_check_interval: float = Field(10.0, gt=0, description="Seconds /readyz caches its upstream check")
    log_level: str = Field("info", description="debug, info, warning or error")
    log_format: LogFormat = Field(LogFormat.AUTO, description="auto, json or text")

    @field_validator("gateway_key_hashes", "cors_origins", "vision_models", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("gateway_key_hashes")
    @classmethod
    def _hash_form(cls, value: list[str]) -> list[str]:
        for item in value:
            if not (item.startswith("sha256:") and len(item) == 71):
                raise ValueError("each hash must be `sha256:` followed by 64 hex digits (see `hash-key`)")
        return value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        from gateway.engine.store.url import driver_url  # the one place that reads DATABASE_URL's form

        driver_url(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.lower() not in ("debug", "info", "warning", "error", "critical"):
            raise ValueError("must be debug, info, warning, error or critical")
        return value.lower()

    @model_validator(mode="after")
    def _keys_fit_mode(self) -> Settings:
        mode = self.effective_auth_mode()
        if mode in (AuthMode.GATEWAY_KEYS, AuthMode.OWN_KEY) and self.minimax_api_key is None:
            raise ValueError(f"auth_mode={mode} needs MINIMAX_API_KEY: the gateway calls MiniMax itself")
        if mode is AuthMode.GATEWAY_KEYS and not self.key_hashes():
            raise ValueError("auth_mode=gateway_keys needs GATEWAY_KEY_HASHES or GATEWAY_KEY_HASHES_FILE")
        return self

    def effective_auth_mode(self) -> AuthMode:
        if self.auth_mode is not AuthMode.AUTO:
            return self.auth_mode
        if self.gateway_key_hashes or self.gateway_key_hashes_file is not None:
            return AuthMode.GATEWAY_KEYS
        return AuthMode.OWN_KEY if self.minimax_api_key is not None else AuthMode.PASSTHROUGH

    def key_hashes(self) -> list[str]:
        hashes = list(self.gateway_key_hashes)
        if self.gateway_key_hashes_file is not None:
            lines = self.gateway_key_hashes_file.read_text().splitlines()
            hashes += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        return hashes

    def migrates_on_start(self) -> bool:
        if self.migrate_on_start is not None:
            return self.migrate_on_start
        return self.database_url.startswith("sqlite")

    def upstream_v1(self) -> str:
        """Base URL of MiniMax's `/v1` API, without a trailing slash."""
        base = self.minimax_base_url.rstrip("/")
        return base if base.endswith("/v1") else base + "/v1"


def load(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; raise `SystemExit` naming each invalid setting."""
    try:
        return Settings(_env_file=config_file, **overrides)
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in e['loc']).upper() or 'settings'}: {e['msg']}" for e in exc.errors()
        ]
        raise SystemExit("minimax-gateway: invalid settings\n" + "\n".join(lines)) from None
    except OSError as exc:
        raise SystemExit(f"minimax-gateway: cannot read settings: {exc}") from None
