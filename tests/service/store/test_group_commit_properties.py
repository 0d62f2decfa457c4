"""Grouped appends, in any interleaving, leave the histories and projections that one by one would."""

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from psycopg_pool import AsyncConnectionPool

from domain.commands import AnyCommand, Cancel, FailDelivery, RecordBatch, StartRun
from domain.errors import DomainError
from domain.kinds import KindConfig, create_job
from projections.log import Metadata
from service.jobs.command_handler import handle
from service.jobs.observers import Observers
from service.store.event_store import DuplicateMessage, InboxEntry
from service.store.group_commit import GroupCommit

pytestmark = pytest.mark.anyio

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
CONFIG = KindConfig(max_runs=6, deadline_s=None)
ACTOR = Metadata(actor="property")

# A step of one job's life: a delivered batch (has more or not), a failed delivery, a
# cancel, or the previous step's message delivered again; and how many times its
# stream yields to the others first (which shapes the groups).
STEP = st.one_of(
    st.tuples(st.just("batch"), st.booleans()),
    st.tuples(st.just("fail"), st.just(False)),
    st.tuples(st.just("cancel"), st.just(False)),
    st.tuples(st.just("again"), st.just(False)),
)
PLAN = st.lists(st.tuples(STEP, st.integers(0, 3)), min_size=1, max_size=8)
PLANS = st.lists(PLAN, min_size=2, max_size=4)


def commands(step: tuple[str, bool], number: int, run: int) -> list[AnyCommand]:
    at = T0 + timedelta(minutes=number)
    kind, has_more = step
    if kind == "batch":
        return [StartRun(at=at, run=run), RecordBatch(at=at, run=run, results=3, has_more=has_more)]
    if kind == "fail":
        return [FailDelivery(at=at, run=run, attempt=number, error="flaky")]
    return [Cancel(at=at, reason="operator")]


async def live(pool: AsyncConnectionPool, observers: Observers, stream_id: UUID, plan: list, mode: str) -> None:
    """One job's plan, each step's last command recorded in the inbox under its message id."""
    state = (
        await handle(pool, stream_id, create_job("crawl", CONFIG, owner="ada", at=T0), ACTOR, observers=observers)
    ).state
    previous: tuple[list[AnyCommand], InboxEntry] | None = None
    for number, (step, yields) in enumerate(plan, start=1):
        for _ in range(yields):
            await asyncio.sleep(0)
        if step[0] == "again" and previous is not None:
            sent, entry = previous
        else:
            sent = commands(step, number, state.next_run)
            entry = InboxEntry(message_id=f"{mode}-{stream_id}-{number}", outcome="ok")
        previous = sent, entry
        for index, command in enumerate(sent):
            inbox = entry if index == len(sent) - 1 else None
            try:
                state = (await handle(pool, stream_id, command, ACTOR, inbox=inbox, observers=observers)).state
            except (DomainError, DuplicateMessage):
                break


STATUS_ROW = """
SELECT status, version, processed_runs, processed_results, updated_at, state::text
  FROM job_status WHERE stream_id = %s
"""


async def footprint(pool: AsyncConnectionPool, stream_id: UUID) -> tuple:
    """The stream's history (version, type, data) and its status row, with its id spelled out of them."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT version, type, data::text, metadata::text FROM events WHERE stream_id = %s ORDER BY version",
            [stream_id],
        )
        events = [tuple(str(value).replace(str(stream_id), "S") for value in row) for row in await cursor.fetchall()]
        cursor = await conn.execute(STATUS_ROW, [stream_id])
        status = [tuple(str(value).replace(str(stream_id), "S") for value in row) for row in await cursor.fetchall()]
        cursor = await conn.execute("SELECT count(*) FROM inbox WHERE stream_id = %s", [stream_id])
        inbox = await cursor.fetchone()
    return events, status, inbox


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans=PLANS)
async def test_grouped_appends_in_any_interleaving_leave_what_one_by_one_appends_leave(
    pool: AsyncConnectionPool, plans: list[list]
) -> None:
    alone = [uuid4() for _ in plans]
    for stream_id, plan in zip(alone, plans, strict=True):
        await live(pool, Observers(), stream_id, plan, "alone")
    group = GroupCommit(pool)
    grouped = [uuid4() for _ in plans]
    await asyncio.gather(
        *(
            live(pool, Observers(group_commit=group), stream_id, plan, "grouped")
            for stream_id, plan in zip(grouped, plans, strict=True)
        )
    )
    event("writes shared a group" if group.grouped > group.groups else "every write alone")
    for one_by_one, together in zip(alone, grouped, strict=True):
        assert await footprint(pool, together) == await footprint(pool, one_by_one)
