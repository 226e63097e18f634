"""The engine's multi-write transactions: a run's start (`begin`) and one read's lifecycle writes (`Batch`).

Both are the engine's own calls on ids it holds (no tenant check), one transaction each, so a run costs
fewer round trips than with the per-operation calls they mirror.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from itertools import zip_longest
from typing import Any

from sqlalchemy import Connection, text

from gateway.engine.store import direct, history, render
from gateway.engine.store.db import Db, json_text, one_statement
from gateway.engine.store.history import HistoryItem
from gateway.engine.store.messages import checkpoint_stmt, complete_key, complete_stmt
from gateway.engine.store.render import JSON
from gateway.engine.store.rows import MESSAGE_INSERT, STEP_INSERT, Content, Replay, reply_rows, step_row
from gateway.engine.store.steps import detail_values, end_values, set_stmt
from gateway.engine.store.tables import tool_results
from gateway.engine.store.transitions import Move, ToStatus
from gateway.schemas.status import (
    MESSAGE_STAMP,
    MessageEnd,
    MessageStatus,
    RunStatus,
    StepEnd,
    StepStatus,
    plain,
)

RESULT_INSERT = tool_results.insert()

_RUN_THREAD = ("tenant", "thread_id")


async def begin(db: Db, run_id: str) -> list[HistoryItem] | None:
    """Move a `queued` run to `in_progress` (stamping `started_at`) and read its thread's history, in one
    transaction: the history, or None (nothing read, nothing changed) if the run was not `queued`."""
    move = Move.of(
        None, run_id, (RunStatus.QUEUED,), RunStatus.IN_PROGRESS, db.clock(), {}, returning=_RUN_THREAD
    )

    def body(conn: Connection) -> list[HistoryItem] | None:
        found = move.update(conn)
        if found is None:
            return None
        return history.read(conn, found["tenant"], found["thread_id"], known=True)

    return await db.write(body)


_CREATED = {MESSAGE_INSERT: "message", STEP_INSERT: "step"}
_BATCH = text("SELECT gateway_batch(CAST(:move AS json), CAST(:ops AS json), CAST(:texts AS text[]))")
_TEXTS = ("content", "replay")


def _apart(ops: list[JSON]) -> tuple[list[JSON], list[str]]:
    """The ops as `gateway_batch` (migration 0006) takes them: a message's content and replay (the
    reply's text, which the database would otherwise parse once per field it reads of the op) as JSON
    texts of their own, the op holding each one's position (from 1)."""
    texts: list[str] = []
    out: list[JSON] = []
    for op in ops:
        kind = op["op"]
        if kind == "message":  # the row holds them
            source = op["row"]
            op = {"op": kind, "row": {k: v for k, v in source.items() if k not in _TEXTS}}
        elif kind in ("checkpoint", "complete"):  # the op holds them
            source, op = op, {k: v for k, v in op.items() if k not in _TEXTS}
        else:
            out.append(op)
            continue
        for key in _TEXTS:
            if key in source:
                texts.append(json_text(source[key]))
                op[key] = len(texts)
        out.append(op)
    return out, texts


def _one_call(move: Move | None, ops: list[JSON]) -> Any:
    """`Batch.write`'s body on PostgreSQL: one call of `gateway_batch` (migrations 0004 and 0006), the
    same writes in the same order, one round trip. (A transition that closes the run's children takes
    the statements one by one.)"""
    guard = None
    if move is not None:
        guard = {
            "id": move.run_id,
            "from": move.statuses,
            "set": move.values,
            "started": move.started,
            "now": move.now,
        }
    ops, texts = _apart(ops)
    args = {"move": None if guard is None else json_text(guard), "ops": json_text(ops), "texts": texts}

    def body(conn: Connection) -> bool:
        return bool(direct.scalar(conn, _BATCH, args))

    return one_statement(body)


