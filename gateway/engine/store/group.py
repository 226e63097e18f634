"""Group commit: the writes that arrive while a write transaction runs share the next one.

A process makes its writes one transaction at a time anyway (SQLite takes one writer; on PostgreSQL the
engine's writes are short and many). Instead of a transaction each, `GroupCommit.write(body)` queues the
body; one flusher task takes every body queued so far and runs them, in arrival order, as ONE
transaction, then answers each caller with its own body's result. While that transaction runs, new
bodies queue for the next. So the number of transactions follows how often the store can commit, not
how many callers write: a burst of run starts, or every run's checkpoint at one tick, is one
transaction. A lone write still goes at once (no timer): the flusher starts on the next turn of the
loop; one marked `one_statement` (db.py) then needs no transaction of its own on PostgreSQL.

What each caller sees is what its own transaction would have given:
- its body's result, once the transaction that holds it has committed;
- its body's own exception: when a body raises, the group is rolled back and each of its bodies is run
  again in a transaction of its own (so one failing body costs the others a retry, never their write);
- `StoreUnavailable` for all of them when the database itself could not be reached (no retry one by
  one: the next caller tries again).
Bodies must be functions of the connection only (they may run twice, as above); every transaction body
in the store is. The price: a process's writes go one group at a time, so on PostgreSQL a body waiting
for a row another replica holds (a thread's lock while that replica starts a run on it) holds up the
group with it. Those transactions are short; a deadlock between groups is PostgreSQL's to break, and the
group it aborts is retried body by body as above.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from sqlalchemy import Connection

from gateway.engine.store.errors import StoreUnavailable
from gateway.engine.store.workers import settle

T = TypeVar("T")
Body = Callable[[Connection], T]
Transaction = Callable[[Body[list[Any]]], Awaitable[list[Any]]]

MAX_GROUP: Final = 512  # bodies in one transaction: bounds its length (and a retry's cost)


class GroupCommit:
    """Queues write bodies and commits them in groups through `transaction` (one write transaction that
    runs a body of the connection and returns what it returned)."""

    def __init__(self, transaction: Transaction) -> None:
        self._transaction = transaction
        self._queue: list[tuple[Body[Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, body: Body[T]) -> T:
        """Run `body` in a write transaction (shared with the others queued now); its result."""
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((body, fut))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush(), name="store group commit")
        # A caller cancelled while its body waits or runs does not take it back: like a transaction
        # handed to SQLite's thread, it commits or rolls back as a whole.
        return await asyncio.shield(fut)

    async def close(self) -> None:
        """Let the queued bodies commit (or fail) before the database closes."""
        while self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        group: list[tuple[Body[Any], asyncio.Future[Any]]] = []
        try:
            while self._queue:
                group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
                await self._commit(group)
        except asyncio.CancelledError:  # the loop is closing: nobody is left to commit for the callers
            for _, fut in group + self._queue:
                fut.cancel()
            self._queue = []
            raise
        finally:
            self._flusher = None

    async def _commit(self, group: list[tuple[Body[Any], asyncio.Future[Any]]]) -> None:
        bodies = [body for body, _ in group]
        try:
            if len(bodies) == 1:  # on its own: keeps its `one_statement` mark (db.py)
                results = await self._transaction(_alone(bodies[0]))
            else:
                results = await self._transaction(lambda conn: [body(conn) for body in bodies])
        except StoreUnavailable as exc:
            for _, fut in group:
                settle(fut, None, exc)
            return
        except Exception as exc:
            if len(group) == 1:
                settle(group[0][1], None, exc)
                return
            for body, fut in group:  # the group rolled back: each on its own, for its own outcome
                try:
                    (result,) = await self._transaction(_alone(body))
                except Exception as own:
                    settle(fut, None, own)
                else:
                    settle(fut, result, None)
            return
        for (_, fut), result in zip(group, results, strict=True):
            settle(fut, result, None)


def _alone(body: Body[Any]) -> Body[list[Any]]:
    def alone(conn: Connection) -> list[Any]:
        return [body(conn)]

    if getattr(body, "one_statement", False):
        alone.one_statement = True  # type: ignore[attr-defined]
    return alone
