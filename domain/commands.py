"""Commands: what a caller asks of a job. Time comes in on the command, never from a clock.

`detected_by` names who would notice an overdue deadline while handling the command;
`decide` turns any command on an overdue active job into a timeout.
"""

from datetime import datetime
from typing import Any, ClassVar

import msgspec

from domain.limits import JobLimits


class Command(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    detected_by: ClassVar[str] = "delivery"


class CreateJob(JobLimits, frozen=True, kw_only=True):
    """A new job under its limits. Not a Command subclass: msgspec allows one field-carrying
    base, and the limits are that base, so `at` is declared here (see domain.limits)."""

    at: datetime
    owner: str
    kind: str
    params: dict[str, Any] = {}
    idempotency_key: str | None = None
    notify_url: str | None = None  # called back, signed, when the job finishes


class StartRun(Command, frozen=True, kw_only=True):
    run: int


class RecordBatch(Command, frozen=True, kw_only=True):
    run: int
    results: int
    has_more: bool
    cursor: str | None = None
    duration_ms: int = 0
    total: int | None = None  # the source's size, if it knows it (or an estimate)
    remaining: int | None = None  # results still to come after this batch, if known


class FailDelivery(Command, frozen=True, kw_only=True):
    run: int
    attempt: int
    error: str


class FailJob(Command, frozen=True, kw_only=True):
    """Give up on the job; `run`, when given, must be the job's current run."""

    reason: str
    error: str | None = None
    dlq_id: str | None = None
    run: int | None = None


class TimeOut(Command, frozen=True, kw_only=True):
    detected_by: str = "sweeper"  # type: ignore[misc]


class Cancel(Command, frozen=True, kw_only=True):
    detected_by: ClassVar[str] = "api"
    reason: str | None = None


class Requeue(Command, frozen=True, kw_only=True):
    detected_by: ClassVar[str] = "api"
    deadline: datetime | None = None


class Redispatch(Command, frozen=True, kw_only=True):
    """Send the current run again; `seen_version` is the version the stall was judged at,
    so two sweepers that saw the same stall rescue the job once."""

    detected_by: ClassVar[str] = "sweeper"
    run: int
    seen_version: int


AnyCommand = CreateJob | StartRun | RecordBatch | FailDelivery | FailJob | TimeOut | Cancel | Requeue | Redispatch