class Batch:
    """Writes collected in order, then made in ONE transaction by `write()` (from `Store.batch()`).

    Each write does what its per-operation twin does (`Messages.start`, `Steps.create`,
    `Messages.checkpoint`, `Messages.complete`, `Steps.complete`, `Steps.update`, `Runs.transition`,
    with `tenant=None`), returning nothing; one that finds its message or step no longer `in_progress`
    changes nothing, as the twin.

    The two creations (`start_reply`, `create_step`) return their objects at once (ids and stamps are
    made here) and can wait: `due` stays False while they are all the batch holds, so that the
    executor writes them with the next write it has to make anyway (a checkpoint, a message or step
    closed, the run's end) instead of in a transaction of their own. They go first, in the order
    made; a transaction that fails leaves them in the batch for the next one (what closes the run),
    since what it wrote was rolled back. A write to a message or step still waiting to be created
    changes its row instead (it is inserted as it ends up: one statement, not two), and makes the
    batch `due` as the write would have.

    A batch holds at most one run transition, and it guards the rest: its compare-and-set UPDATE goes
    first, and if the run was not in a from-status the batch writes nothing at all (`write()` is False).
    Otherwise the other writes follow in the order they were added, and the transition's `close_children`
    last, so that a message or step the batch closes itself keeps the content and details it was given.
    """

    # One per run, its `due` checked on every upstream read: slotted, as the stream objects are.
    __slots__ = ("_creations", "_db", "_folded", "_move", "_ops", "_writes")

    def __init__(self, db: Db) -> None:
        self._db = db
        self._creations: list[tuple[Any, dict[str, Any]]] = []
        # (statement, its key, the op for `gateway_batch` when the database has it)
        self._writes: list[tuple[Any, dict[str, Any], JSON | None]] = []
        self._ops = db.functions
        self._move: Move | None = None
        self._folded = False  # a write went into a waiting creation: due as the write would be

    def __len__(self) -> int:
        return len(self._creations) + len(self._writes) + (self._move is not None)

    @property
    def guarded(self) -> bool:
        """Whether the batch holds a run transition (then it can only be written on its own)."""
        return self._move is not None

    @property
    def due(self) -> bool:
        """Whether the batch holds a write that should not wait (anything but creations)."""
        return bool(self._writes) or self._move is not None or self._folded

    def start_reply(
        self, tenant: str, *, thread_id: str, run_id: str, assistant_id: str
    ) -> tuple[JSON, JSON]:
        """An empty `in_progress` assistant message and its `message_creation` step: (message, step)."""
        msg, step = reply_rows(
            self._db.clock(), tenant, thread_id=thread_id, run_id=run_id, assistant_id=assistant_id
        )
        self._creations += ((MESSAGE_INSERT, msg), (STEP_INSERT, step))
        return render.message(msg), render.step(step)

    def create_step(
        self, tenant: str, *, thread_id: str, run_id: str, assistant_id: str, step_details: JSON
    ) -> JSON:
        """An `in_progress` step (tool_calls), placed after every message created before it."""
        row = step_row(
            self._db.clock(),
            tenant,
            thread_id=thread_id,
            run_id=run_id,
            assistant_id=assistant_id,
            step_details=step_details,
        )
        self._creations.append((STEP_INSERT, row))
        return render.step(row)

    def checkpoint(self, message_id: str, content: Content) -> None:
        """Save an `in_progress` message's text so far."""
        if not self._fold(message_id, {"content": content}):
            key = {"b_id": message_id, "b_content": content}
            op = {"op": "checkpoint", "id": message_id, "content": content} if self._ops else None
            self._writes.append((checkpoint_stmt(False), key, op))

    def complete_message(
        self,
        message_id: str,
        *,
        content: Content,
        status: MessageEnd = MessageStatus.COMPLETED,
        incomplete_details: JSON | None = None,
        replay: Replay | None = None,
    ) -> None:
        ended = plain(MessageStatus, status)
        stamp, now = MESSAGE_STAMP[ended], self._db.clock()
        values = {"status": ended, "content": content, "incomplete_details": incomplete_details}
        if not self._fold(message_id, {**values, "replay": replay, stamp: now}):
            key = complete_key(None, message_id, now, content, ended, incomplete_details, replay)
            op = None
            if self._ops:
                op = {
                    "op": "complete",
                    "id": message_id,
                    "set": {"status": ended, "incomplete_details": incomplete_details, stamp: now},
                    "content": content,
                    "replay": replay,
                }
            self._writes.append((complete_stmt(False, stamp, False), key, op))

    def complete_step(
        self,
        step_id: str,
        *,
        status: StepEnd = StepStatus.COMPLETED,
        step_details: JSON | None = None,
        usage: JSON | None = None,
        last_error: JSON | None = None,
    ) -> None:
        self._set_step(step_id, end_values(status, self._db.clock(), step_details, usage, last_error))

    def update_step(self, step_id: str, *, step_details: JSON, replay: Replay | None = None) -> None:
        self._set_step(step_id, detail_values(step_details, replay))

    def add_tool_results(
        self, tenant: str, *, step_id: str, run_id: str, thread_id: str, outputs: Collection[tuple[str, str]]
    ) -> None:
        """Outputs of tool calls the gateway served itself (call id, output), after the step they answer."""
        now = self._db.clock()
        for call_id, output in outputs:
            row = {
                "tenant": tenant,
                "step_id": step_id,
                "run_id": run_id,
                "thread_id": thread_id,
                "tool_call_id": call_id,
                "output": output,
                "created_at": now,
            }
            self._writes.append((RESULT_INSERT, row, {"op": "result", "row": row} if self._ops else None))

    def _set_step(self, step_id: str, values: dict[str, Any]) -> None:
        if not self._fold(step_id, values):
            key = {"b_id": step_id, **{"b_" + k: v for k, v in values.items()}}
            op = {"op": "step_set", "id": step_id, "set": values} if self._ops else None
            self._writes.append((set_stmt(False, frozenset(values), False), key, op))

    def _fold(self, row_id: str, values: dict[str, Any]) -> bool:
        """Apply an UPDATE of an `in_progress` row to its creation if that still waits here (False if
        not): what the UPDATE would set, and only while the row is `in_progress`, as its WHERE says."""
        for _, row in self._creations:
            if row["id"] == row_id:
                if row["status"] == StepStatus.IN_PROGRESS:  # a message's is the same string
                    row.update(values)
                self._folded = True
                return True
        return False

    def transition(
        self,
        run_id: str,
        from_statuses: Collection[str],
        to_status: ToStatus,
        *,
        close_children: bool = False,
        **fields: Any,
    ) -> None:
        """The batch's guard (see the class doc); a second one is a ValueError."""
        if self._move is not None:
            raise ValueError("a batch holds at most one run transition")
        self._move = Move.of(
            None,
            run_id,
            from_statuses,
            to_status,
            self._db.clock(),
            fields,
            close_children=close_children,
            returning=("id",),
        )

    async def write(self) -> bool:
        """Make the writes (no transaction if there are none); False if the guard found the run elsewhere
        and nothing was written. The batch is spent either way, but for the creations of a transaction
        that raised (see the class doc)."""
        creations, move = self._creations, self._move
        writes = [
            (stmt, row, {"op": _CREATED[stmt], "row": row} if self._ops else None) for stmt, row in creations
        ]
        writes += self._writes
        self._creations, self._writes, self._move, self._folded = [], [], None, False
        if not writes and move is None:
            return True

        def body(conn: Connection) -> bool:
            found = None if move is None else move.update(conn)
            if move is not None and found is None:
                return False
            for stmt, key, _ in writes:
                direct.execute(conn, stmt, key)
            if move is not None and found is not None:
                move.close_children(conn, found)
            return True

        if self._ops and (move is None or move.close is None):
            body = _one_call(move, [op for _, _, op in writes if op is not None])
        try:
            return await self._db.write(body)
        except Exception:  # rolled back (not a cancel: SQLite's thread may still commit it)
            self._creations[:0] = creations
            raise


