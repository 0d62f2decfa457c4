"""What the schedule pages show, and who may pause or resume a schedule from them.

The documents are the API's (service/api/schedule_schemas.py), so a page says what
`GET /v1/schedules/{id}` says: the cron in words, the next fires on the schedule's clock
and in UTC. Tenancy is the API's too: an owner's key sees its own schedules, an
`audit:read` key every owner's, and only the owner's `jobs:write` key changes one.
"""

from typing import Any
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from domain.schedule.errors import ScheduleNotFound
from domain.schedule.state import ScheduleState, upcoming
from service.api.auth import may_see
from service.api.schedule_schemas import schedule_document
from service.api.schedules import NEXT_FIRES
from service.api.schemas import document
from service.auth.keys import Principal, Scope
from service.clock import now
from service.schedules import service
from service.store.job_status import BadCursor, decode_cursor, encode_cursor

PAGE_SIZE = 50
LAST_JOBS = 20


class ReadOnlyKey(Exception):
    """A pause or resume asked by a key that may not change schedules (no `jobs:write`)."""


def may_change(principal: Principal, state: ScheduleState) -> bool:
    return Scope.JOBS_WRITE in principal.scopes and state.owner == principal.owner


async def listed(pool: AsyncConnectionPool, principal: Principal, cursor: str | None) -> dict[str, Any]:
    """A page of the viewer's schedules (every owner's for an auditor), newest first, each
    with its next fire."""
    owner = None if Scope.AUDIT_READ in principal.scopes else principal.owner
    try:
        after = decode_cursor(cursor) if cursor else None
    except BadCursor:
        return {"schedules": [], "next_cursor": None, "cursor": cursor, "auditor": owner is None}
    rows = await service.page(
        pool, owner=owner, after=(after.created_at, after.stream_id) if after else None, limit=PAGE_SIZE + 1
    )
    at = now()
    last = rows[PAGE_SIZE - 1] if len(rows) > PAGE_SIZE else None
    return {
        "schedules": [schedule_document(sid, state, upcoming(state, at, 1)) for sid, state in rows[:PAGE_SIZE]],
        "next_cursor": encode_cursor(last[1].created_at, last[0]) if last and last[1].created_at else None,
        "cursor": cursor,
        "auditor": owner is None,  # the rows show whose each schedule is
    }


async def visible(pool: AsyncConnectionPool, principal: Principal, schedule_id: UUID) -> ScheduleState:
    """The schedule, if the viewer may read it; another owner's is exactly a missing one."""
    state = await service.get(pool, schedule_id)
    if state.status is None or not may_see(principal, state.owner):
        raise ScheduleNotFound()
    return state


async def shown(pool: AsyncConnectionPool, principal: Principal, schedule_id: UUID) -> dict[str, Any]:
    """One schedule with its next five fires and the jobs it created last."""
    state = await visible(pool, principal, schedule_id)
    return {
        "schedule": schedule_document(schedule_id, state, upcoming(state, now(), NEXT_FIRES)),
        "may_change": may_change(principal, state),
        **await last_jobs(pool, schedule_id),
    }


async def last_jobs(pool: AsyncConnectionPool, schedule_id: UUID) -> dict[str, Any]:
    found, more = await service.created_jobs(pool, schedule_id, limit=LAST_JOBS)
    return {
        "jobs": [document(job_id, state) for job_id, state in found],
        "more_jobs": more is not None,
        "schedule_id": schedule_id,
    }


async def changeable(pool: AsyncConnectionPool, principal: Principal, schedule_id: UUID) -> None:
    """Refuse a change the viewer may not make: a read-only key (403), or a schedule that is
    not the viewer's own (404, as the API answers)."""
    if Scope.JOBS_WRITE not in principal.scopes:
        raise ReadOnlyKey()
    state = await service.get(pool, schedule_id)
    if state.status is None or state.owner != principal.owner:
        raise ScheduleNotFound()
