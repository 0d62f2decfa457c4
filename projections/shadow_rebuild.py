"""Rebuild job_status in its shadow twin while appends continue, then swap it in.

Three transactions. The first folds the whole log from one REPEATABLE READ, READ ONLY
snapshot and remembers that snapshot (`pg_current_snapshot()`). It takes no lock that
anyone waits for and, writing nothing, gets no transaction id: global subscribers,
which read only below the oldest running transaction id, are not held up by it. The
second fills `job_status_shadow` with the folded rows (COPY); appends and reads go
on against job_status all along. The third is short: it locks both tables (ACCESS
EXCLUSIVE: the renames need it), which waits for the appends in flight to commit and
makes new ones wait. Every event is appended in the same statement as its status
upsert, so from then on no event can commit; the streams that changed since the
snapshot are exactly those with an event whose transaction the snapshot did not see
(`pg_visible_in_snapshot`, a range scan of the `transaction_id` index from the
snapshot's xmin). Those streams, and only those, are folded again, the two tables
swap names, and the writers that waited resume on the new job_status: PostgreSQL
looks a name up again once it grants a lock that a rename invalidated, and re-plans
prepared statements that used the old table.

A lock that cannot be had within LOCK_TIMEOUT (a long transaction reading
job_status) gives up and tries again, so that the queue behind it never grows long.
"""

import time
from uuid import UUID

import msgspec
from psycopg import AsyncConnection, errors

from projections.rebuild import write_rows
from projections.replay import Progress, replay_all, replay_streams
from projections.table_swap import check_twins, swap

LIVE, SHADOW = "job_status", "job_status_shadow"
LOCK_ATTEMPTS = 5

# One shadow rebuild at a time: two would fill the same shadow.
TRY_EXCLUSIVE = "SELECT pg_try_advisory_lock(hashtext('jobtrail.shadow_rebuild'))"
RELEASE_EXCLUSIVE = "SELECT pg_advisory_unlock(hashtext('jobtrail.shadow_rebuild'))"
SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
TAKE_SNAPSHOT = "SELECT pg_current_snapshot()::text"
CLEAR_SHADOW = "TRUNCATE job_status_shadow"
LOCK_TIMEOUT = "SET LOCAL lock_timeout = '1s'"
LOCK_BOTH = "LOCK TABLE job_status, job_status_shadow IN ACCESS EXCLUSIVE MODE"
CHANGED_SINCE = """
SELECT DISTINCT stream_id FROM events
 WHERE transaction_id >= pg_snapshot_xmin(%(snapshot)s::pg_snapshot)
   AND NOT pg_visible_in_snapshot(transaction_id, %(snapshot)s::pg_snapshot)
"""
FORGET = "DELETE FROM job_status_shadow WHERE stream_id = ANY(%(stream_ids)s)"
ANALYZE = "ANALYZE job_status"


class RebuildInProgress(Exception):
    """Another shadow rebuild is running."""


class Swapped(msgspec.Struct, frozen=True):
    rows: int  # status rows now live
    refolded: int  # streams that changed during the fold, folded again under the lock
    locked_s: float  # how long the swap held the lock: what writers waited at most


async def shadow_rebuild(conn: AsyncConnection, progress: Progress | None = None) -> Swapped:
    """Fold the log into the shadow, then swap it in; `conn` must be in autocommit."""
    cursor = await conn.execute(TRY_EXCLUSIVE)
    if not (await cursor.fetchone())[0]:
        raise RebuildInProgress("another `projections rebuild --shadow` is running")
    try:
        await check_twins(conn, LIVE, SHADOW)  # before the long fold; the swap checks again
        snapshot, streams = await _fold_into_shadow(conn, progress)
        return await _swap_in(conn, snapshot, streams)
    finally:
        await conn.execute(RELEASE_EXCLUSIVE)


async def _fold_into_shadow(conn: AsyncConnection, progress: Progress | None) -> tuple[str, set[UUID]]:
    async with conn.transaction():
        await conn.execute(SNAPSHOT)
        cursor = await conn.execute(TAKE_SNAPSHOT)
        (snapshot,) = await cursor.fetchone()
        states = await replay_all(conn, progress)
    async with conn.transaction():
        await conn.execute(CLEAR_SHADOW)
        await write_rows(conn, SHADOW, states)
    return snapshot, set(states)


async def _swap_in(conn: AsyncConnection, snapshot: str, streams: set[UUID]) -> Swapped:
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        try:
            async with conn.transaction():
                await conn.execute(LOCK_TIMEOUT)
                await conn.execute(LOCK_BOTH)
                locked = time.perf_counter()
                cursor = await conn.execute(CHANGED_SINCE, {"snapshot": snapshot})
                changed = [stream_id for (stream_id,) in await cursor.fetchall()]
                states = await replay_streams(conn, changed)
                await conn.execute(FORGET, {"stream_ids": changed})
                await write_rows(conn, SHADOW, states)
                await swap(conn, LIVE, SHADOW)
            locked_s = time.perf_counter() - locked
            break
        except errors.LockNotAvailable:
            if attempt == LOCK_ATTEMPTS:
                raise
    await conn.execute(CLEAR_SHADOW)  # the old rows, now in the shadow
    await conn.execute(ANALYZE)
    return Swapped(rows=len(streams | states.keys()), refolded=len(changed), locked_s=locked_s)
