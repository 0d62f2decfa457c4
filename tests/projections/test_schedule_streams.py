"""A log holding schedule streams beside jobs': every reader of the whole log still works,
and the projections that fold jobs pass schedules by."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from psycopg_pool import AsyncConnectionPool

from domain.schedule.commands import CreateSchedule, FireSchedule, PauseSchedule
from domain.schedule.events import ScheduleCreated, ScheduleFired
from domain.streams import StreamKind, kind_of
from projections import job_status, stats
from projections.chain import verify
from projections.drift import find_drift
from projections.export import export_lines, verify_export
from projections.log import Metadata, job_owner, link, read_settled_after, read_stream
from projections.rebuild import rebuild_job_status
from projections.runner import catch_up
from projections.shadow_rebuild import shadow_rebuild
from service.jobs.kinds import load_kinds
from service.schedules.command_handler import handle

pytestmark = pytest.mark.anyio

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ACTOR = Metadata(actor="ops")


async def a_schedule_that_fired(pool: AsyncConnectionPool):
    schedule_id = uuid4()
    kinds = load_kinds()
    create = CreateSchedule(at=T0, owner="ada", kind="demo.count", params={"total": 3}, cron="*/5 * * * *")
    await handle(pool, schedule_id, create, ACTOR, kinds)
    fired = await handle(
        pool, schedule_id, FireSchedule(at=T0 + timedelta(minutes=5, seconds=2), schedule_id=schedule_id), ACTOR, kinds
    )
    await handle(pool, schedule_id, PauseSchedule(at=T0 + timedelta(minutes=6)), ACTOR, kinds)
    assert fired.job is not None
    return schedule_id, fired.job.job_id


async def test_rebuild_drift_and_shadow_rebuild_pass_schedule_streams_by(pool: AsyncConnectionPool):
    schedule_id, job_id = await a_schedule_that_fired(pool)
    async with pool.connection() as conn:
        assert await find_drift(conn) == []
        assert await rebuild_job_status(conn) == 1  # the schedule's job, not the schedule
        assert set((await job_status.live_rows(conn)).keys()) == {job_id}
        await shadow_rebuild(conn)
        assert set((await job_status.live_rows(conn)).keys()) == {job_id}
        assert await find_drift(conn) == []


async def test_stats_count_the_schedules_job_and_not_the_schedule(pool: AsyncConnectionPool):
    _, job_id = await a_schedule_that_fired(pool)
    async with pool.connection() as conn:
        assert await catch_up(conn, stats.StatsProjection()) == 4  # all four events read, one folded
        rows = await stats.created_counts(conn, T0 - timedelta(days=1), None)
    assert (None, "demo.count", 1) in [tuple(row) for row in rows]


async def test_a_schedule_stream_chains_exports_and_verifies(pool: AsyncConnectionPool):
    schedule_id, job_id = await a_schedule_that_fired(pool)
    async with pool.connection() as conn:
        events = await read_stream(conn, schedule_id)
    assert [type(e.event) for e in events][:2] == [ScheduleCreated, ScheduleFired]
    assert verify([link(e) for e in events]).ok
    report = verify_export(export_lines(schedule_id, events))
    assert report.ok and report.events == 3
    assert job_owner(events) is None  # a job's route answers a schedule's id as a missing job


async def test_the_live_feed_reads_schedule_events_in_log_order(pool: AsyncConnectionPool):
    schedule_id, job_id = await a_schedule_that_fired(pool)
    async with pool.connection() as conn:
        events, held_back = await read_settled_after(conn, 0, 0)
    assert not held_back
    kinds = [(e.stream_id, kind_of(e.event)) for e in events]
    assert kinds == [
        (schedule_id, StreamKind.SCHEDULE),
        (schedule_id, StreamKind.SCHEDULE),
        (job_id, StreamKind.JOB),  # the fire and its job commit together, schedule first
        (schedule_id, StreamKind.SCHEDULE),
    ]
