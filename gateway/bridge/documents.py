"""Files and vector stores on the bridge: refused, every one, with the bridge's clear 400.

MiniMax's Assistants API keeps no OpenAI-shaped files or vector stores the bridge could forward to;
the engine (`BACKEND=engine`) serves them. A 400, never a 5xx, so the SDKs do not retry.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from gateway.errors import InvalidRequest


class UnsupportedDocuments:
    """`Documents` whose every operation answers 400 `unsupported_operation`."""

    def __getattr__(self, operation: str) -> Callable[..., Coroutine[Any, Any, NoReturn]]:
        if operation.startswith("_"):
            raise AttributeError(operation)

        async def refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
            raise InvalidRequest(
                "Files and vector stores are not supported with BACKEND=assistants: MiniMax's Assistants API "
                "has no equivalent operation (the engine, BACKEND=engine, serves them)",
                code="unsupported_operation",
            )

        return refuse
