"""The schedule operations the API, CLI and dashboard call: commands and reads.

Thin: each builds its command with the service's clock and hands it to the command
handler, or reads the `schedules` read model. Tenancy (which owner may see what) and
params validation against the kind's schema are the caller's, as for jobs.
"""

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from domain.schedule.commands import (
    CreateSchedule,
    DeleteSchedule,
    PauseSchedule,
    ResumeSchedule,
    TriggerSchedule,
    UpdateSchedule,
)
from domain.schedule.errors import ScheduleAlreadyExists
from domain.schedule.events import ScheduleFired, ScheduleTriggered
from domain.schedule.lifecycle import ScheduleStatus
from domain.schedule.state import ScheduleState
from domain.state import JobState
from projections import schedules
from projections.log import Metadata, read_stream
from service.clock import now
from service.jobs.kinds import Kind
from service.jobs.observers import STANDALONE, Observers
from service.schedules.command_handler import ScheduleHandled, handle
from service.store import job_status

# A schedule created with an Idempotency-Key gets an id derived from its owner and key, so
# a repeat finds the schedule already there (ScheduleAlreadyExists) instead of a twin.
IDEMPOTENCY_NAMESPACE = uuid.UUID("0b6f1f44-5a43-4c59-9f0e-5d7c5c1e6a31")


def schedule_id_for(owner: str, idempotency_key: str | None) -> UUID:
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{owner}\n{idempotency_key}")


async def create(
    pool: AsyncConnectionPool,
    kinds: Mapping[str, Kind],
    spec: dict[str, Any],
    metadata: Metadata,
    *,
    observers: Observers = STANDALONE,
) -> tuple[UUID, ScheduleState, bool]:
    """Create a schedule from `spec` (CreateSchedule's fields but `at`, its idempotency_key
    included). Returns its id, its state and whether it is new: a repeat of an
    Idempotency-Key returns the schedule it created, for the caller to compare."""
    command = CreateSchedule(at=now(), **spec)
    schedule_id = schedule_id_for(command.owner, command.idempotency_key)
    try:
        handled = await handle(pool, schedule_id, command, metadata, kinds, observers=observers)
    except ScheduleAlreadyExists:
        return schedule_id, await get(pool, schedule_id), False
    observers.schedule_changed()
    return schedule_id, handled.state, True


async def change(
    pool: AsyncConnectionPool,
    kinds: Mapping[str, Kind],
    schedule_id: UUID,
    command: UpdateSchedule | PauseSchedule | ResumeSchedule | DeleteSchedule,
    metadata: Metadata,
    *,
    observers: Observers = STANDALONE,
) -> ScheduleHandled:
    """Apply an update, pause, resume or delete, and wake the keeper so QStash's copy of
    the schedule follows at once rather than at its next check."""
    handled = await handle(pool, schedule_id, command, metadata, kinds, observers=observers)
    observers.schedule_changed()
    return handled


async def update(
    pool: AsyncConnectionPool,
    kinds: Mapping[str, Kind],
    schedule_id: UUID,
    changes: dict[str, Any],
    metadata: Metadata,
    *,
    observers: Observers = STANDALONE,
) -> ScheduleHandled:
    """Change the fields named in `changes` (ScheduleChanges' fields)."""
    return await change(pool, kinds, schedule_id, UpdateSchedule(at=now(), **changes), metadata, observers=observers)


async def pause(
    pool: AsyncConnectionPool,
    kinds: Mapping[str, Kind],
    schedule_id: UUID,
    metadata: Metadata,
    *,
    observers: Observers = STANDALONE,
) -> ScheduleHandled:
    return await change(pool, kinds, schedule_id, PauseSchedule(at=now()), metadata, observers=observers)


async def resume(
    pool: AsyncConnectionPool,
    kinds: Mapping[str, Kind],
    schedule_id: UUID,
    metadata: Metadata,
    *,
    observers: Observers = STANDALONE,
) -> ScheduleHandled:
    return await change(pool, kinds, schedule_id, ResumeSchedule(at=now()), metadata, observers=observers)


async def delete(
    pool: AsyncConnectionPool,
    kinds: Mapping[str, Kind],
    schedule_id: UUID,
    metadata: Metadata,
    *,
    observers: Observers = STANDALONE,
) -> ScheduleHandled:
    return await change(pool, kinds, schedule_id, DeleteSchedule(at=now()), metadata, observers=observers)


async def trigger(
    pool: AsyncConnectionPool,
    kinds: Mapping[str, Kind],
    schedule_id: UUID,
    metadata: Metadata,
    *,
    idempotency_key: str | None = None,
    observers: Observers = STANDALONE,
) -> ScheduleHandled:
    """Fire now, once, outside the cron. The job's id is derived from the schedule and the
    key when one is given, so a repeated trigger meets that job's stream already created."""
    command = TriggerSchedule(at=now(), job_id=trigger_job_id(schedule_id, idempotency_key))
    return await handle(pool, schedule_id, command, metadata, kinds, observers=observers)


def trigger_job_id(schedule_id: UUID, idempotency_key: str | None) -> UUID:
    """The job a trigger creates: derived from the schedule and the key when one is given."""
    return uuid.uuid4() if idempotency_key is None else uuid.uuid5(schedule_id, f"trigger\n{idempotency_key}")


async def get(pool: AsyncConnectionPool, schedule_id: UUID) -> ScheduleState:
    """The schedule's state; `status` is None when there is no such schedule."""
    async with pool.connection() as conn:
        return await schedules.load(conn, schedule_id)


async def page(
    pool: AsyncConnectionPool,
    *,
    owner: str | None,
    status: ScheduleStatus | None = None,
    kind: str | None = None,
    after: tuple[datetime, UUID] | None = None,
    limit: int = 50,
) -> list[tuple[UUID, ScheduleState]]:
    """Newest first; `after` is the (created_at, id) of the last one of the previous page."""
    async with pool.connection() as conn:
        return await schedules.page(conn, owner=owner, status=status, kind=kind, after=after, limit=limit)


async def created_jobs(
    pool: AsyncConnectionPool, schedule_id: UUID, *, before: int | None = None, limit: int = 50
) -> tuple[list[tuple[UUID, JobState]], int | None]:
    """The jobs its fires and triggers created, newest first, from those recorded before the
    schedule's version `before`; and the version the next page starts before, if any."""
    async with pool.connection() as conn:
        events = await read_stream(conn, schedule_id)
        created = [
            (e.version, e.event.job_id)
            for e in reversed(events)
            if isinstance(e.event, ScheduleFired | ScheduleTriggered)
            and e.event.job_id is not None
            and (before is None or e.version < before)
        ]
        page = created[:limit]
        states = await job_status.load_many(conn, [job_id for _, job_id in page])
    found = [(job_id, states[job_id]) for _, job_id in page if job_id in states]
    return found, page[-1][0] if len(created) > limit else None
