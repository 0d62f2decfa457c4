"""A job's state: the fold of its events, and the snapshot its status row keeps."""

from datetime import datetime
from typing import Any

import msgspec

from domain.lifecycle import ACTIVE, FINAL, Status
from domain.limits import JobLimits


class JobState(JobLimits, frozen=True, kw_only=True):
    """The limits it inherits are the job's (the snapshot stays flat: see domain.limits)."""

    max_runs: int = 0  # no job, no runs: the initial state has every field defaulted
    version: int = 0
    status: Status | None = None  # None until JobCreated
    owner: str = ""
    kind: str = ""
    params: dict[str, Any] = {}
    idempotency_key: str | None = None
    notify_url: str | None = None
    processed_runs: int = 0
    processed_results: int = 0
    expected_results: int | None = None  # all the results the source holds, as its batches last said
    cursor: str | None = None
    next_run: int = 1
    attempts: int = 0  # failed deliveries of the current run
    last_error: str | None = None
    requeues: int = 0
    redispatches: int = 0  # of the current run
    outcome: str | None = None  # completion or failure reason
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None


INITIAL = JobState()

encoder = msgspec.json.Encoder()
decoder = msgspec.json.Decoder(JobState)


def is_final(state: JobState) -> bool:
    return state.status in FINAL


def is_overdue(state: JobState, now: datetime) -> bool:
    """Past its deadline while still running: such a job can only time out."""
    return state.status in ACTIVE and state.deadline is not None and now >= state.deadline


def progress(state: JobState) -> float | None:
    """Percent done, or None when the size of the job's work is unknown.

    The size is the target, or the results the source expects in all, whichever is
    smaller (the job ends at the first of them); without either, runs tell nothing (a
    job may use a tenth of `max_runs` and be done), so there is no percentage. Capped at
    100 (an estimate may fall short), and a completed job is done, whichever limit ended it.
    """
    if state.status is Status.COMPLETED:
        return 100.0
    sizes = [size for size in (state.target_results, state.expected_results) if size is not None]
    if not sizes:
        return None
    size = min(sizes)
    if size <= 0:
        return 100.0  # the source holds nothing: nothing is left to do
    return min(100.0, 100.0 * state.processed_results / size)
