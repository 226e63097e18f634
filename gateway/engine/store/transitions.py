"""Run status transitions: which stamps each status sets, and the compare-and-set UPDATE for it."""

from __future__ import annotations

import functools
from typing import Any, Final, Literal

from sqlalchemy import bindparam, func, update

from gateway.engine.store.guards import tenant_filter
from gateway.engine.store.steps import StepEnd
from gateway.engine.store.tables import runs as t

RunStatus = Literal[
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
]
TERMINAL: Final = frozenset({"cancelled", "failed", "completed", "incomplete", "expired"})
FIELDS: Final = frozenset(
    {
        "started_at",
        "expires_at",
        "cancelled_at",
        "failed_at",
        "completed_at",
        "required_action",
        "last_error",
        "usage",
        "incomplete_details",
    }
)
"""What `transition` may set besides the status."""
STAMP: Final = {"cancelled": "cancelled_at", "failed": "failed_at", "completed": "completed_at"}
CLOSE: Final[dict[str, tuple[StepEnd, str]]] = {
    "cancelled": ("cancelled", "run_cancelled"),
    "failed": ("failed", "run_failed"),
    "expired": ("expired", "run_expired"),
}


@functools.cache
def transition_stmt(with_tenant: bool, names: frozenset[str], started: bool) -> Any:
    values: dict[str, Any] = {n: bindparam("b_" + n) for n in names}
    if started:
        values["started_at"] = func.coalesce(t.c.started_at, bindparam("b_now"))
    return (
        update(t)
        .where(
            t.c.id == bindparam("b_id"),
            t.c.status.in_(bindparam("b_from", expanding=True)),
            *tenant_filter(t, with_tenant),
        )
        .values(values)
        .returning(*t.c)
    )


def transition_values(to_status: str, now: int, fields: dict[str, Any]) -> dict[str, Any]:
    """The columns a move to `to_status` sets (see `Runs.transition`), `fields` overriding."""
    unknown = set(fields) - FIELDS
    if unknown:
        raise TypeError(f"transition() cannot set {sorted(unknown)}")
    values: dict[str, Any] = {"status": to_status}
    if to_status in STAMP:
        values[STAMP[to_status]] = now
    if to_status in TERMINAL and to_status != "expired":
        values["expires_at"] = None
    if to_status != "requires_action":
        values["required_action"] = None
    if to_status == "requires_action" or to_status in TERMINAL:
        values.update(lease_owner=None, lease_until=None)
    values.update(fields)
    return values
