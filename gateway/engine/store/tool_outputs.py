"""Tool outputs: check them against the run's required calls and re-queue the run, in one transaction."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from typing import Any, TypedDict

from sqlalchemy import Connection, bindparam, select, update

from gateway.engine.store import render
from gateway.engine.store.db import Db
from gateway.engine.store.errors import NotFound, RunStateConflict, ToolOutputsMismatch
from gateway.engine.store.render import JSON
from gateway.engine.store.tables import run_steps, runs, tool_results


class ToolOutput(TypedDict):
    tool_call_id: str
    output: str


_RESULT_INSERT = tool_results.insert()


def check(required: Sequence[str], outputs: Sequence[ToolOutput]) -> dict[str, str]:
    """Outputs by call id, if they answer exactly the required calls once each; else ToolOutputsMismatch."""
    counts = Counter(o["tool_call_id"] for o in outputs)
    wanted = set(required)
    mismatch = {
        "missing": [i for i in required if i not in counts],
        "unknown": [i for i in counts if i not in wanted],
        "duplicate": [i for i, n in counts.items() if n > 1],
    }
    if any(mismatch.values()):
        raise ToolOutputsMismatch(**mismatch)
    return {o["tool_call_id"]: o["output"] for o in outputs}


def required_ids(required_action: Any) -> list[str]:
    calls = ((required_action or {}).get("submit_tool_outputs") or {}).get("tool_calls") or ()
    return [c["id"] for c in calls]


_RUN = (
    select(runs.c.status, runs.c.required_action)
    .where(
        runs.c.id == bindparam("b_id"),
        runs.c.thread_id == bindparam("b_thread"),
        runs.c.tenant == bindparam("b_tenant"),
    )
    .with_for_update()
)
_OPEN_STEP = (
    select(run_steps.c.id, run_steps.c.step_details)
    .where(
        run_steps.c.run_id == bindparam("b_id"),
        run_steps.c.type == "tool_calls",
        run_steps.c.status == "in_progress",
    )
    .order_by(run_steps.c.seq.desc())
    .limit(1)
    .with_for_update()
)
_DONE = (
    update(run_steps)
    .where(run_steps.c.id == bindparam("b_step"))
    .values(status="completed", completed_at=bindparam("b_now"), step_details=bindparam("b_details"))
    .returning(*run_steps.c)
)
_REQUEUE = (
    update(runs)
    .where(runs.c.id == bindparam("b_id"), runs.c.status == "requires_action")
    .values(
        status="queued",
        required_action=None,
        lease_owner=bindparam("b_owner"),
        lease_until=bindparam("b_until"),
    )
    .returning(*runs.c)
)


async def submit(
    db: Db,
    tenant: str,
    thread_id: str,
    run_id: str,
    outputs: Sequence[ToolOutput],
    lease_owner: str | None,
    lease_ttl: float,
) -> tuple[JSON, JSON]:
    now = db.clock()

    def body(conn: Connection) -> tuple[JSON, JSON]:
        run = conn.execute(_RUN, {"b_id": run_id, "b_thread": thread_id, "b_tenant": tenant}).first()
        if run is None:
            raise NotFound("run", run_id)
        if run.status != "requires_action":
            raise RunStateConflict(run_id, run.status, f"Run {run_id} is {run.status}, not requires_action.")
        required = required_ids(run.required_action)
        by_id = check(required, outputs)
        step = conn.execute(_OPEN_STEP, {"b_id": run_id}).first()
        details = copy.deepcopy(step.step_details) if step is not None else {}
        answered = 0
        for call in details.get("tool_calls") or ():
            if call.get("type") == "function" and call.get("id") in by_id:
                call["function"]["output"] = by_id[call["id"]]
                answered += 1
        if step is None or answered != len(required):
            raise RunStateConflict(
                run_id, run.status, f"Run {run_id} has no open step with its required calls."
            )
        done = conn.execute(_DONE, {"b_step": step.id, "b_now": now, "b_details": details}).mappings().one()
        conn.execute(
            _RESULT_INSERT,
            [
                {
                    "tenant": tenant,
                    "step_id": step.id,
                    "run_id": run_id,
                    "thread_id": thread_id,
                    "tool_call_id": call_id,
                    "output": by_id[call_id],
                    "created_at": now,
                }
                for call_id in required
            ],
        )
        queued = (
            conn.execute(_REQUEUE, {"b_id": run_id, "b_owner": lease_owner, "b_until": now + lease_ttl})
            .mappings()
            .first()
        )
        if queued is None:  # cannot happen under the row lock; the CAS keeps it so anyway
            raise RunStateConflict(run_id, "unknown")
        return render.run(queued), render.step(done)

    return await db.write(body)
