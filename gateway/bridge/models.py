"""Which of MiniMax's Assistants models a request uses when the client names another (`MODEL_ALIASES`)."""

from __future__ import annotations

from gateway.model_names import ModelAliases
from gateway.settings import Settings

# MiniMax's Assistants API runs its abab models only; OpenAI code names OpenAI's.
ASSISTANTS_MODEL_ALIASES = {
    "gpt-4o": "abab6.5s-chat",
    "gpt-4o-mini": "abab6.5s-chat",
    "gpt-4.1": "abab6.5s-chat",
    "gpt-4.1-mini": "abab6.5s-chat",
    "gpt-4-turbo": "abab6.5-chat",
    "gpt-4": "abab6.5-chat",
    "gpt-3.5-turbo": "abab5.5-chat",
}


def model_aliases(settings: Settings) -> ModelAliases:
    """`MODEL_ALIASES` when set, else the table above; dated snapshots of its names too."""
    return ModelAliases(
        ASSISTANTS_MODEL_ALIASES if settings.model_aliases is None else settings.model_aliases
    )
