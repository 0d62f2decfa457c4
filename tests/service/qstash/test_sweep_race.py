"""A sweeper and a delivery racing at a job's deadline: exactly one of them ends it."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.commands import RecordBatch, StartRun, TimeOut
from domain.kinds import KindConfig, create_job
from projections.log import Metadata
from service.jobs.command_handler import handle

FINAL_EVENTS = {"JobCompleted", "JobTimedOut", "JobFailed", "JobCancelled"}
TRIALS = 1000


async def race_once(pool) -> list[str]:
    stream_id, start = uuid.uuid4(), datetime.now(UTC)
    deadline = start + timedelta(seconds=10)
    config = KindConfig(deadline_s=10)
    await handle(pool, stream_id, create_job("demo.count", config, owner="o", at=start), Metadata())
    await handle(pool, stream_id, StartRun(at=start, run=1), Metadata())
    last_batch = RecordBatch(at=deadline - timedelta(milliseconds=1), run=1, results=5, has_more=False)
    sweep = TimeOut(at=deadline + timedelta(milliseconds=1), detected_by="sweeper")
    await asyncio.gather(
        handle(pool, stream_id, last_batch, Metadata(actor="qstash")),
        handle(pool, stream_id, sweep, Metadata(actor="sweeper")),
    )
    async with pool.connection() as conn:
        rows = await (await conn.execute("SELECT type FROM events WHERE stream_id = %s", (stream_id,))).fetchall()
    return [row[0] for row in rows]


@pytest.mark.anyio
async def test_sweeper_versus_delivery_leaves_exactly_one_final_event_in_every_trial(pool):
    outcomes = {"JobCompleted": 0, "JobTimedOut": 0}
    for _ in range(TRIALS):
        types = await race_once(pool)
        finals = [t for t in types if t in FINAL_EVENTS]
        assert len(finals) == 1, types
        outcomes[finals[0]] += 1
    assert sum(outcomes.values()) == TRIALS
