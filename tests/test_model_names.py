"""Model names as OpenAI code sends them: dated snapshots map as their undated base."""

from __future__ import annotations

import pytest

from gateway.model_names import ModelAliases, undated


@pytest.mark.parametrize(
    ("model", "base"),
    [
        ("gpt-4-1106-preview", "gpt-4"),  # LlamaIndex's default for its assistant agent
        ("gpt-4-0125-preview", "gpt-4"),
        ("gpt-4-turbo-preview", "gpt-4-turbo"),
        ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("gpt-4o", "gpt-4o"),
        ("MiniMax-M2.7", "MiniMax-M2.7"),
        ("abab6.5s-chat", "abab6.5s-chat"),
        ("gpt-4-32k-0613", "gpt-4-32k"),  # a base no table names: still not a model
    ],
)
def test_undated(model: str, base: str) -> None:
    assert undated(model) == base


def test_a_name_the_table_lacks_is_looked_up_undated_and_its_own_entry_wins() -> None:
    aliases = ModelAliases({"gpt-4": "MiniMax-M2.7", "gpt-4-1106-preview": "MiniMax-M3"})
    assert aliases["gpt-4-0613"] == "MiniMax-M2.7"
    assert aliases["gpt-4-1106-preview"] == "MiniMax-M3"  # an entry of its own
    assert "gpt-4-0125-preview" in aliases and aliases.get("gpt-4-0125-preview") == "MiniMax-M2.7"
    assert "gpt-4-32k-0613" not in aliases and aliases.get("gpt-5", "x") == "x"
    with pytest.raises(KeyError):
        aliases["gpt-4-32k"]
    assert sorted(aliases) == ["gpt-4", "gpt-4-1106-preview"] and len(aliases) == 2  # the table's own names
