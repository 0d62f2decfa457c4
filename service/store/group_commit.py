"""Group commit: the writes that one process's concurrent requests make share one transaction.

Each write (an append, a delivery's token claim) is a piece of work on a connection. A
caller hands its work to `GroupCommit.run` and waits. One committer task takes what has
gathered, runs each piece on one connection inside one transaction, each under its own
SAVEPOINT, and commits once; while it commits, the next group gathers. With nothing else
waiting a piece runs at once, alone, in autocommit: exactly the single-statement path, so
a quiet process pays no added latency and no added statement.

Why it is safe:

- Isolation per caller. A piece that fails (a version conflict, a unique violation, any
  statement error) rolls back to its savepoint only: its own writes go, the group's
  others stay, and only its caller sees the error, which it handles as it always did
  (the command handler re-reads and decides again on ConcurrencyConflict).
- Nothing is acknowledged before the commit. Every caller's answer, success or its own
  error, is held until the COMMIT has returned. If the group fails as a whole (the
  connection dies, the COMMIT fails), every caller gets GroupCommitFailed, an
  OperationalError, which the API answers with 503 and QStash retries: a retry finds
  the inbox's answer if the commit did land (its outcome was unknown, as for any lost
  connection), or writes again if it did not. A crash between gathering and committing
  rolls the whole transaction back; nothing of it was promised to anyone.
- Post-commit work stays with the callers, after their answer: observers, doorbells and
  NOTIFY are never sent from inside the group's transaction.

Locks. A group holds its members' row locks until its commit, so a member that waits for
another process's lock holds up its group; two processes' groups that wait on each other
are a deadlock PostgreSQL breaks after `deadlock_timeout`, failing one member's statement
(its caller retries). Groups are capped at `max_group` members: each savepoint that
writes takes a subtransaction id, and a transaction with more than 64 of them overflows
PostgreSQL's per-backend cache, making every other session's snapshots dearer.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection, OperationalError
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

logger = logging.getLogger("jobtrail.group_commit")

MAX_GROUP = 32

Work = Callable[[AsyncConnection], Awaitable[Any]]


class GroupCommitFailed(OperationalError):
    """The group this write belonged to did not commit (or may not have): retry it."""


@dataclass(eq=False, slots=True)
class _Pending:
    work: Work
    answer: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    result: Any = None
    error: BaseException | None = None


class GroupCommit:
    def __init__(self, pool: AsyncConnectionPool, *, max_group: int = MAX_GROUP) -> None:
        if not 1 <= max_group <= 64:
            raise ValueError("a group holds 1 to 64 writes")
        self.pool, self.max_group = pool, max_group
        self._waiting: list[_Pending] = []
        self._committer: asyncio.Task | None = None
        # Counters for benches and /metrics readers: groups committed and writes in them.
        self.groups = 0
        self.grouped = 0

    async def run(self, work: Work) -> Any:
        """Run `work` on a connection inside this process's next group; its result once committed."""
        if self.max_group == 1:
            async with self.pool.connection() as conn:
                return await work(conn)
        pending = _Pending(work)
        self._waiting.append(pending)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_groups())
        try:
            return await asyncio.shield(pending.answer)
        except asyncio.CancelledError:
            if pending in self._waiting:  # not taken yet: it never runs
                self._waiting.remove(pending)
            pending.answer.add_done_callback(_forget)  # nobody reads its answer now
            raise

    async def close(self) -> None:
        """Wait for the groups already gathered to commit."""
        if self._committer is not None:
            await asyncio.shield(self._committer)

    async def _commit_groups(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting[: self.max_group], self._waiting[self.max_group :]
            try:
                if len(group) == 1:
                    await self._run_alone(group[0])
                else:
                    await self._run_together(group)
            except Exception as error:  # the group as a whole: nobody's write is known to be in
                logger.warning("a group of %d writes failed to commit: %s", len(group), type(error).__name__)
                failed = GroupCommitFailed(f"the write's transaction did not commit: {type(error).__name__}")
                for pending in group:
                    pending.error, pending.result = failed, None
            except BaseException:  # cancelled (shutdown): nobody waits for an answer that cannot come
                for pending in group:
                    _answer(pending, error=GroupCommitFailed("the process stopped before the write committed"))
                raise
            for pending in group:
                _answer(pending)

    async def _run_alone(self, pending: _Pending) -> None:
        """One write: autocommit, no transaction or savepoint around it, its error its own."""
        try:
            async with self.pool.connection() as conn:
                pending.result = await pending.work(conn)
        except Exception as error:
            pending.error = error
        self._count(1)

    async def _run_together(self, group: list[_Pending]) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            for pending in group:
                try:
                    async with conn.transaction():  # SAVEPOINT ... RELEASE, or ROLLBACK TO it
                        pending.result = await pending.work(conn)
                except Exception as error:
                    if conn.broken or conn.info.transaction_status != TransactionStatus.INTRANS:
                        raise  # not rolled back to its savepoint: the connection or the transaction is lost
                    pending.error = error
        self._count(len(group))

    def _count(self, writes: int) -> None:
        self.groups += 1
        self.grouped += writes


def _forget(answer: asyncio.Future) -> None:
    if not answer.cancelled():
        answer.exception()


def _answer(pending: _Pending, error: BaseException | None = None) -> None:
    if pending.answer.done():
        return
    if error is not None or pending.error is not None:
        pending.answer.set_exception(error or pending.error)  # type: ignore[arg-type]
    else:
        pending.answer.set_result(pending.result)
