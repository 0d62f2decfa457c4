"""Rebuild job_status from the log, in place.

The rebuild holds an exclusive lock on job_status for its transaction: appends that
arrive meanwhile wait on their status upsert and then apply on top of the rebuilt
row (their version guard still holds), so nothing is lost or doubled. Readers wait
too, for as long as the fold takes; `shadow_rebuild` avoids that wait.
"""

from collections.abc import Mapping
from uuid import UUID

from psycopg import AsyncConnection, sql

from domain.state import JobState
from projections import job_status
from projections.replay import Progress, replay_all

# LOCK takes no snapshot: the snapshot of REPEATABLE READ starts at the count that
# follows, once no append can still be running, so count and fold read the same log.
SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"
LOCK = "LOCK TABLE job_status IN ACCESS EXCLUSIVE MODE"
CLEAR = "TRUNCATE job_status"
COPY_STATUS = """
COPY {table} (
    stream_id, owner, kind, status, version, processed_runs, processed_results,
    target_results, max_runs, progress, attempts, last_error, outcome, idempotency_key,
    deadline, created_at, started_at, finished_at, updated_at, state
) FROM STDIN
"""


async def rebuild_job_status(conn: AsyncConnection, progress: Progress | None = None) -> int:
    """Replace every status row with a fresh fold of its stream; returns the row count."""
    async with conn.transaction():
        await conn.execute(SNAPSHOT)
        await conn.execute(LOCK)
        states = await replay_all(conn, progress)
        await conn.execute(CLEAR)
        await write_rows(conn, "job_status", states)
    return len(states)


async def write_rows(conn: AsyncConnection, table: str, states: Mapping[UUID, JobState]) -> None:
    """COPY the status rows of these states into `table` (job_status or its twin)."""
    async with conn.cursor().copy(sql.SQL(COPY_STATUS).format(table=sql.Identifier(table))) as copy:
        for stream_id, state in states.items():
            await copy.write_row(job_status.row(stream_id, state))
