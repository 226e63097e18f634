"""Leases on background runs (claim, renewal, release) and the sweeps: orphaned runs fail, due runs expire.

A run in queued / in_progress / cancelling belongs to whoever holds its lease; when the lease lapses (the
executor died) the sweep fails it. Each swept run is its own transaction; on PostgreSQL the row is taken
with `FOR UPDATE SKIP LOCKED`, so concurrent sweepers on several replicas never act on the same run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from sqlalchemy import BindParameter, ColumnElement, Connection, bindparam, or_, select, update

from gateway.engine.store import direct, render
from gateway.engine.store.db import Db
from gateway.engine.store.render import JSON
from gateway.engine.store.steps import close_open
from gateway.engine.store.tables import runs as t
from gateway.schemas.status import RUN_END_REASON, RUN_END_STEP, RUN_LEASED, RUN_STAMP, RunStatus, in_order

LEASED: Final = tuple(s.value for s in in_order(RUN_LEASED))  # ("queued", "in_progress", "cancelling")
_NOW: BindParameter[Any] = bindparam("b_now")
_LAPSED = t.c.status.in_(LEASED) & or_(t.c.lease_until.is_(None), t.c.lease_until < _NOW)
_DUE = (t.c.status == RunStatus.REQUIRES_ACTION.value) & (t.c.expires_at <= _NOW)
_CLAIM = (
    update(t)
    .where(
        t.c.id == bindparam("b_id"),
        t.c.status.in_(LEASED),
        or_(
            t.c.lease_owner.is_(None),
            t.c.lease_owner == bindparam("b_owner"),
            t.c.lease_until.is_(None),
            t.c.lease_until < _NOW,
        ),
    )
    .values(lease_owner=bindparam("b_owner"), lease_until=bindparam("b_until"))
)
_HEARTBEAT = (
    update(t)
    # The statuses as constants, not an expanding IN: `direct` runs it on SQLite (`renew`, per sweep).
    .where(
        t.c.id == bindparam("b_id"),
        t.c.lease_owner == bindparam("b_owner"),
        or_(*(t.c.status == status for status in LEASED)),
    )
    .values(lease_until=bindparam("b_until"))
)
_RELEASE = (
    update(t)
    .where(t.c.id == bindparam("b_id"), t.c.lease_owner == bindparam("b_owner"))
    .values(lease_owner=None)
)
_ORPHANS = select(t).where(_LAPSED).order_by(t.c.seq)


class _Ending(NamedTuple):
    """A sweep, its statements made once: the next run `cond` picks, and ending it with `status`."""

    status: RunStatus
    pick: Any
    act: Any


def _ending(cond: ColumnElement[bool], status: RunStatus, stamps: dict[str, Any]) -> _Ending:
    pick = select(t.c.id).where(cond).order_by(t.c.seq).limit(1).with_for_update(skip_locked=True)
    values = {"status": status.value, "required_action": None, "lease_owner": None, "lease_until": None}
    act = update(t).where(t.c.id == bindparam("b_id"), cond).values({**values, **stamps}).returning(*t.c)
    return _Ending(status, pick, act)


_FAIL: Final = _ending(
    _LAPSED,
    RunStatus.FAILED,
    {RUN_STAMP[RunStatus.FAILED]: _NOW, "last_error": bindparam("b_error"), "expires_at": None},
)
_EXPIRE: Final = _ending(_DUE, RunStatus.EXPIRED, {})


class Leases:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def claim(self, run_id: str, owner: str, ttl: float) -> bool:
        """Take the lease if it is free, lapsed or ours (and the run queued, in_progress or cancelling)."""
        now = self._db.clock()
        return await self._one(_CLAIM, {"b_id": run_id, "b_owner": owner, "b_now": now, "b_until": now + ttl})

    async def renew(self, run_ids: Sequence[str], owner: str, ttl: float) -> None:
        """Extend `owner`'s lease on every run in `run_ids`: one statement run once per run (the
        driver's `executemany`) in one write, so a sweep's renewals cost one store call however many
        runs execute here. A run lost meanwhile (taken over, swept or ended) is left alone."""
        if not run_ids:
            return
        until = self._db.clock() + ttl
        params = [{"b_id": run_id, "b_owner": owner, "b_until": until} for run_id in run_ids]
        await self._db.write(lambda conn: direct.execute_many(conn, _HEARTBEAT, params))

    async def release(self, run_id: str, owner: str) -> bool:
        """Give the lease up (another executor may claim the run; it still lapses at its time)."""
        return await self._one(_RELEASE, {"b_id": run_id, "b_owner": owner})

    async def _one(self, stmt: Any, params: dict[str, Any]) -> bool:
        return bool(await self._db.write(lambda conn: conn.execute(stmt, params).rowcount) == 1)

    async def orphans(self, now: int) -> list[JSON]:
        """Runs whose lease lapsed, oldest first (what `fail_orphans` would fail)."""
        return await self._db.read(
            lambda conn: [render.run(r) for r in conn.execute(_ORPHANS, {"b_now": now}).mappings()]
        )

    async def fail_orphans(self, now: int, message: str) -> list[JSON]:
        """Fail each lapsed run (last_error server_error), its open steps and in-progress messages."""
        error = {"code": "server_error", "message": message}
        return await self._sweep(_FAIL, {"b_now": now, "b_error": error})

    async def expire_due(self, now: int) -> list[JSON]:
        """Expire each requires_action run past `expires_at`, its open steps and in-progress messages."""
        return await self._sweep(_EXPIRE, {"b_now": now})

    async def _sweep(self, ending: _Ending, params: dict[str, Any]) -> list[JSON]:
        """End each run `ending` picks, and its open steps and messages as that end says."""
        step_status, reason = RUN_END_STEP[ending.status], RUN_END_REASON[ending.status]
        pick, act, now = ending.pick, ending.act, params["b_now"]

        def one(conn: Connection) -> JSON | None:
            run_id = direct.scalar(conn, pick, params)
            if run_id is None:
                return None
            row = direct.first(conn, act, {**params, "b_id": run_id})
            assert row is not None  # picked in this transaction (on PostgreSQL, locked)
            close_open(conn, run_id, now, step_status, reason, row["last_error"])
            return render.run(row)

        done: list[JSON] = []
        while (run := await self._db.write(one)) is not None:
            done.append(run)
        return done
