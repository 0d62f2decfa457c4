"""Rebuild job_status from the log, in place.

The rebuild holds an exclusive lock on job_status for its transaction: appends that
arrive meanwhile wait on their status upsert and then apply on top of the rebuilt
row (their version guard still holds), so nothing is lost or doubled. Readers wait
too, for as long as the fold takes; `shadow_rebuild` avoids that wait.
"""

from psycopg import AsyncConnection

from projections import job_status
from projections.replay import Progress, replay_all

# LOCK takes no snapshot: the snapshot of REPEATABLE READ starts at the count that
# follows, once no append can still be running, so count and fold read the same log.
SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"


async def rebuild_job_status(conn: AsyncConnection, progress: Progress | None = None) -> int:
    """Replace every status row with a fresh fold of its stream; returns the row count."""
    async with conn.transaction():
        await conn.execute(SNAPSHOT)
        await job_status.lock(conn)
        states = await replay_all(conn, progress)
        await job_status.clear(conn)
        await job_status.write_rows(conn, job_status.TABLE, states)
    return len(states)
