"""The serving processes' duties: two of them grow the tree and offer checkpoints on a
period; one checkpoint is issued for the log's growth, and none while only checkpoints
were added."""

import asyncio

import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from projections.log import checkpoints_after
from service.audit.issuer import grow_tree, issue_checkpoints
from service.store.outage import Outage
from tests.projections.test_runner import write_job
from tests.service.audit.trees import new_signer

pytestmark = pytest.mark.anyio


async def checkpoints(pool: AsyncConnectionPool) -> list:
    async with pool.connection() as conn:
        return await checkpoints_after(conn, 0, 100)


async def test_two_processes_duties_issue_one_checkpoint_per_growth(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    signer = new_signer()
    async with await AsyncConnection.connect(database_url, autocommit=True) as conn, conn.transaction():
        await write_job(conn, 6)
    stop = asyncio.Event()
    duties = [
        *(asyncio.create_task(grow_tree(database_url, stop, Outage())) for _ in range(2)),
        *(asyncio.create_task(issue_checkpoints(pool, signer, 0.05, stop, Outage())) for _ in range(2)),
    ]
    try:
        async with asyncio.timeout(60):
            while not await checkpoints(pool):
                await asyncio.sleep(0.05)
            async with pool.connection() as conn, conn.transaction():
                await write_job(conn, 3)
            while len(await checkpoints(pool)) < 2:
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*duties)
    sizes = [c.tree_size for c in await checkpoints(pool)]
    assert sizes[:2] == [6, 10]  # the job's 6 events; then its checkpoint's leaf and 3 more events
    assert sizes == sorted(set(sizes))
