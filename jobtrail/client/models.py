"""The documents the jobtrail API answers with, as msgspec Structs.

Decoding ignores fields it does not know, and a field a newer or older service may leave
out has a default: a client keeps working across a deploy of the service in either order.
Statuses, verdicts and policies are plain strings for the same reason.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

ACTIVE = frozenset({"pending", "processing"})
# Where a job stops by itself: `completed` and `cancelled` are final; `error` and `timeout`
# stay so unless someone retries (requeues) the job.
ENDINGS = frozenset({"completed", "cancelled", "error", "timeout"})
FINAL = frozenset({"completed", "cancelled"})


class Job(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    owner: str
    kind: str
    status: str
    progress: float | None = None  # percent, when the job's work has a known size
    processed_runs: int = 0
    processed_results: int = 0
    expected_results: int | None = None  # all the results its source holds, as last reported
    target_results: int | None = None
    max_runs: int | None = None
    attempts: int = 0
    requeues: int = 0
    last_error: str | None = None
    outcome: str | None = None
    params: dict[str, Any] = {}
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    deadline: datetime | None = None
    version: int = 0

    @property
    def ended(self) -> bool:
        """Completed, cancelled, failed or timed out: nothing happens until someone acts."""
        return self.status in ENDINGS


class JobPage(msgspec.Struct, frozen=True, kw_only=True):
    jobs: list[Job]
    next_cursor: str | None = None
    archived: int | None = None  # the owner's archived jobs, on the first page only


class ChainReport(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    events: int
    head: str | None = None
    first_bad_version: int | None = None
    problem: str | None = None


class Event(msgspec.Struct, frozen=True, kw_only=True):
    position: int
    version: int
    type: str
    data: dict[str, Any]
    recorded_at: datetime
    provenance: dict[str, Any] = {}
    prev_hash: str | None = None
    hash: str = ""


class History(msgspec.Struct, frozen=True, kw_only=True):
    """A job's (or a schedule's) events and the verdict on their hash chain."""

    job_id: UUID
    events: list[Event]
    chain: ChainReport


class StateAt(msgspec.Struct, frozen=True, kw_only=True):
    job_id: UUID
    version: int
    at: datetime | None = None
    state: Job


class BatchResult(msgspec.Struct, frozen=True, kw_only=True):
    run: int
    items: list[Any]
    recorded_at: datetime


class ResultsPage(msgspec.Struct, frozen=True, kw_only=True):
    job_id: UUID
    batches: list[BatchResult]
    next_after_run: int | None = None


class Kind(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str = ""
    max_runs: int
    batch_size: int
    retries: int
    batch_timeout_s: float
    deadline_s: float | None = None
    max_requeues: int = 0
    delay_s: float = 0.0
    backoff_factor: float = 1.0
    max_delay_s: float = 0.0
    parallelism: int | None = None  # batches in flight at once (None: no limit)
    rate: int | None = None  # batches started per period_s (None: no limit)
    period_s: int = 1
    flow_scope: str = "kind"
    retain_s: float | None = None  # kept this long after finishing, then archived (None: for ever)
    retain_failed_s: float | None = None
    params_schema: dict[str, Any] = {}


class JobCounts(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    by_status: dict[str, int] = {}
    by_kind: dict[str, int] = {}


class Durations(msgspec.Struct, frozen=True, kw_only=True):
    completed: int
    avg_s: float
    p95_s: float


class Finished(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    failed: int
    failure_rate: float | None = None
    durations_by_kind: dict[str, Durations] = {}


class Stuck(msgspec.Struct, frozen=True, kw_only=True):
    count: int
    job_ids: list[UUID] = []


class Backlog(msgspec.Struct, frozen=True, kw_only=True):
    unsent: int
    oldest_age_s: float


class Lag(msgspec.Struct, frozen=True, kw_only=True):
    events: int
    seconds: float


class Condition(msgspec.Struct, frozen=True, kw_only=True):
    """QStash, or the deliveries' self-probe, as the answering process last found it."""

    state: str
    since: datetime
    error: str | None = None
    reason: str | None = None


class Stats(msgspec.Struct, frozen=True, kw_only=True):
    verdict: str
    reasons: list[str]
    owner: str | None = None  # None: every owner's jobs (an audit:read key)
    window_s: int
    stuck_after_s: float
    jobs: JobCounts
    finished: Finished
    stuck: Stuck
    outbox: Backlog
    projection_lag: Lag
    broker: Condition | None = None
    deliveries: Condition | None = None
    archived: int | None = None  # jobs archived (docs/retention.md), whenever


class FireTime(msgspec.Struct, frozen=True, kw_only=True):
    local: datetime
    utc: datetime


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    owner: str
    kind: str
    params: dict[str, Any] = {}
    target_results: int | None = None
    max_runs: int | None = None
    deadline_s: float | None = None
    cron: str
    time_zone: str = "UTC"
    description: str = ""
    overlap: str = "skip"
    catch_up: str = "latest_once"
    end_at: datetime | None = None
    status: str
    next_fires: list[FireTime] = []
    last_tick: datetime | None = None
    last_job_id: UUID | None = None
    jobs_created: int = 0
    ticks_skipped: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0


class SchedulePage(msgspec.Struct, frozen=True, kw_only=True):
    schedules: list[Schedule]
    next_cursor: str | None = None


class Triggered(msgspec.Struct, frozen=True, kw_only=True):
    """What a fire by hand did: the job it created, or why it created none."""

    schedule: Schedule
    job: Job | None = None
    reason: str | None = None


class ScheduleJobs(msgspec.Struct, frozen=True, kw_only=True):
    schedule_id: UUID
    jobs: list[Job]
    next_cursor: str | None = None
    archived: int | None = None  # the owner's archived jobs, on the first page only


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """An RFC 9457 problem document; its extension members are kept in `extensions`."""

    title: str = ""
    status: int = 0
    detail: str = ""
    type: str = "about:blank"
    instance: str | None = None
