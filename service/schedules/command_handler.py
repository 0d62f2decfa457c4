"""Handle a schedule's command: load it, decide, append — retried on a concurrent write.

As a job's (service/jobs/command_handler.py): the append states the version decided
against, and a ConcurrencyConflict means deciding again against the fresh state. A fire
or a trigger that creates a job appends the job's JobCreated (and its outbox row, so the
relay publishes its first run) in the same transaction as the schedule's event. The job's
id is derived from the schedule and the tick, so a second fire for one tick, however
concurrent, meets either the schedule's version or the job's stream already taken: it
rolls back, decides again, and finds the tick accounted for.
"""

import asyncio
import random
from collections.abc import Callable, Mapping
from uuid import UUID

import msgspec
from msgspec.structs import replace
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from domain.commands import Cancel
from domain.errors import DomainError
from domain.events import AnyEvent
from domain.job import decide as decide_job
from domain.job import fold as fold_job
from domain.lifecycle import ACTIVE
from domain.schedule.commands import AnyScheduleCommand, FireSchedule, TriggerSchedule
from domain.schedule.decider import decide, fold
from domain.schedule.events import AnyScheduleEvent, ScheduleFired, ScheduleTriggered
from domain.schedule.jobs import job_command
from domain.schedule.state import ScheduleState
from domain.state import INITIAL as NO_JOB
from domain.state import JobState
from projections import schedules
from projections.log import Metadata
from service.jobs import command_handler as jobs
from service.jobs.dispatch import messages_for
from service.jobs.kinds import Kind
from service.jobs.observers import STANDALONE, Observers
from service.store import job_status
from service.store.event_store import ConcurrencyConflict, InboxEntry, append, append_schedule

MAX_ATTEMPTS = 10
BACKOFF_S = 0.002


class CreatedJob(msgspec.Struct, frozen=True):
    job_id: UUID
    state: JobState


class ScheduleHandled(msgspec.Struct, frozen=True):
    state: ScheduleState
    events: list[AnyScheduleEvent]
    position: int | None  # of the schedule's last event; None when nothing changed
    job: CreatedJob | None = None  # the job a fire or trigger created


async def handle(
    pool: AsyncConnectionPool,
    schedule_id: UUID,
    command: AnyScheduleCommand,
    metadata: Metadata,
    kinds: Mapping[str, Kind],
    *,
    inbox: InboxEntry | Callable[[list[AnyScheduleEvent]], InboxEntry] | None = None,
    observers: Observers = STANDALONE,
) -> ScheduleHandled:
    """Decide `command` against the schedule and append what it decides.

    A fire's or trigger's `previous_job_active` is read here, from the last job's status.
    The inbox entry is recorded with the schedule's events; when nothing is decided, the
    caller records it (a no-op). `inbox` may be a function of the events decided, for an
    answer that names what they did. `kinds` gives the limits of the job a fire creates.
    """
    async with pool.connection() as conn:
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                await asyncio.sleep(random.uniform(0, BACKOFF_S * 2 ** min(attempt - 1, 5)))
            state = await schedules.load(conn, schedule_id)
            if isinstance(command, TriggerSchedule) and (await job_status.load(conn, command.job_id)).status:
                return ScheduleHandled(state, [], None)  # a repeated trigger: its job exists already
            if isinstance(command, FireSchedule | TriggerSchedule) and state.last_job_id is not None:
                previous = await job_status.load(conn, state.last_job_id)
                command = replace(command, previous_job_active=previous.status in ACTIVE)
            events = decide(command, state)
            if not events:
                return ScheduleHandled(state, [], None)
            after = fold(events, state)
            job = _job_of(events, after, kinds)
            entry = inbox(events) if callable(inbox) else inbox
            try:
                async with conn.transaction():
                    position = await append_schedule(
                        conn, schedule_id, state.version, events, after, metadata, inbox=entry
                    )
                    if job is not None:
                        await _append_job(conn, *job, metadata)
            except ConcurrencyConflict:
                continue
            created = None
            if job is not None:
                job_id, job_events, job_state = job
                await observers.committed(conn, job_id, job_events, job_state, 0.0, queued=True)
                created = CreatedJob(job_id, job_state)
            handled = ScheduleHandled(after, events, position, created)
            break
        else:
            raise jobs.TooMuchContention(f"schedule {schedule_id} changed {MAX_ATTEMPTS} times while deciding")
    await _cancel_previous(pool, events, metadata, observers)
    return handled


def _job_of(
    events: list[AnyScheduleEvent], state: ScheduleState, kinds: Mapping[str, Kind]
) -> tuple[UUID, list[AnyEvent], JobState] | None:
    """The job a fire or trigger decided to create: its id, JobCreated and state."""
    for event in events:
        if isinstance(event, ScheduleFired | ScheduleTriggered) and event.job_id is not None:
            create = job_command(state, kinds[state.kind].config, event.at)
            job_events = decide_job(create, NO_JOB)
            return event.job_id, job_events, fold_job(job_events, NO_JOB)
    return None


async def _append_job(
    conn: AsyncConnection, job_id: UUID, events: list[AnyEvent], state: JobState, metadata: Metadata
) -> None:
    # Expected version 0: a job already created for this tick is a conflict, never a second job.
    await append(conn, job_id, 0, events, state, metadata, outbox=messages_for(job_id, events, state))


async def _cancel_previous(
    pool: AsyncConnectionPool, events: list[AnyScheduleEvent], metadata: Metadata, observers: Observers
) -> None:
    """Under Overlap.CANCEL_PREVIOUS, cancel the job the new one replaces. After the fire's
    commit, as its own command: the job may finish meanwhile, and then there is nothing to
    cancel (a cancel of a finished job is refused, and ignored here)."""
    for event in events:
        cancelled = getattr(event, "cancelled_job_id", None)
        if cancelled is not None:
            try:
                await jobs.handle(
                    pool,
                    cancelled,
                    Cancel(at=event.at, reason="replaced by the schedule's next job"),
                    metadata,
                    observers=observers,
                )
            except DomainError:  # finished meanwhile: the fire stands either way
                pass
