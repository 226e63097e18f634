"""Run status transitions: which stamps each status sets, and the compare-and-set UPDATE for it."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, bindparam, func, update

from gateway.engine.store import direct
from gateway.engine.store.guards import tenant_filter
from gateway.engine.store.steps import close_open
from gateway.engine.store.tables import runs as t
from gateway.schemas.status import (
    RUN_END_REASON,
    RUN_END_STEP,
    RUN_FINAL,
    RUN_STAMP,
    RunStatus,
    RunStatusLiteral,
    StepEnd,
    plain,
)

ToStatus = RunStatus | RunStatusLiteral
"""A transition's target: a `RunStatus`, or its value as a literal."""
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
CLOSE: Final[dict[str, tuple[StepEnd, str]]] = {
    s: (RUN_END_STEP[s], RUN_END_REASON[s])
    for s in (RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.EXPIRED)
}
"""The ends whose `close_children` closes the run's open steps (with this status) and messages (with this
reason). A run that completes or is incomplete ended in its stream, which closed them itself."""


@functools.cache
def transition_stmt(
    with_tenant: bool, names: frozenset[str], started: bool, n_from: int, returning: tuple[str, ...] = ()
) -> Any:
    """The UPDATE, returning the whole row or only the `returning` columns. The from-statuses are one
    bind each: an expanding IN would be re-rendered at every execution."""
    values: dict[str, Any] = {n: bindparam("b_" + n) for n in names}
    if started:
        values["started_at"] = func.coalesce(t.c.started_at, bindparam("b_now"))
    return (
        update(t)
        .where(
            t.c.id == bindparam("b_id"),
            t.c.status.in_([bindparam(f"b_from{i}") for i in range(n_from)]),
            *tenant_filter(t, with_tenant),
        )
        .values(values)
        .returning(*([t.c[n] for n in returning] if returning else t.c))
    )


@dataclass(frozen=True, slots=True)
class Move:
    """A prepared compare-and-set transition (see `Runs.transition`), to run inside a transaction."""

    stmt: Any
    key: dict[str, Any]
    run_id: str
    now: int
    close: tuple[StepEnd, str] | None
    values: dict[str, Any]  # the columns set (`transition_values`)
    statuses: tuple[str, ...]  # the from-statuses
    started: bool  # `started_at` is stamped once (coalesced), not set

    @classmethod
    def of(
        cls,
        tenant: str | None,
        run_id: str,
        from_statuses: Collection[str],
        to_status: str,
        now: int,
        fields: dict[str, Any],
        *,
        close_children: bool = False,
        returning: tuple[str, ...] = (),
    ) -> Move:
        """`returning`: only these columns of the updated row (with `close_children`, `last_error` too)."""
        values = transition_values(to_status, now, fields)
        started = to_status == RunStatus.IN_PROGRESS and "started_at" not in fields
        statuses = tuple(plain(RunStatus, s) for s in from_statuses)
        close = CLOSE.get(to_status) if close_children else None
        if returning and close is not None and "last_error" not in returning:
            returning = (*returning, "last_error")
        stmt = transition_stmt(tenant is not None, frozenset(values), started, len(statuses), returning)
        key = {"b_id": run_id, "b_tenant": tenant, "b_now": now, **{"b_" + k: v for k, v in values.items()}}
        key.update({f"b_from{i}": s for i, s in enumerate(statuses)})
        return cls(stmt, key, run_id, now, close, values, statuses, started)

    def update(self, conn: Connection) -> Mapping[str, Any] | None:
        """The status UPDATE alone: the row it returned, or None if the run was not in a from-status."""
        return direct.first(conn, self.stmt, self.key)

    def close_children(self, conn: Connection, found: Mapping[str, Any]) -> None:
        """What `close_children` asked for, once the UPDATE applied (`found` is its row)."""
        if self.close is not None:
            close_open(conn, self.run_id, self.now, self.close[0], self.close[1], found["last_error"])


def transition_values(to_status: str, now: int, fields: dict[str, Any]) -> dict[str, Any]:
    """The columns a move to `to_status` sets (see `Runs.transition`), `fields` overriding."""
    unknown = set(fields) - FIELDS
    if unknown:
        raise TypeError(f"transition() cannot set {sorted(unknown)}")
    to_status = plain(RunStatus, to_status)
    values: dict[str, Any] = {"status": to_status}
    if to_status in RUN_FINAL:
        stamp = RUN_STAMP.get(to_status)
        if stamp != "expires_at":  # a run that expired keeps its deadline (stamps are set once)
            values["expires_at"] = None
            if stamp is not None:
                values[stamp] = now
    if to_status != RunStatus.REQUIRES_ACTION:
        values["required_action"] = None
    if to_status == RunStatus.REQUIRES_ACTION or to_status in RUN_FINAL:
        values.update(lease_owner=None, lease_until=None)
    values.update(fields)
    return values
