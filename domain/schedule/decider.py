"""The schedule's decider: `decide(command, state) -> events` and `evolve(state, event) -> state`.

Pure, as the job's (domain.job): `decide` asks the Machine about every move by the trigger
its command names, checks the schedule's own rules in plain Python, raises a DomainError
for a command that can never succeed and returns [] for a legitimate no-op: a repeated
pause, resume or delete, an update that changes nothing, and a fire that is a copy of a
tick already recorded or that comes while the schedule is paused, deleted or past its end.
`evolve` trusts history.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, assert_never
from uuid import UUID

from msgspec.structs import asdict, replace

from domain.schedule.commands import (
    AnyScheduleCommand,
    CreateSchedule,
    DeleteSchedule,
    FireSchedule,
    PauseSchedule,
    ResumeSchedule,
    TriggerSchedule,
    UpdateSchedule,
)
from domain.schedule.cron import InvalidCron, UnknownTimeZone, check_cron, next_fires, zone
from domain.schedule.errors import IllegalScheduleMove, InvalidSchedule, ScheduleAlreadyExists, ScheduleNotFound
from domain.schedule.events import (
    AnyScheduleEvent,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleFired,
    SchedulePaused,
    ScheduleResumed,
    ScheduleTriggered,
    ScheduleUpdated,
)
from domain.schedule.jobs import job_id_for
from domain.schedule.lifecycle import ScheduleStatus, ScheduleTrigger, next_status
from domain.schedule.policies import NoJob, Overlap
from domain.schedule.state import INITIAL, ScheduleState
from domain.schedule.ticks import Verdict, tick_for
from domain.schedule.triggers import COMMAND_TRIGGERS


def decide(command: AnyScheduleCommand, state: ScheduleState) -> list[AnyScheduleEvent]:
    if isinstance(command, CreateSchedule):
        return _create(command, state)
    if state.status is None:
        raise ScheduleNotFound()
    status = state.status
    trigger = COMMAND_TRIGGERS[type(command)]
    moved = next_status(status, trigger)  # the Machine's verdict; None when it has no such move
    match command:
        case UpdateSchedule():
            _require(status, trigger, moved)
            changes = _changes(command, state)
            return [ScheduleUpdated(at=command.at, **changes)] if changes else []
        case PauseSchedule():
            if status is ScheduleStatus.PAUSED:
                return []  # the same request again
            _require(status, trigger, moved)
            return [SchedulePaused(at=command.at)]
        case ResumeSchedule():
            if status is ScheduleStatus.ACTIVE:
                return []
            _require(status, trigger, moved)
            return [ScheduleResumed(at=command.at)]
        case DeleteSchedule():
            if status is ScheduleStatus.DELETED:
                return []
            _require(status, trigger, moved)
            return [ScheduleDeleted(at=command.at)]
        case FireSchedule():
            return _fire(command, state) if moved is not None else []
        case TriggerSchedule():
            _require(status, trigger, moved)
            outcome = _job_or_reason(state, command.job_id, command.previous_job_active)
            return [ScheduleTriggered(at=command.at, **outcome)]
        case CreateSchedule():
            raise AssertionError("handled above")
        case _:
            assert_never(command)


def _require(status: ScheduleStatus, trigger: ScheduleTrigger, moved: ScheduleStatus | None) -> None:
    if moved is None:
        raise IllegalScheduleMove(status, trigger)


def _create(command: CreateSchedule, state: ScheduleState) -> list[AnyScheduleEvent]:
    if state.status is not None:
        raise ScheduleAlreadyExists()
    fields = asdict(command)  # the event records every value the command carries
    fields.update(_checked(fields, command.at))
    return [ScheduleCreated(**fields)]


def _changes(command: UpdateSchedule, state: ScheduleState) -> dict[str, Any]:
    """The fields the update sets to something new, checked as at creation."""
    asked = command.changed()
    checked = _checked({**asdict(state), **asked}, command.at, only=set(asked))
    return {name: value for name, value in (asked | checked).items() if value != getattr(state, name)}


def _checked(spec: dict[str, Any], at: datetime, only: set[str] | None = None) -> dict[str, Any]:
    """Check the spec's fields (only those named, when given); the cron comes back normalised."""

    def asked(name: str) -> bool:
        return only is None or name in only

    cron, time_zone, end_at = spec["cron"], spec["time_zone"], spec["end_at"]
    checked: dict[str, Any] = {}
    if asked("cron"):
        try:
            cron = checked["cron"] = check_cron(cron)
        except InvalidCron as error:
            raise InvalidSchedule("cron", str(error)) from None
    if asked("time_zone"):
        try:
            zone(time_zone)
        except UnknownTimeZone as error:
            raise InvalidSchedule("time_zone", str(error)) from None
    for name, least in (("max_runs", 1), ("target_results", 1)):
        if asked(name) and spec[name] is not None and spec[name] < least:
            raise InvalidSchedule(name, f"{name} must be at least {least}")
    if asked("deadline_s") and spec["deadline_s"] is not None and spec["deadline_s"] <= 0:
        raise InvalidSchedule("deadline_s", "deadline_s must be positive")
    if end_at is not None and asked("end_at"):
        checked["end_at"] = end_at = end_at.astimezone(UTC)  # stored in UTC, as every time the schedule records
    if end_at is not None and (asked("end_at") or asked("cron") or asked("time_zone")):
        if end_at <= at:
            raise InvalidSchedule("end_at", "the end date is in the past")
        first = next_fires(cron, time_zone, at, 1)
        if not first or first[0].utc > end_at:
            raise InvalidSchedule("end_at", "the schedule would not fire once before its end date")
    return checked


