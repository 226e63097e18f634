"""Which MiniMax chat model a run uses when the client names another (`MODEL_ALIASES`)."""

from __future__ import annotations

from gateway.model_names import ModelAliases
from gateway.settings import Settings

# Unmodified OpenAI code names OpenAI models; MiniMax rejects them. Override with MODEL_ALIASES (JSON).
ENGINE_MODEL_ALIASES = {
    "gpt-4o": "MiniMax-M2.7",
    "gpt-4o-mini": "MiniMax-M2.7-highspeed",
    "gpt-4.1": "MiniMax-M3",
    "gpt-4.1-mini": "MiniMax-M2.7-highspeed",
    "gpt-4.1-nano": "MiniMax-M2.7-highspeed",
    "gpt-4-turbo": "MiniMax-M2.7",
    "gpt-4": "MiniMax-M2.7",
    "gpt-3.5-turbo": "MiniMax-M2.7-highspeed",
    "o3-mini": "MiniMax-M2.7",
    # Code written for MiniMax's Assistants API names its old models.
    "abab6.5s-chat": "MiniMax-M2.7",
    "abab6.5-chat": "MiniMax-M2.7",
    "abab5.5-chat": "MiniMax-M2.7-highspeed",
}


def model_aliases(settings: Settings) -> ModelAliases:
    """`MODEL_ALIASES` when set, else the table above; dated snapshots of its names too."""
    return ModelAliases(ENGINE_MODEL_ALIASES if settings.model_aliases is None else settings.model_aliases)
