"""The stats view: what each row says after a known history, and that it can be rebuilt."""

import asyncio
from datetime import timedelta

import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from domain.commands import Requeue
from projections.runner import catch_up_once, follow
from projections.stats import StatsProjection, reset
from service.jobs.command_handler import handle
from tests.service.health.stats_scenario import ACTOR, project, run_scenario

pytestmark = pytest.mark.anyio

ROWS = """
SELECT stream_id, owner, kind, status, version, created_at, started_at, finished_at, progressed_at, duration_s
  FROM job_stats ORDER BY stream_id
"""


async def rows(conn: AsyncConnection) -> list[tuple]:
    return await (await conn.execute(ROWS)).fetchall()


async def row(conn: AsyncConnection, stream_id) -> dict:
    cursor = await conn.execute(ROWS.replace("ORDER BY", "WHERE stream_id = %s ORDER BY"), [stream_id])
    names = [column.name for column in cursor.description]
    return dict(zip(names, await cursor.fetchone(), strict=True))


async def test_each_job_has_one_row_with_its_status_times_and_duration(pool: AsyncConnectionPool) -> None:
    scenario = await run_scenario(pool)
    async with pool.connection() as conn:
        await project(conn)
        table = await rows(conn)
        completed = await row(conn, scenario.jobs["count-30s"])
        stuck = await row(conn, scenario.jobs["count-stuck"])
        never_started = await row(conn, scenario.jobs["crawl-error"])

    assert len(table) == 10
    t = scenario.start + timedelta(minutes=2)
    assert completed == {
        "stream_id": scenario.jobs["count-30s"],
        "owner": "acme",
        "kind": "demo.count",
        "status": "completed",
        "version": 4,  # created, started, batch recorded, completed
        "created_at": t,
        "started_at": t + timedelta(seconds=1),
        "finished_at": t + timedelta(seconds=30),
        "progressed_at": t + timedelta(seconds=30),
        "duration_s": 30.0,
    }
    assert stuck["status"] == "processing"
    assert stuck["finished_at"] is None and stuck["duration_s"] is None
    assert stuck["progressed_at"] == stuck["started_at"]
    assert never_started["status"] == "error"
    assert never_started["started_at"] is None
    assert never_started["duration_s"] == 7.0


async def test_a_requeued_job_is_pending_again_and_no_longer_finished(pool: AsyncConnectionPool) -> None:
    scenario = await run_scenario(pool)
    job = scenario.jobs["count-timeout"]
    async with pool.connection() as conn:
        await project(conn)
        at = (await row(conn, job))["finished_at"] + timedelta(minutes=1)
        await handle(pool, job, Requeue(at=at), ACTOR)
        await project(conn)
        requeued = await row(conn, job)

    assert requeued["status"] == "pending"
    assert requeued["finished_at"] is None and requeued["duration_s"] is None
    assert requeued["progressed_at"] == at


@pytest.mark.parametrize("limit", [1, 3, 7])
async def test_the_view_caught_up_round_by_round_equals_one_rebuilt_from_zero(
    pool: AsyncConnectionPool, limit: int
) -> None:
    async with pool.connection() as conn:
        scenario = await run_scenario(pool)
        for _ in range(5):  # part of the log, in rounds of `limit` events
            await catch_up_once(conn, StatsProjection(), limit)
        await handle(pool, scenario.jobs["crawl-error"], Requeue(at=scenario.start + timedelta(hours=1)), ACTOR)
        while await catch_up_once(conn, StatsProjection(), limit):
            pass
        await project(conn)  # rounds of `limit` up to the end
        incremental = await rows(conn)

        await reset(conn)
        assert await rows(conn) == []
        await project(conn)
        rebuilt = await rows(conn)

    assert rebuilt == incremental
    assert len(rebuilt) == 10


async def test_two_processes_following_while_jobs_run_build_the_view_a_rebuild_builds(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    stop = asyncio.Event()
    followers = [await AsyncConnection.connect(database_url, autocommit=True) for _ in range(2)]
    try:
        tasks = [asyncio.create_task(follow(c, StatsProjection(), stop, idle_s=0.005, limit=4)) for c in followers]
        await asyncio.gather(run_scenario(pool), run_scenario(pool))
        stop.set()
        fed = await asyncio.gather(*tasks)
    finally:
        for conn in followers:
            await conn.close()
    async with pool.connection() as conn:
        await project(conn)
        followed = await rows(conn)
        events = (await (await conn.execute("SELECT count(*) FROM events")).fetchone())[0]
        await reset(conn)
        await project(conn)
        rebuilt = await rows(conn)

    assert sum(fed) <= events  # no event was folded twice (the rest waited for older transactions)
    assert len(followed) == 20
    assert followed == rebuilt
