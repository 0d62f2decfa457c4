"""The job_status read model: one row per job, folded from its stream."""

from typing import Any
from uuid import UUID

from domain.state import JobState, progress
from domain.state import encoder as state_encoder

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
