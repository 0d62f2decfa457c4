"""The decider: `decide(command, state) -> events` and `evolve(state, event) -> state`.

Both are pure. `decide` checks every move against the lifecycle table and the job's
own limits; it raises a DomainError for a command that can never succeed and returns
[] for a legitimate no-op (a stale or repeated delivery). `evolve` trusts history.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any, assert_never

from msgspec.structs import replace

from domain.commands import (
    AnyCommand,
    Cancel,
    CreateJob,
    FailDelivery,
    FailJob,
    RecordBatch,
    Redispatch,
    Requeue,
    StartRun,
    TimeOut,
)
from domain.errors import (
    IllegalTransition,
    InvalidCommand,
    JobAlreadyExists,
    JobNotFound,
    RequeueLimitReached,
)
from domain.events import (
    AnyEvent,
    BatchRecorded,
    ContinuationScheduled,
    DeliveryFailed,
    Event,
    JobCancelled,
    JobCompleted,
    JobCreated,
    JobFailed,
    JobRequeued,
    JobStarted,
    JobTimedOut,
    RunRedispatched,
)
from domain.kinds import continuation_delay
from domain.lifecycle import Status, Trigger, next_status
from domain.state import INITIAL, JobState, is_overdue


def decide(command: AnyCommand, state: JobState) -> list[AnyEvent]:
    if isinstance(command, CreateJob):
        return _create(command, state)
    if state.status is None:
        raise JobNotFound()
    if is_overdue(state, command.at):
        assert state.deadline is not None
        return [JobTimedOut(at=command.at, deadline=state.deadline, detected_by=command.detected_by)]
    status = state.status
    match command:
        case StartRun(run=run):
            if status is Status.PENDING and run == state.next_run:
                return [JobStarted(at=command.at, run=run)]
            return []
        case RecordBatch():
            if status is Status.PROCESSING and command.run == state.next_run:
                return _record(command, state)
            return []
        case FailDelivery(run=run, attempt=attempt, error=error):
            if status is Status.PROCESSING and run == state.next_run:
                return [DeliveryFailed(at=command.at, run=run, attempt=attempt, error=error)]
            return []
        case FailJob(run=run):
            if next_status(status, Trigger.FAIL) and run in (None, state.next_run):
                return [JobFailed(at=command.at, reason=command.reason, error=command.error, dlq_id=command.dlq_id)]
            return []
        case TimeOut():
            return []  # not overdue (handled above), or no longer active
        case Cancel(reason=reason):
            if status is Status.CANCELLED:
                return []
            _require(status, Trigger.CANCEL)
            return [JobCancelled(at=command.at, reason=reason)]
        case Requeue(deadline=deadline):
            _require(status, Trigger.REQUEUE)
            if state.requeues >= state.max_requeues:
                raise RequeueLimitReached(status, state.max_requeues)
            return [JobRequeued(at=command.at, requeue=state.requeues + 1, deadline=deadline)]
        case Redispatch(run=run, seen_version=seen_version):
            if (
                seen_version == state.version
                and run == state.next_run
                and state.redispatches < state.max_redispatches
                and next_status(status, Trigger.REDISPATCH)
            ):
                return [RunRedispatched(at=command.at, run=run, redispatch=state.redispatches + 1)]
            return []
        case CreateJob():
            raise AssertionError("handled above")
        case _:
            assert_never(command)


def _require(status: Status, trigger: Trigger) -> None:
    if next_status(status, trigger) is None:
        raise IllegalTransition(status, trigger)


def _create(command: CreateJob, state: JobState) -> list[AnyEvent]:
    if state.status is not None:
        raise JobAlreadyExists()
    if command.max_runs < 1:
        raise InvalidCommand("max_runs must be at least 1")
    if command.target_results is not None and command.target_results < 1:
        raise InvalidCommand("target_results must be at least 1")
    return [
        JobCreated(
            at=command.at,
            owner=command.owner,
            kind=command.kind,
            params=command.params,
            target_results=command.target_results,
            max_runs=command.max_runs,
            max_requeues=command.max_requeues,
            deadline=command.deadline,
            delay_s=command.delay_s,
            backoff_factor=command.backoff_factor,
            max_delay_s=command.max_delay_s,
            idempotency_key=command.idempotency_key,
            max_redispatches=command.max_redispatches,
        )
    ]


def _record(command: RecordBatch, state: JobState) -> list[AnyEvent]:
    """Record a batch, then either complete (with why) or schedule the next run."""
    batch = BatchRecorded(
        at=command.at,
        run=command.run,
        results=command.results,
        has_more=command.has_more,
        cursor=command.cursor,
        duration_ms=command.duration_ms,
    )
    runs = state.processed_runs + 1
    results = state.processed_results + command.results
    if state.target_results is not None and results >= state.target_results:
        return [batch, JobCompleted(at=command.at, reason="target_met")]
    if not command.has_more:
        return [batch, JobCompleted(at=command.at, reason="exhausted")]
    if runs >= state.max_runs:
        return [batch, JobCompleted(at=command.at, reason="max_runs_reached")]
    delay = continuation_delay(state.delay_s, state.backoff_factor, state.max_delay_s, command.run)
    return [batch, ContinuationScheduled(at=command.at, run=command.run + 1, delay_s=delay)]


def evolve(state: JobState, event: Event) -> JobState:
    version = state.version + 1
    at = event.at
    match event:
        case BatchRecorded():
            return replace(
                state,
                version=version,
                processed_runs=state.processed_runs + 1,
                processed_results=state.processed_results + event.results,
                cursor=event.cursor,
                attempts=0,
                redispatches=0,
                updated_at=at,
            )
        case ContinuationScheduled():
            return replace(state, version=version, next_run=event.run, updated_at=at)
        case DeliveryFailed():
            return replace(state, version=version, attempts=state.attempts + 1, last_error=event.error, updated_at=at)
        case JobStarted():
            return replace(
                state,
                version=version,
                status=Status.PROCESSING,
                started_at=state.started_at or at,
                updated_at=at,
            )
        case JobCreated():
            return JobState(
                version=version,
                status=Status.PENDING,
                owner=event.owner,
                kind=event.kind,
                params=event.params,
                target_results=event.target_results,
                max_runs=event.max_runs,
                max_requeues=event.max_requeues,
                deadline=event.deadline,
                delay_s=event.delay_s,
                backoff_factor=event.backoff_factor,
                max_delay_s=event.max_delay_s,
                idempotency_key=event.idempotency_key,
                max_redispatches=event.max_redispatches,
                created_at=at,
                updated_at=at,
            )
        case JobCompleted():
            return _finish(state, version, Status.COMPLETED, at, outcome=event.reason)
        case JobFailed():
            error = event.error or state.last_error
            return _finish(state, version, Status.ERROR, at, outcome=event.reason, last_error=error)
        case JobTimedOut():
            return _finish(state, version, Status.TIMEOUT, at, outcome="deadline_passed")
        case JobCancelled():
            return _finish(state, version, Status.CANCELLED, at, outcome=event.reason or "cancelled")
        case JobRequeued():
            return replace(
                state,
                version=version,
                status=Status.PENDING,
                requeues=event.requeue,
                deadline=event.deadline,
                attempts=0,
                redispatches=0,
                outcome=None,
                finished_at=None,
                updated_at=at,
            )
        case RunRedispatched():
            return replace(state, version=version, redispatches=event.redispatch, updated_at=at)
    raise TypeError(f"unknown event {type(event).__name__}")


def _finish(state: JobState, version: int, status: Status, at: datetime, **changes: Any) -> JobState:
    return replace(state, version=version, status=status, finished_at=at, updated_at=at, **changes)


def fold(events: Iterable[Event], state: JobState = INITIAL) -> JobState:
    for event in events:
        state = evolve(state, event)
    return state
