"""The gateway's one typed settings object, read from the environment (and later a config file)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.translate.text import TextMode

DEFAULT_UPSTREAM = "https://api.minimax.chat"
# Unmodified OpenAI code names OpenAI models; MiniMax rejects them. Override with MODEL_ALIASES (JSON).
OPENAI_MODEL_ALIASES = {
    "gpt-4o": "abab6.5s-chat",
    "gpt-4o-mini": "abab6.5s-chat",
    "gpt-4.1": "abab6.5s-chat",
    "gpt-4.1-mini": "abab6.5s-chat",
    "gpt-4-turbo": "abab6.5-chat",
    "gpt-4": "abab6.5-chat",
    "gpt-3.5-turbo": "abab5.5-chat",
}


class Settings(BaseSettings):
    """Every setting has a default that runs the gateway; secrets stay `SecretStr`."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    minimax_base_url: str = Field(DEFAULT_UPSTREAM, description="MiniMax host; `/v1/...` paths go below it")
    minimax_api_key: SecretStr | None = Field(
        None, description="Key sent upstream; unset: the client's own Bearer key is passed through"
    )
    minimax_group_id: str | None = Field(None, description="GroupId query parameter, sent only when set")
    model_aliases: dict[str, str] = Field(
        default_factory=lambda: dict(OPENAI_MODEL_ALIASES),
        description="OpenAI model names -> MiniMax model names; other names pass through unchanged",
    )
    text_mode: TextMode = Field(TextMode.AUTO, description="How MiniMax message frames carry text")
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to connect upstream")
    read_timeout: float = Field(300.0, gt=0, description="Seconds upstream may stay silent mid-request")
    poll_interval: float = Field(
        0.5, gt=0, description="Seconds between polls when following a run MiniMax does not stream"
    )
    follow_timeout: float = Field(600.0, gt=0, description="Seconds to follow such a run before giving up")
    max_connections: int = Field(10_000, gt=0, description="Upstream connection-pool size")
    log_level: str = Field("info", description="uvicorn/gateway log level")

    def upstream_v1(self) -> str:
        """Base URL of MiniMax's `/v1` API, without a trailing slash."""
        base = self.minimax_base_url.rstrip("/")
        return base if base.endswith("/v1") else base + "/v1"
