"""What a job's page shows: its status and figures, the actions open to the viewer, its
results, notifications and timeline (newest first), and what a poll adds to it."""

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from psycopg_pool import AsyncConnectionPool

from domain.errors import JobNotFound
from domain.job import fold
from domain.state import JobState
from projections.chain import verify
from projections.log import job_event, job_owner, link, read_stream
from service.api.auth import may_see
from service.api.jobs import missing_job
from service.api.schemas import document
from service.auth.keys import Principal
from service.clock import now
from service.dashboard.actions import CONSEQUENCES, offered
from service.dashboard.diagram import state_diagram
from service.dashboard.views import chain_badge, is_live, timeline
from service.store import batch_results, notifications

# A first render shows the latest events; the rest on request (rendering is most of the
# cost of a long history: ~0.3 ms an event).
TIMELINE_LIMIT = 200
RESULT_RUNS_SHOWN = 5


class Batch(msgspec.Struct, frozen=True):
    run: int
    items: str  # as JSON
    recorded_at: datetime


def duration_s(state: JobState, at: datetime) -> float | None:
    """Created to finished; for a job still going, created to now."""
    if state.created_at is None:
        return None
    return ((state.finished_at or at) - state.created_at).total_seconds()


def _summary(principal: Principal, job_id: UUID, state: JobState) -> dict[str, Any]:
    return {
        "job": document(job_id, state),
        "params_json": msgspec.json.format(msgspec.json.encode(state.params), indent=2).decode(),
        "duration_s": duration_s(state, now()),
        "live": is_live(state.status),
        "actions": offered(principal, state),
        "consequences": CONSEQUENCES,
        "diagram": state_diagram(state.status),
    }


async def job_page(
    pool: AsyncConnectionPool, principal: Principal, job_id: UUID, everything: bool = True
) -> dict[str, Any]:
    """One read of the stream gives the state, the timeline and the chain verdict together;
    the chain is checked whole even when only the latest events are shown."""
    async with pool.connection() as conn:
        events = await read_stream(conn, job_id)
        owner = job_owner(events) if events else None
        visible = owner is not None and may_see(principal, owner)
        if visible:
            runs = await batch_results.page(conn, job_id, 0, RESULT_RUNS_SHOWN + 1)
            sent = await notifications.of_job(conn, job_id)
    if not events:
        await missing_job(pool, principal, job_id)
    if not visible:
        raise JobNotFound()
    state = fold(map(job_event, events))
    shown = events if everything else events[-TIMELINE_LIMIT:]
    return {
        **_summary(principal, job_id, state),
        "events": timeline(reversed(shown)),
        "earlier": len(events) - len(shown),
        "badge": chain_badge(verify([link(e) for e in events])),
        "results": [Batch(run, items, at) for run, items, at in runs[:RESULT_RUNS_SHOWN]],
        "more_results": len(runs) > RESULT_RUNS_SHOWN,
        "notifications": sent,
    }


async def changes(
    pool: AsyncConnectionPool, principal: Principal, job_id: UUID, snapshot: JobState, since: int
) -> dict[str, Any]:
    """What a page showing version `since` lacks: the events after it, their chain checked
    onwards from the event it shows last, and the state folded on top of the snapshot.

    A poll of a long history thus costs what was appended, not the whole stream. Its
    verdict covers the new links only: the page's script keeps a break it was shown.
    """
    async with pool.connection() as conn:
        events = await read_stream(conn, job_id, after_version=since - 1)
    shown, new = events[0], events[1:]
    state = fold((job_event(e) for e in new if e.version > snapshot.version), snapshot)
    return {
        **_summary(principal, job_id, state),
        "events": timeline(reversed(new)),
        "badge": chain_badge(verify([link(e) for e in new], after=link(shown))),
    }
