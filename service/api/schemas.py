"""Request and response bodies. Requests are strict: unknown fields are refused."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec

from domain.state import JobState, progress

BIGINT_MAX = 2**63 - 1  # job_status.target_results is a bigint: larger is a 400, not a 500


class CreateJobRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["demo.count"])]
    params: dict[str, Any] = {}
    target_results: Annotated[int, msgspec.Meta(ge=1, le=BIGINT_MAX)] | None = None
    max_runs: Annotated[int, msgspec.Meta(ge=1)] | None = None
    deadline_s: Annotated[float, msgspec.Meta(gt=0, le=30 * 86400)] | None = None
    # Called back, signed, when the job finishes (docs/notifications.md).
    notify_url: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)] | None = None


class JobDocument(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    owner: str
    kind: str
    status: str
    # Percent done against the target or the source's reported size (the smaller); null
    # when the job knows neither: its runs and results are all there is to show.
    progress: float | None
    processed_runs: int
    processed_results: int
    expected_results: int | None  # all the results the source holds, as its batches last said
    target_results: int | None
    max_runs: int
    attempts: int
    requeues: int
    last_error: str | None
    outcome: str | None
    params: dict[str, Any]
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    deadline: datetime | None
    version: int
    notify_url: str | None = None


class JobPage(msgspec.Struct, frozen=True, kw_only=True):
    jobs: list[JobDocument]
    next_cursor: str | None
    # The jobs archived (docs/retention.md), which the pages no longer list: counted on the
    # first page only (null on the pages after it), whatever the filters.
    archived: int | None = None


def document(stream_id: UUID, state: JobState) -> JobDocument:
    return JobDocument(
        id=stream_id,
        owner=state.owner,
        kind=state.kind,
        status=str(state.status),
        progress=_rounded(progress(state)),
        processed_runs=state.processed_runs,
        processed_results=state.processed_results,
        expected_results=state.expected_results,
        target_results=state.target_results,
        max_runs=state.max_runs,
        attempts=state.attempts,
        requeues=state.requeues,
        last_error=state.last_error,
        outcome=state.outcome,
        params=state.params,
        created_at=state.created_at,
        started_at=state.started_at,
        finished_at=state.finished_at,
        deadline=state.deadline,
        version=state.version,
        notify_url=state.notify_url,
    )


def _rounded(percent: float | None) -> float | None:
    return None if percent is None else round(percent, 2)