def _fire(command: FireSchedule, state: ScheduleState) -> list[AnyScheduleEvent]:
    assert state.ticks_after is not None, "set at creation"
    found = tick_for(
        state.cron,
        state.time_zone,
        command.at if command.delivered_at is None else command.delivered_at,
        state.ticks_after,
        state.catch_up,
        timedelta(seconds=command.tolerance_s),
        timedelta(seconds=command.early_s),
    )
    if found.verdict is Verdict.DUPLICATE:
        return []
    assert found.tick is not None
    if state.end_at is not None and found.tick > state.end_at:
        return []
    if found.verdict is Verdict.MISSED:
        return [ScheduleFired(at=command.at, tick=found.tick, reason=NoJob.MISSED, missed=found.missed)]
    job_id = job_id_for(command.schedule_id, found.tick)
    outcome = _job_or_reason(state, job_id, command.previous_job_active)
    return [ScheduleFired(at=command.at, tick=found.tick, missed=found.missed, **outcome)]


def _job_or_reason(state: ScheduleState, job_id: UUID, previous_active: bool) -> dict[str, Any]:
    """The overlap policy's answer: the new job (cancelling the previous one, perhaps), or why none."""
    if previous_active and state.last_job_id is not None:
        if state.overlap is Overlap.SKIP:
            return {"reason": NoJob.OVERLAP}
        if state.overlap is Overlap.CANCEL_PREVIOUS:
            return {"job_id": job_id, "cancelled_job_id": state.last_job_id}
    return {"job_id": job_id}


def evolve(state: ScheduleState, event: AnyScheduleEvent) -> ScheduleState:
    version = state.version + 1
    at = event.at
    match event:
        case ScheduleCreated():
            created = asdict(event)  # the schedule as created: every field but `at` and `paused`
            del created["at"], created["paused"]
            status = ScheduleStatus.PAUSED if event.paused else ScheduleStatus.ACTIVE
            return ScheduleState(
                version=version, status=status, ticks_after=at, created_at=at, updated_at=at, **created
            )
        case ScheduleUpdated():
            changes = event.changed()
            ticks_after = state.ticks_after
            if {"cron", "time_zone"} & changes.keys():  # a new clock owes nothing for the old one's ticks
                ticks_after = _later(ticks_after, at)
            return replace(state, version=version, ticks_after=ticks_after, updated_at=at, **changes)
        case SchedulePaused():
            return replace(state, version=version, status=ScheduleStatus.PAUSED, updated_at=at)
        case ScheduleResumed():
            ticks_after = _later(state.ticks_after, at)
            return replace(state, version=version, status=ScheduleStatus.ACTIVE, ticks_after=ticks_after, updated_at=at)
        case ScheduleDeleted():
            return replace(state, version=version, status=ScheduleStatus.DELETED, updated_at=at)
        case ScheduleFired():
            return replace(
                state,
                version=version,
                ticks_after=_later(state.ticks_after, event.tick),
                last_tick=event.tick,
                **_counted(state, event.job_id),
                ticks_skipped=state.ticks_skipped + event.missed + int(event.job_id is None),
                updated_at=at,
            )
        case ScheduleTriggered():
            return replace(state, version=version, **_counted(state, event.job_id), updated_at=at)
    raise TypeError(f"unknown event {type(event).__name__}")


def _later(moment: datetime | None, other: datetime) -> datetime:
    return other if moment is None else max(moment, other)


def _counted(state: ScheduleState, job_id: UUID | None) -> dict[str, Any]:
    if job_id is None:
        return {}
    return {"last_job_id": job_id, "jobs_created": state.jobs_created + 1}


def fold(events: Iterable[AnyScheduleEvent], state: ScheduleState = INITIAL) -> ScheduleState:
    for event in events:
        state = evolve(state, event)
    return state