async def write_together(batches: Sequence[Batch]) -> None:
    """The writes of many runs' batches, none `guarded`, in one body: what the checkpoint tick writes, so
    that its store work grows with the ticks, not with the number of runs. Each batch's writes keep their
    order; a statement that several batches make at the same place in their order runs once for all of
    them (the driver's `executemany` on SQLite; on PostgreSQL all the ops go in one `gateway_batch` call).
    Runs write only their own rows (one active run per thread), so no other order matters. If the body
    fails, each batch is left as `Batch.write` leaves it: its creations back, its other writes spent."""
    if any(batch._move is not None for batch in batches):
        raise ValueError("a guarded batch is written on its own")
    db, ops = batches[0]._db, batches[0]._ops
    taken = [(batch, batch._creations, batch._writes) for batch in batches]
    sequences: list[list[tuple[Any, dict[str, Any], JSON | None]]] = []
    for batch, creations, writes in taken:
        created = [
            (stmt, row, {"op": _CREATED[stmt], "row": row} if ops else None) for stmt, row in creations
        ]
        sequences.append(created + writes)
        batch._creations, batch._writes, batch._folded = [], [], False
    if ops:
        body = _one_call(None, [op for sequence in sequences for _, _, op in sequence if op is not None])
    else:
        layers = [_grouped(layer) for layer in zip_longest(*sequences)]

        def body(conn: Connection) -> bool:
            for layer in layers:
                for stmt, params in layer:
                    if len(params) == 1:
                        direct.execute(conn, stmt, params[0])
                    else:
                        direct.execute_many(conn, stmt, params)
            return True

    try:
        await db.write(body)
    except Exception:  # rolled back (not a cancel: SQLite's thread may still commit it)
        for batch, creations, _ in taken:
            batch._creations[:0] = creations
        raise


def _grouped(
    layer: Sequence[tuple[Any, dict[str, Any], JSON | None] | None],
) -> list[tuple[Any, list[dict[str, Any]]]]:
    """One place in every batch's order: its writes grouped by statement and parameter keys."""
    groups: dict[tuple[Any, tuple[str, ...]], list[dict[str, Any]]] = {}
    for write in layer:
        if write is not None:
            stmt, key, _ = write
            groups.setdefault((stmt, tuple(key)), []).append(key)
    return [(stmt, params) for (stmt, _), params in groups.items()]
