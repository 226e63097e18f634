"""OpenAI model names as code written for OpenAI sends them: a table's names, and their dated snapshots.

Assistants code of 2023-2025 often names a dated snapshot (`gpt-4-1106-preview`, LlamaIndex's default,
`gpt-4o-2024-08-06`, `gpt-3.5-turbo-0125`) rather than the model's own name. `ModelAliases` maps such a
name as its undated base when it has no entry of its own, for either backend's table and for
`MODEL_ALIASES`."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

_SNAPSHOT = re.compile(r"(?P<base>.+?)(?:-\d{4}-\d{2}-\d{2}|-\d{4})?(?:-preview)?")
"""A name, then a snapshot's date (`-2024-08-06`, `-1106`) and a `-preview`, each optional."""


def undated(model: str) -> str:
    """`model` without a snapshot's date and `-preview` (`gpt-4-1106-preview` -> `gpt-4`)."""
    found = _SNAPSHOT.fullmatch(model)
    return found["base"] if found else model


class ModelAliases(Mapping[str, str]):
    """A table of model names: a name it lacks is looked up again undated (see the module)."""

    __slots__ = ("_table",)

    def __init__(self, table: Mapping[str, str]) -> None:
        self._table = dict(table)

    def __getitem__(self, model: str) -> str:
        found = self._table.get(model)
        if found is None:
            found = self._table.get(undated(model))
        if found is None:
            raise KeyError(model)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)
