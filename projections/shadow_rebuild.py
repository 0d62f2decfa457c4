"""Rebuild job_status in its shadow twin while appends continue, then swap it in.

Four transactions. The first folds the whole log from one REPEATABLE READ, READ ONLY
snapshot and remembers that snapshot (`pg_current_snapshot()`). It takes no lock that
anyone waits for and, writing nothing, gets no transaction id: global subscribers,
which read only below the oldest running transaction id, are not held up by it. The
second fills `job_status_shadow` with the folded rows (COPY); appends and reads go
on against job_status all along. The streams that changed since a snapshot are
exactly those with an event whose transaction the snapshot did not see
(`pg_visible_in_snapshot`, a range scan of the `transaction_id` index from the
snapshot's xmin). The third catches up, still without a lock: from a new snapshot,
it folds again the streams changed since the first and writes them into the shadow.
The fourth is short: it locks both tables (ACCESS EXCLUSIVE: the renames need it),
which waits for the appends in flight to commit and makes new ones wait. Every event
is appended in the same statement as its status upsert, so from then on no event can
commit; the streams changed since the catch-up's snapshot (the last moments' only)
are folded again, the two tables swap names, and the writers that waited resume on
the new job_status: PostgreSQL looks a name up again once it grants a lock that a
rename invalidated, and re-plans prepared statements that used the old table.

A lock that cannot be had within LOCK_TIMEOUT (a long transaction reading
job_status) gives up and tries again, so that the queue behind it never grows long.
"""

import time
from collections.abc import Awaitable, Callable
from uuid import UUID

import msgspec
from psycopg import AsyncConnection, errors

from domain.state import JobState
from projections import job_status
from projections.log import changed_since
from projections.replay import Progress, replay_all, replay_streams
from projections.table_swap import check_twins, swap

LOCK_ATTEMPTS = 5

# One shadow rebuild at a time: two would fill the same shadow.
TRY_EXCLUSIVE = "SELECT pg_try_advisory_lock(hashtext('jobtrail.shadow_rebuild'))"
RELEASE_EXCLUSIVE = "SELECT pg_advisory_unlock(hashtext('jobtrail.shadow_rebuild'))"
SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
TAKE_SNAPSHOT = "SELECT pg_current_snapshot()::text"
LOCK_TIMEOUT = "SET LOCAL lock_timeout = '1s'"

# A fold's result: the streams whose rows it replaces (None: all) and their new rows; a
# stream archived since has no row any more.
Folded = tuple[list[UUID] | None, dict[UUID, JobState]]
Fold = Callable[[AsyncConnection], Awaitable[Folded]]


class RebuildInProgress(Exception):
    """Another shadow rebuild is running."""


class Swapped(msgspec.Struct, frozen=True):
    rows: int  # status rows now live
    caught_up: int  # streams that changed during the fold, folded again before the swap
    refolded: int  # streams that changed during the catch-up, folded again under the lock
    locked_s: float  # how long the swap held its lock (writers also wait while it waits for it, ≤ 1 s)


async def shadow_rebuild(conn: AsyncConnection, progress: Progress | None = None) -> Swapped:
    """Fold the log into the shadow, then swap it in; `conn` must be in autocommit."""
    cursor = await conn.execute(TRY_EXCLUSIVE)
    row = await cursor.fetchone()
    assert row is not None
    if not row[0]:
        raise RebuildInProgress("another `projections rebuild --shadow` is running")
    try:
        await check_twins(conn, job_status.TABLE, job_status.SHADOW)  # before the long fold; the swap checks again
        first, folded = await _fold_into_shadow(conn, lambda c: _replay_all(c, progress))
        second, caught_up = await _fold_into_shadow(conn, lambda c: _replay_changed(c, first))
        refolded, locked_s = await _swap_in(conn, second)
        await job_status.clear_shadow(conn)  # the old rows, now in the shadow
        await job_status.analyze(conn)
    finally:
        await conn.execute(RELEASE_EXCLUSIVE)
    rows = len(folded | caught_up | refolded)
    return Swapped(rows=rows, caught_up=len(caught_up), refolded=len(refolded), locked_s=locked_s)


async def _fold_into_shadow(conn: AsyncConnection, fold: Fold) -> tuple[str, set[UUID]]:
    """Fold in a snapshot that holds no transaction id, then write the rows to the shadow."""
    async with conn.transaction():
        await conn.execute(SNAPSHOT)
        cursor = await conn.execute(TAKE_SNAPSHOT)
        row = await cursor.fetchone()
        assert row is not None
        (snapshot,) = row
        folded = await fold(conn)
    async with conn.transaction():
        await _write_shadow(conn, folded)
    return snapshot, set(folded[1])


async def _swap_in(conn: AsyncConnection, snapshot: str) -> tuple[set[UUID], float]:
    for _ in range(LOCK_ATTEMPTS - 1):
        try:
            return await _refold_and_swap(conn, snapshot)
        except errors.LockNotAvailable:
            continue
    return await _refold_and_swap(conn, snapshot)  # the last attempt's timeout is the caller's


async def _refold_and_swap(conn: AsyncConnection, snapshot: str) -> tuple[set[UUID], float]:
    """Under both locks: fold again what changed since `snapshot`, then trade names."""
    async with conn.transaction():
        await conn.execute(LOCK_TIMEOUT)
        await job_status.lock_with_shadow(conn)
        locked = time.perf_counter()
        folded = await _replay_changed(conn, snapshot)
        await _write_shadow(conn, folded)
        await swap(conn, job_status.TABLE, job_status.SHADOW)
    return set(folded[1]), time.perf_counter() - locked


async def _replay_all(conn: AsyncConnection, progress: Progress | None) -> Folded:
    return None, await replay_all(conn, progress)


async def _replay_changed(conn: AsyncConnection, snapshot: str) -> Folded:
    """The streams with events that `snapshot` did not see, folded as they are now; those
    archived since fold to nothing, and their rows go."""
    changed = await changed_since(conn, snapshot)
    return changed, await replay_streams(conn, changed)


async def _write_shadow(conn: AsyncConnection, folded: Folded) -> None:
    """All rows anew, or the changed streams' rows replaced (or removed)."""
    replaced, states = folded
    if replaced is None:
        await job_status.clear_shadow(conn)
    else:
        await job_status.forget_in_shadow(conn, replaced)
    await job_status.write_rows(conn, job_status.SHADOW, states)
