"""Rebuild job_status from the log.

The rebuild holds an exclusive lock on job_status for its transaction: appends that
arrive meanwhile wait on their status upsert and then apply on top of the rebuilt
row (their version guard still holds), so nothing is lost or doubled.
"""

from psycopg import AsyncConnection

from projections import job_status
from projections.replay import replay_all

LOCK = "LOCK TABLE job_status IN ACCESS EXCLUSIVE MODE"
CLEAR = "TRUNCATE job_status"
COPY_STATUS = """
COPY job_status (
    stream_id, owner, kind, status, version, processed_runs, processed_results,
    target_results, max_runs, progress, attempts, last_error, outcome, idempotency_key,
    deadline, created_at, started_at, finished_at, updated_at, state
) FROM STDIN
"""


async def rebuild_job_status(conn: AsyncConnection) -> int:
    """Replace every status row with a fresh fold of its stream; returns the row count."""
    async with conn.transaction():
        await conn.execute(LOCK)
        states = await replay_all(conn)
        await conn.execute(CLEAR)
        async with conn.cursor().copy(COPY_STATUS) as copy:
            for stream_id, state in states.items():
                await copy.write_row(job_status.row(stream_id, state))
    return len(states)
