"""A thread's whole conversation in order, for the executor's next model request.

Messages come in creation order. A tool-calls step sits after the messages that existed when it was created
(`anchor_seq`): an assistant item if the step has a `replay`, then its tool results in call order. So a model
turn that wrote text and called tools comes out as its message, then (if the replay was put on the step) an
assistant item with the calls, then the results; merging the two into one MiniMax message is the caller's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Literal

from sqlalchemy import Connection, bindparam, select

from gateway.engine.store import direct
from gateway.engine.store.db import Db
from gateway.engine.store.paging import exists
from gateway.engine.store.render import JSON
from gateway.engine.store.tables import messages, run_steps, threads, tool_results


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One turn. user/assistant: `content` (OpenAI blocks); assistant also what its `Replay` kept:
    `raw_content`, `reasoning`, `reasoning_details`, `tool_calls` (as MiniMax sent them); tool:
    `tool_call_id`, `output`. An assistant item from a tool-calls step has no `message_id`."""

    role: Literal["user", "assistant", "tool"]
    run_id: str | None
    message_id: str | None = None
    status: str = "completed"
    content: list[JSON] = field(default_factory=list)
    attachments: list[JSON] = field(default_factory=list)
    raw_content: str | None = None
    reasoning: str | None = None
    reasoning_details: Any = None
    tool_calls: list[JSON] = field(default_factory=list)
    tool_call_id: str | None = None
    output: str | None = None


def _assistant(replay: Any, **kw: Any) -> HistoryItem:
    replay = replay or {}
    return HistoryItem(
        role="assistant",
        raw_content=replay.get("content"),
        reasoning=replay.get("reasoning"),
        reasoning_details=replay.get("reasoning_details"),
        tool_calls=list(replay.get("tool_calls") or ()),
        **kw,
    )


_m, _s, _r = messages.c, run_steps.c, tool_results.c
_MESSAGES = (
    select(_m.seq, _m.id, _m.role, _m.status, _m.content, _m.attachments, _m.run_id, _m.replay)
    .where(_m.thread_id == bindparam("b_thread"), _m.tenant == bindparam("b_tenant"))
    .order_by(_m.seq)
)
_STEPS = (
    select(_s.id, _s.run_id, _s.anchor_seq, _s.replay)
    .where(_s.thread_id == bindparam("b_thread"), _s.tenant == bindparam("b_tenant"), _s.type == "tool_calls")
    .order_by(_s.anchor_seq, _s.seq)
)
_RESULTS = (
    select(_r.step_id, _r.run_id, _r.tool_call_id, _r.output)
    .where(_r.thread_id == bindparam("b_thread"), _r.tenant == bindparam("b_tenant"))
    .order_by(_r.seq)
)


def read(conn: Connection, tenant: str, thread_id: str, *, known: bool = False) -> list[HistoryItem]:
    """The thread's turns, read with `conn`; NotFound if this tenant has no such thread, unless `known`
    (the caller just found a row of the thread in the same transaction)."""
    if not known:
        exists(conn, threads, "thread", tenant, thread_id)
    key = {"b_thread": thread_id, "b_tenant": tenant}
    msgs = direct.rows(conn, _MESSAGES, key)
    steps = direct.rows(conn, _STEPS, key)
    # results belong to tool-calls steps: none without one
    results = direct.rows(conn, _RESULTS, key) if steps else []
    return assemble(msgs, steps, results)


def from_json(found: JSON) -> list[HistoryItem]:
    """The history `gateway_start_run` read (PostgreSQL, migration 0004): its rows as JSON objects."""
    rows = [[SimpleNamespace(**r) for r in found[k]] for k in ("messages", "steps", "results")]
    return assemble(*rows)


def assemble(msgs: Sequence[Any], steps: Sequence[Any], results: Sequence[Any]) -> list[HistoryItem]:
    """The turns from the thread's rows (`_MESSAGES`, `_STEPS`, `_RESULTS`, in their order)."""
    by_step: dict[str, list[HistoryItem]] = defaultdict(list)
    for res in results:
        by_step[res.step_id].append(
            HistoryItem(role="tool", run_id=res.run_id, tool_call_id=res.tool_call_id, output=res.output)
        )
    out: list[HistoryItem] = []
    pending = iter(steps)
    step = next(pending, None)
    for msg in msgs:
        while step is not None and step.anchor_seq < msg.seq:
            _step(out, step, by_step)
            step = next(pending, None)
        kw = {
            "run_id": msg.run_id,
            "message_id": msg.id,
            "status": msg.status,
            "content": msg.content,
            "attachments": msg.attachments,
        }
        turn = _assistant(msg.replay, **kw) if msg.role == "assistant" else HistoryItem(role="user", **kw)
        out.append(turn)
    while step is not None:
        _step(out, step, by_step)
        step = next(pending, None)
    return out


def _step(out: list[HistoryItem], step: Any, by_step: dict[str, list[HistoryItem]]) -> None:
    if step.replay:
        out.append(_assistant(step.replay, run_id=step.run_id))
    out.extend(by_step.get(step.id, ()))


class History:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def __call__(self, tenant: str, thread_id: str) -> list[HistoryItem]:
        return await self._db.read(lambda conn: read(conn, tenant, thread_id))
