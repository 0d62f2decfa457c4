"""The schedules read model: one row per schedule, folded from its stream, and every
statement that reads it.

The row is written by the event store's schedule append (service/store/event_store.py,
APPEND_SCHEDULE), in the same statement as the schedule's events, as a job's status row
is; `params` gives that statement its values. The reads here serve the schedule service
(service/schedules/) and the keeper's reconciliation with QStash.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from psycopg import AsyncConnection

from domain.schedule.lifecycle import ScheduleStatus
from domain.schedule.state import INITIAL, ScheduleState, upcoming
from domain.schedule.state import decoder as state_decoder
from domain.schedule.state import encoder as state_encoder

LOAD = "SELECT state::text FROM schedules WHERE stream_id = %(stream_id)s"

# Newest first, keyset-paged on (created_at, stream_id), as the jobs' list is.
PAGE = """
SELECT stream_id, created_at, state::text FROM schedules
 WHERE (%(owner)s::text IS NULL OR owner = %(owner)s)
   AND (%(status)s::text IS NULL OR status = %(status)s)
   AND (%(kind)s::text IS NULL OR kind = %(kind)s)
   AND (%(after_created_at)s::timestamptz IS NULL
        OR (created_at, stream_id) < (%(after_created_at)s, %(after_stream_id)s::uuid))
 ORDER BY created_at DESC, stream_id DESC
 LIMIT %(limit)s
"""

# What reconciliation with QStash needs of every schedule not deleted.
LIVE = "SELECT stream_id, status, cron, time_zone FROM schedules WHERE status <> 'deleted'"


class Listed(msgspec.Struct, frozen=True):
    """A schedule QStash should hold: its id, whether paused, its cron and zone."""

    schedule_id: UUID
    paused: bool
    cron: str
    time_zone: str


def next_fire(state: ScheduleState) -> datetime | None:
    """The first tick after the schedule's last event: a function of the log alone, so a
    rebuild writes the same value."""
    if state.updated_at is None:
        return None
    fires = upcoming(state, state.updated_at, 1)
    return fires[0].utc if fires else None


def params(stream_id: UUID, state: ScheduleState) -> dict[str, Any]:
    """The row's values, named as APPEND_SCHEDULE names them."""
    return {
        "stream_id": stream_id,
        "owner": state.owner,
        "kind": state.kind,
        "status": state.status,
        "cron": state.cron,
        "time_zone": state.time_zone,
        "next_fire_at": next_fire(state),
        "last_tick": state.last_tick,
        "last_job_id": state.last_job_id,
        "jobs_created": state.jobs_created,
        "idempotency_key": state.idempotency_key,
        "version": state.version,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
        "state": state_encoder.encode(state).decode(),
    }


def state_of(state: str | None) -> ScheduleState:
    """A row's state JSON, or INITIAL for a schedule that has no row (does not exist)."""
    return state_decoder.decode(state) if state else INITIAL


async def load(conn: AsyncConnection, stream_id: UUID) -> ScheduleState:
    found = await (await conn.execute(LOAD, {"stream_id": stream_id})).fetchone()
    return state_of(found[0] if found else None)


async def page(
    conn: AsyncConnection,
    *,
    owner: str | None,
    status: ScheduleStatus | None = None,
    kind: str | None = None,
    after: tuple[datetime, UUID] | None = None,
    limit: int = 50,
) -> list[tuple[UUID, ScheduleState]]:
    """A page of schedules, newest first, after the keyset `after` (created_at, id)."""
    values = {
        "owner": owner,
        "status": status,
        "kind": kind,
        "after_created_at": after[0] if after else None,
        "after_stream_id": after[1] if after else None,
        "limit": limit,
    }
    rows = await (await conn.execute(PAGE, values)).fetchall()
    return [(stream_id, state_of(state)) for stream_id, _, state in rows]


async def live(conn: AsyncConnection) -> list[Listed]:
    rows = await (await conn.execute(LIVE)).fetchall()
    return [Listed(sid, status == ScheduleStatus.PAUSED, cron, zone) for sid, status, cron, zone in rows]
