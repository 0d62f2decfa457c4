"""The job_status read model: one row per job, folded from its stream, and every
statement that writes or checks the table (and its twin, `job_status_shadow`).

Every statement naming job_status lives in one of two modules, split where the
dependency rule splits its users: this one, for the projection's own work (the row,
the rebuild's lock and COPY, the shadow twin, drift's read of the rows as written),
which projections/rebuild.py, shadow_rebuild.py and drift.py call; and
service/store/job_status.py, for the service's reads (one job, with a key or an inbox
answer, a page, the sweeper's and the relay's), which join tables only the service
knows. The one exception is the event store's append (service/store/event_store.py,
APPEND): it upserts the row in the same statement as the events, one round trip, and
tests/projections/test_job_status_columns.py holds its columns to COLUMNS.
"""

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, sql

from domain.state import JobState, progress
from domain.state import encoder as state_encoder

TABLE, SHADOW = "job_status", "job_status_shadow"

# Column and SQL type, in the order of `row`; writers cast every value to its type.
TYPES: dict[str, str] = {
    "stream_id": "uuid",
    "owner": "text",
    "kind": "text",
    "status": "text",
    "version": "integer",
    "processed_runs": "integer",
    "processed_results": "bigint",
    "target_results": "bigint",
    "max_runs": "integer",
    "progress": "float8",
    "attempts": "integer",
    "last_error": "text",
    "outcome": "text",
    "idempotency_key": "text",
    "deadline": "timestamptz",
    "created_at": "timestamptz",
    "started_at": "timestamptz",
    "finished_at": "timestamptz",
    "updated_at": "timestamptz",
    "state": "jsonb",
}
COLUMNS = tuple(TYPES)

LOCK = "LOCK TABLE job_status IN ACCESS EXCLUSIVE MODE"
CLEAR = "TRUNCATE job_status"
COPY_STATUS = """
COPY {table} (
    stream_id, owner, kind, status, version, processed_runs, processed_results,
    target_results, max_runs, progress, attempts, last_error, outcome, idempotency_key,
    deadline, created_at, started_at, finished_at, updated_at, state
) FROM STDIN
"""
LIVE_ROWS = """
SELECT
    stream_id, owner, kind, status, version, processed_runs, processed_results,
    target_results, max_runs, progress, attempts, last_error, outcome, idempotency_key,
    deadline, created_at, started_at, finished_at, updated_at, state::text
  FROM job_status
"""
CLEAR_SHADOW = "TRUNCATE job_status_shadow"
LOCK_BOTH = "LOCK TABLE job_status, job_status_shadow IN ACCESS EXCLUSIVE MODE"
FORGET = "DELETE FROM job_status_shadow WHERE stream_id = ANY(%(stream_ids)s)"
ANALYZE = "ANALYZE job_status"


def row(stream_id: UUID, state: JobState) -> tuple[Any, ...]:
    """Column values in COLUMNS order; `state` as JSON text."""
    return (
        stream_id,
        state.owner,
        state.kind,
        state.status,
        state.version,
        state.processed_runs,
        state.processed_results,
        state.target_results,
        state.max_runs,
        progress(state),
        state.attempts,
        state.last_error,
        state.outcome,
        state.idempotency_key,
        state.deadline,
        state.created_at,
        state.started_at,
        state.finished_at,
        state.updated_at,
        state_encoder.encode(state).decode(),
    )


def params(stream_id: UUID, state: JobState) -> dict[str, Any]:
    return dict(zip(COLUMNS, row(stream_id, state), strict=True))


async def lock(conn: AsyncConnection) -> None:
    """Make appends and readers wait for the caller's transaction (an in-place rebuild)."""
    await conn.execute(LOCK)


async def clear(conn: AsyncConnection) -> None:
    await conn.execute(CLEAR)


async def write_rows(conn: AsyncConnection, table: str, states: Mapping[UUID, JobState]) -> None:
    """COPY the status rows of these states into `table` (TABLE or its twin, SHADOW)."""
    async with conn.cursor().copy(sql.SQL(COPY_STATUS).format(table=sql.Identifier(table))) as copy:
        for stream_id, state in states.items():
            await copy.write_row(row(stream_id, state))


async def live_rows(conn: AsyncConnection) -> dict[UUID, tuple[Any, ...]]:
    """Every row as written, in COLUMNS order (`state` as JSON text), by stream."""
    cursor = await conn.execute(LIVE_ROWS)
    return {found[0]: found for found in await cursor.fetchall()}


async def clear_shadow(conn: AsyncConnection) -> None:
    await conn.execute(CLEAR_SHADOW)


async def lock_with_shadow(conn: AsyncConnection) -> None:
    """Both tables, as renaming them needs: waits for the appends in flight, holds off new ones."""
    await conn.execute(LOCK_BOTH)


async def forget_in_shadow(conn: AsyncConnection, stream_ids: list[UUID]) -> None:
    await conn.execute(FORGET, {"stream_ids": stream_ids})


async def analyze(conn: AsyncConnection) -> None:
    """Fresh planner statistics for the table just swapped in."""
    await conn.execute(ANALYZE)
