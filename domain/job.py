"""The decider: `decide(command, state) -> events` and `evolve(state, event) -> state`.

Both are pure. `decide` asks the Machine (`next_status`) about every move it makes, by
the trigger each command names (`domain.triggers`), and checks the job's own limits in
plain Python; it raises a DomainError for a command that can never succeed and returns
[] for a legitimate no-op (a stale or repeated delivery). `evolve` trusts history.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any, assert_never

from msgspec.structs import asdict, replace

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
    CompletionReason,
    ContinuationScheduled,
    DeliveryFailed,
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
from domain.triggers import COMMAND_TRIGGERS


def decide(command: AnyCommand, state: JobState) -> list[AnyEvent]:
    if isinstance(command, CreateJob):
        return _create(command, state)
    if state.status is None:
        raise JobNotFound()
    status = state.status
    if is_overdue(state, command.at) and next_status(status, Trigger.TIME_OUT) is not None:
        assert state.deadline is not None
        return [JobTimedOut(at=command.at, deadline=state.deadline, detected_by=command.detected_by)]
    trigger = COMMAND_TRIGGERS[type(command)]
    moved = next_status(status, trigger)  # the Machine's verdict; None when it has no such move
    match command:
        case StartRun(run=run):
            if moved is not None and run == state.next_run:
                return [JobStarted(at=command.at, run=run)]
            return []
        case RecordBatch():
            if any(size is not None and size < 0 for size in (command.total, command.remaining)):
                raise InvalidCommand("a batch's total and remaining cannot be negative")
            if moved is not None and command.run == state.next_run:
                return _record(command, state, moved)
            return []
        case FailDelivery(run=run, attempt=attempt, error=error):
            if moved is not None and run == state.next_run:
                return [DeliveryFailed(at=command.at, run=run, attempt=attempt, error=error)]
            return []
        case FailJob(run=run):
            if moved is not None and run in (None, state.next_run):
                return [JobFailed(at=command.at, reason=command.reason, error=command.error, dlq_id=command.dlq_id)]
            return []
        case TimeOut():
            return []  # not overdue (handled above), or no longer active
        case Cancel(reason=reason):
            if status is Status.CANCELLED:
                return []  # the same request again
            if moved is None:
                raise IllegalTransition(status, trigger)
            return [JobCancelled(at=command.at, reason=reason)]
        case Requeue(deadline=deadline):
            if moved is None:
                raise IllegalTransition(status, trigger)
            if state.requeues >= state.max_requeues:
                raise RequeueLimitReached(status, state.max_requeues)
            return [JobRequeued(at=command.at, requeue=state.requeues + 1, deadline=deadline)]
        case Redispatch(run=run, seen_version=seen_version):
            if (
                moved is not None
                and seen_version == state.version
                and run == state.next_run
                and state.redispatches < state.max_redispatches
            ):
                return [RunRedispatched(at=command.at, run=run, redispatch=state.redispatches + 1)]
            return []
        case CreateJob():
            raise AssertionError("handled above")
        case _:
            assert_never(command)


def _require(status: Status, trigger: Trigger) -> Status:
    """Where a move that follows another takes the job; refused when the Machine has no such move."""
    moved = next_status(status, trigger)
    if moved is None:
        raise IllegalTransition(status, trigger)
    return moved


def _create(command: CreateJob, state: JobState) -> list[AnyEvent]:
    if state.status is not None:
        raise JobAlreadyExists()
    if command.max_runs < 1:
        raise InvalidCommand("max_runs must be at least 1")
    if command.target_results is not None and command.target_results < 1:
        raise InvalidCommand("target_results must be at least 1")
    return [JobCreated(**asdict(command))]  # the event records every value the command carries


def _record(command: RecordBatch, state: JobState, recorded: Status) -> list[AnyEvent]:
    """Record a batch, then either complete (with why) or schedule the next run: each a move
    the Machine must allow from `recorded`, the status the batch left the job in."""
    batch = BatchRecorded(
        at=command.at,
        run=command.run,
        results=command.results,
        has_more=command.has_more,
        cursor=command.cursor,
        duration_ms=command.duration_ms,
        total=command.total,
        remaining=command.remaining,
    )
    runs = state.processed_runs + 1
    results = state.processed_results + command.results
    reason: CompletionReason | None = None
    if state.target_results is not None and results >= state.target_results:
        reason = "target_met"
    elif not command.has_more:
        reason = "exhausted"
    elif runs >= state.max_runs:
        reason = "max_runs_reached"
    if reason is not None:
        _require(recorded, Trigger.COMPLETE)
        return [batch, JobCompleted(at=command.at, reason=reason)]
    _require(recorded, Trigger.CONTINUE)
    delay = continuation_delay(state.delay_s, state.backoff_factor, state.max_delay_s, command.run)
    return [batch, ContinuationScheduled(at=command.at, run=command.run + 1, delay_s=delay)]


def evolve(state: JobState, event: AnyEvent) -> JobState:
    version = state.version + 1
    at = event.at
    match event:
        case BatchRecorded():
            results = state.processed_results + event.results
            return replace(
                state,
                version=version,
                processed_runs=state.processed_runs + 1,
                processed_results=results,
                expected_results=_expected(state, event, results),
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
            created = asdict(event)  # the job as created: every field but `at`, which is created_at
            del created["at"]
            return JobState(version=version, status=Status.PENDING, created_at=at, updated_at=at, **created)
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


def _expected(state: JobState, batch: BatchRecorded, results: int) -> int | None:
    """The results the job expects in all, by the latest batch that said; a silent batch keeps it."""
    if batch.remaining is not None:
        return results + batch.remaining
    if batch.total is not None:
        return batch.total
    return state.expected_results


def _finish(state: JobState, version: int, status: Status, at: datetime, **changes: Any) -> JobState:
    return replace(state, version=version, status=status, finished_at=at, updated_at=at, **changes)


def fold(events: Iterable[AnyEvent], state: JobState = INITIAL) -> JobState:
    for event in events:
        state = evolve(state, event)
    return state
