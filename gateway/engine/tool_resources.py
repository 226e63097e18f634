"""A run's `tool_resources` for one tool, as OpenAI resolved them: the assistant's, then the thread's.

The tools the engine serves read what they may use here (file_search its vector stores, code_interpreter
its files). An assistant deleted since the run began gives nothing: its resources are not the run's.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from gateway.engine.store import Store, StoreError


async def ids(store: Store, tenant: str, run: Mapping[str, Any], tool: str, key: str) -> list[str]:
    """The ids under `tool_resources.<tool>.<key>` of the run's assistant, then its thread, each once."""
    owners = []
    with suppress(StoreError):
        owners.append(await store.assistants.retrieve(tenant, run["assistant_id"]))
    owners.append(await store.threads.retrieve(tenant, run["thread_id"]))
    found: list[str] = []
    for owner in owners:
        resources = (owner.get("tool_resources") or {}).get(tool) or {}
        found += [i for i in resources.get(key) or () if isinstance(i, str)]
    return list(dict.fromkeys(found))
