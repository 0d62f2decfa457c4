"""Events: the permanent, past-tense facts of a job's life.

Tags are written out and never change: they are stored in the log. New fields must
get defaults so that old events still decode, and unknown fields are ignored so that
old code can read events written by newer code during a deploy.
"""

from datetime import datetime
from typing import Any, Literal, get_args

import msgspec

from domain.limits import JobLimits

CompletionReason = Literal["target_met", "exhausted", "max_runs_reached"]


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    at: datetime


class JobCreated(JobLimits, frozen=True, kw_only=True, tag_field="type", tag="JobCreated"):
    """A job and its limits, stored flat. Not an Event subclass: msgspec allows one field-carrying
    base, and the limits are that base, so `at` and the tag field are declared here (see domain.limits)."""

    at: datetime
    owner: str
    kind: str
    params: dict[str, Any] = {}
    idempotency_key: str | None = None
    notify_url: str | None = None


class JobStarted(Event, tag="JobStarted", frozen=True, kw_only=True):
    run: int


class BatchRecorded(Event, tag="BatchRecorded", frozen=True, kw_only=True):
    run: int
    results: int
    has_more: bool
    cursor: str | None = None
    duration_ms: int = 0
    # What the source said of its size, if anything: every result it holds, or those left
    # after this batch (either may be an estimate). The job's progress is measured by them.
    total: int | None = None
    remaining: int | None = None


class ContinuationScheduled(Event, tag="ContinuationScheduled", frozen=True, kw_only=True):
    run: int
    delay_s: float


class DeliveryFailed(Event, tag="DeliveryFailed", frozen=True, kw_only=True):
    run: int
    attempt: int
    error: str


class JobCompleted(Event, tag="JobCompleted", frozen=True, kw_only=True):
    reason: CompletionReason


class JobFailed(Event, tag="JobFailed", frozen=True, kw_only=True):
    reason: str
    error: str | None = None
    dlq_id: str | None = None


class JobTimedOut(Event, tag="JobTimedOut", frozen=True, kw_only=True):
    deadline: datetime
    detected_by: str


class JobCancelled(Event, tag="JobCancelled", frozen=True, kw_only=True):
    reason: str | None = None


class JobRequeued(Event, tag="JobRequeued", frozen=True, kw_only=True):
    requeue: int
    deadline: datetime | None = None


class RunRedispatched(Event, tag="RunRedispatched", frozen=True, kw_only=True):
    """The run's message was lost (nothing in flight, no progress): it is sent again."""

    run: int
    redispatch: int


AnyEvent = (
    JobCreated
    | JobStarted
    | BatchRecorded
    | ContinuationScheduled
    | DeliveryFailed
    | JobCompleted
    | JobFailed
    | JobTimedOut
    | JobCancelled
    | JobRequeued
    | RunRedispatched
)

EVENT_TYPES: tuple[type[AnyEvent], ...] = get_args(AnyEvent)

encoder = msgspec.json.Encoder()
decoder = msgspec.json.Decoder(AnyEvent)
list_decoder = msgspec.json.Decoder(list[AnyEvent])


def type_name(event: AnyEvent) -> str:
    """The permanent tag an event is stored under."""
    return type(event).__struct_config__.tag  # type: ignore[return-value]
