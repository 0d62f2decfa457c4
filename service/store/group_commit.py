"""Group commit: the writes that one process's concurrent requests make share one transaction.

Each write (an append, a delivery's token claim) is one statement. A caller hands it to
`GroupCommit.run` and waits. A committer task takes what has gathered (at most
`max_group` statements) and sends it down one connection as one pipeline: BEGIN, the
statements and COMMIT, in one round trip; while that commits,
the next group gathers. A statement that finds no committer busy runs at once, and alone
in autocommit: exactly the single-statement path, so a quiet process pays no added
latency and no added statement.

One group commits at a time unless a full one (`max_group` writes) waits behind it: then
a second goes at once, up to `in_flight` (two), and PostgreSQL flushes both commits' WAL
together. Where commits wait on a slow disk, the writes pile up and two groups overlap;
where they wait on busy cores, one at a time gathers more writes per commit (signed
deliveries at 8 and 32 concurrent on two cores: 6.4 writes a group instead of 3.4;
bench/README.md).

Why it is safe:

- Isolation per caller. A statement that fails (a version conflict, a unique violation, any
  statement error) aborts its group's transaction, which is rolled back and sent again
  with each statement under its own SAVEPOINT: the failing one, failing again, rolls
  back to its savepoint only, its own writes go, the group's others stay, and only its
  caller sees the error, which it handles as it always did (the command handler
  re-reads and decides again on ConcurrencyConflict). Nothing of the first attempt was
  committed, so nothing is written twice.
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
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection, AsyncCursor, Error, OperationalError
from psycopg_pool import AsyncConnectionPool

logger = logging.getLogger("jobtrail.group_commit")

MAX_GROUP = 32
# Groups committing at once, at most; the second only while a full group waits.
IN_FLIGHT = 2

Rows = list[tuple[Any, ...]]

BEGIN = "BEGIN"
SAVEPOINT = "SAVEPOINT grouped"
RELEASE = "RELEASE SAVEPOINT grouped"
ROLLBACK_TO = "ROLLBACK TO SAVEPOINT grouped"
ROLLBACK = "ROLLBACK"
COMMIT = "COMMIT"
# The statements above are never prepared: there is no plan to save, and one prepared in
# a pipeline that aborts would be taken for prepared by psycopg though the server never saw it.


class GroupCommitFailed(OperationalError):
    """The group this write belonged to did not commit (or may not have): retry it."""


@dataclass(eq=False, slots=True)
class _Pending:
    query: str
    params: Mapping[str, Any]
    answer: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    rows: Rows | None = None
    error: BaseException | None = None


class GroupCommit:
    def __init__(self, pool: AsyncConnectionPool, *, max_group: int = MAX_GROUP, in_flight: int = IN_FLIGHT) -> None:
        if not 1 <= max_group <= 64:
            raise ValueError("a group holds 1 to 64 writes")
        self.pool, self.max_group, self.in_flight = pool, max_group, in_flight
        self._waiting: list[_Pending] = []
        self._committers: set[asyncio.Task] = set()
        # Groups committed and the writes in them (benches and tests read these).
        self.groups = 0
        self.grouped = 0

    async def run(self, query: str, params: Mapping[str, Any]) -> Rows:
        """Run one statement in this process's next group; its rows once the group committed,
        or the psycopg error it raised (its own, or GroupCommitFailed)."""
        if self.max_group == 1:
            async with self.pool.connection() as conn:
                return await (await conn.execute(query, params)).fetchall()
        pending = _Pending(query, params)
        self._waiting.append(pending)
        # A committer that leaves work waiting is done at once (no await between), so a
        # live one always comes back for what waits.
        busy = sum(not committer.done() for committer in self._committers)
        if busy == 0 or (busy < self.in_flight and len(self._waiting) >= self.max_group):
            committer = asyncio.create_task(self._commit_groups())
            self._committers.add(committer)
            committer.add_done_callback(self._committers.discard)
        try:
            return await asyncio.shield(pending.answer)
        except asyncio.CancelledError:
            if pending in self._waiting:  # not taken yet: it never runs
                self._waiting.remove(pending)
            pending.answer.add_done_callback(_forget)  # nobody reads its answer now
            raise

    async def close(self) -> None:
        """Wait for the groups already gathered to commit."""
        if self._committers:
            await asyncio.shield(asyncio.gather(*self._committers, return_exceptions=True))

    async def _commit_groups(self) -> None:
        while self._waiting and (len(self._waiting) >= self.max_group or not self._another_committing()):
            group, self._waiting = self._waiting[: self.max_group], self._waiting[self.max_group :]
            try:
                if len(group) == 1:
                    await self._run_alone(group[0])
                else:
                    await self._run_together(group)
                self._count(len(group))
            except Exception as error:  # the group as a whole: nobody's write is known to be in
                logger.warning("a group of %d writes failed to commit: %s", len(group), type(error).__name__)
                failed = GroupCommitFailed(f"the write's transaction did not commit: {type(error).__name__}")
                for pending in group:
                    pending.error, pending.rows = failed, None
            except BaseException:  # cancelled (shutdown): nobody waits for an answer that cannot come
                for pending in group:
                    _answer(pending, GroupCommitFailed("the process stopped before the write committed"))
                raise
            for pending in group:
                _answer(pending)

    def _another_committing(self) -> bool:
        me = asyncio.current_task()
        return any(not committer.done() and committer is not me for committer in self._committers)

    async def _run_alone(self, pending: _Pending) -> None:
        """One write: autocommit, no transaction or savepoint around it, its error its own."""
        try:
            async with self.pool.connection() as conn:
                pending.rows = await (await conn.execute(pending.query, pending.params)).fetchall()
        except Error as error:
            pending.error = error

    async def _run_together(self, group: list[_Pending]) -> None:
        """BEGIN, the statements, COMMIT: one pipeline, one round trip. Only when one of them
        fails is the group rolled back and sent again with a savepoint around each statement
        (`_with_savepoints`), so that the failure is its caller's alone. A savepoint costs
        the service two statements and PostgreSQL a subtransaction per write: paying that
        only for a group in which a statement fails (a conflict, a duplicate) takes a third
        of the psycopg work and most of the subtransactions off every other group."""
        async with self.pool.connection() as conn:
            if not await self._all_or_nothing(conn, group):
                # psycopg counts a statement it prepared in the aborted part of a pipeline as
                # prepared, though the server never saw it: from here the group goes
                # unprepared, and the connection is closed after (the pool opens another).
                await self._with_savepoints(conn, group, prepare=False)
                await conn.close()

    async def _all_or_nothing(self, conn: AsyncConnection, group: list[_Pending]) -> bool:
        """The group in one transaction without savepoints: True once committed, False when a
        statement failed (the transaction is then rolled back: nothing of it was written)."""
        cursors: list[AsyncCursor] = []
        try:
            async with _pipeline(conn):
                await conn.execute(BEGIN, prepare=False)
                for pending in group:
                    cursor = conn.cursor()
                    cursors.append(cursor)  # before it runs: its error may come out of its own execute
                    await cursor.execute(pending.query, pending.params)
                await conn.execute(COMMIT, prepare=False)
        except Error:
            if conn.broken or all(cursor.pgresult is not None for cursor in cursors):
                raise  # the connection, or the COMMIT itself: the group as a whole
            await conn.execute(ROLLBACK, prepare=False)
            return False
        for pending, cursor in zip(group, cursors, strict=True):
            pending.rows = await cursor.fetchall()
        return True

    async def _with_savepoints(self, conn: AsyncConnection, group: list[_Pending], prepare: bool | None) -> None:
        """BEGIN, each statement between SAVEPOINT and RELEASE, COMMIT: one pipeline, one round
        trip. A statement that fails aborts the rest of its pipeline; it is rolled back to its
        savepoint, its caller gets its error, and the ones after it go again in a new pipeline."""
        remaining, begun = group, False
        while remaining:
            cursors: list[AsyncCursor] = []
            try:
                async with _pipeline(conn):
                    if not begun:
                        await conn.execute(BEGIN, prepare=False)
                        begun = True
                    for pending in remaining:
                        await conn.execute(SAVEPOINT, prepare=False)
                        cursors.append(await conn.execute(pending.query, pending.params, prepare=prepare))
                        await conn.execute(RELEASE, prepare=False)
                    await conn.execute(COMMIT, prepare=False)
            except Error as error:
                failed = next((i for i, cursor in enumerate(cursors) if cursor.pgresult is None), None)
                if conn.broken or failed is None:  # the connection, or the COMMIT itself
                    raise
                for pending, cursor in zip(remaining[:failed], cursors, strict=False):
                    pending.rows = await cursor.fetchall()
                remaining[failed].error = error
                await conn.execute(ROLLBACK_TO, prepare=False)  # the failed statement's writes go, the others' stay
                remaining = remaining[failed + 1 :]
                if not remaining:
                    await conn.execute(COMMIT, prepare=False)
                continue
            for pending, cursor in zip(remaining, cursors, strict=True):
                pending.rows = await cursor.fetchall()
            remaining = []

    def _count(self, writes: int) -> None:
        self.groups += 1
        self.grouped += writes


@contextlib.asynccontextmanager
async def _pipeline(conn: AsyncConnection) -> AsyncIterator[None]:
    """`conn.pipeline()` whose block may raise a statement's error without a warning.

    psycopg raises a statement's error where it reads it, often inside the block (from a
    later statement's execute). Left to leave the block so, the error makes the pipeline's
    exit sync the statements after it, which the failure aborted, and log "error ignored
    terminating" for their PipelineAborted. A failing statement is an expected event here:
    its error waits while those are read, and leaves the block once the pipeline is clean."""
    failed: Error | None = None
    async with conn.pipeline() as pipeline:
        try:
            yield
        except Error as error:
            failed = error
            # PipelineAborted for the statements after the failed one, or the connection's
            # error if it broke (the exit then raises it again, and the group fails as a whole).
            with contextlib.suppress(Error):
                await pipeline.sync()
    if failed is not None:
        raise failed


def _forget(answer: asyncio.Future) -> None:
    if not answer.cancelled():
        answer.exception()


def _answer(pending: _Pending, error: BaseException | None = None) -> None:
    if pending.answer.done():
        return
    if error is not None or pending.error is not None:
        pending.answer.set_exception(error or pending.error)  # type: ignore[arg-type]
    else:
        pending.answer.set_result(pending.rows)
