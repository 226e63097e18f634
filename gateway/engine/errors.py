"""The store's errors as OpenAI answers them: mapped once, at the engine's boundary."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from gateway.engine import store as st
from gateway.errors import GatewayError, InvalidRequest, NotFound
from gateway.lifecycle import Overloaded

T = TypeVar("T")


def as_gateway_error(exc: st.StoreError) -> GatewayError:
    """The store's errors as OpenAI answers them."""
    if isinstance(exc, st.NotFound):
        return NotFound(str(exc), param=exc.param)
    if isinstance(exc, st.InvalidPage):
        return InvalidRequest(str(exc), param=exc.param)
    if isinstance(exc, st.StoreUnavailable):
        return Overloaded("The gateway's database is unavailable; retry shortly")
    # ThreadBusy, RunStateConflict, ToolOutputsMismatch, StoreExpired: OpenAI's 400s
    return InvalidRequest(str(exc))


def maps_store_errors(cls: type[T]) -> type[T]:
    """Wrap every public coroutine method so that a `StoreError` leaves as a `GatewayError`."""

    def wrap(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def mapped(*args: Any, **kwargs: Any) -> Any:
            try:
                return await method(*args, **kwargs)
            except st.StoreError as exc:
                raise as_gateway_error(exc) from None

        return mapped

    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(member):
            setattr(cls, name, wrap(member))
    return cls
