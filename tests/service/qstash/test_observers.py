"""Every QStash webhook hands the app's observers to the command handler."""

import base64
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from domain.kinds import create_job
from projections.log import Metadata
from service.jobs import demo_count
from service.jobs.command_handler import handle
from tests.service.qstash.conftest import PUBLIC_URL
from tests.service.qstash.test_signatures import claims, sign
from tests.service.scraped import appends_counted

pytestmark = pytest.mark.anyio


async def new_job(pool: AsyncConnectionPool, at: datetime, deadline_s: float | None = None) -> uuid.UUID:
    """A job created outside the app: its commit is not counted there."""
    stream_id = uuid.uuid4()
    params = {"total": 40}
    command = create_job(demo_count.NAME, demo_count.CONFIG, owner="acme", at=at, params=params, deadline_s=deadline_s)
    await handle(pool, stream_id, command, Metadata(actor="test"))
    return stream_id


async def signed_post(client: AsyncTestClient, route: str, body: bytes, message_id: str):
    headers = {
        "Upstash-Signature": sign(claims(body, sub=f"{PUBLIC_URL}{route}")),
        "Upstash-Message-Id": message_id,
        "Upstash-Retried": "0",
        "Content-Type": "application/json",
    }
    return await client.post(route, content=body, headers=headers)


async def test_a_delivery_a_failure_callback_and_a_sweep_each_count_their_appends(
    client: AsyncTestClient, pool: AsyncConnectionPool
) -> None:
    now = datetime.now(UTC)
    job = await new_job(pool, now)
    await new_job(pool, now - timedelta(hours=1), deadline_s=60)  # overdue
    run = msgspec.json.encode({"job_id": str(job), "run": 1})
    delivered = await signed_post(client, "/qstash/run", run, "msg_run")
    assert delivered.json()["outcome"] == "recorded"  # started, then recorded: two appends
    source = base64.b64encode(msgspec.json.encode({"job_id": str(job), "run": 2})).decode()
    callback = msgspec.json.encode({"sourceBody": source, "dlqId": "dlq_1", "status": 500})
    failed = await signed_post(client, "/qstash/failed", callback, "msg_callback")
    assert failed.json()["outcome"] == "job_failed"
    swept = await signed_post(client, "/qstash/sweep", b"", "msg_sweep")
    assert swept.json() == {"timed_out": 1, "redispatched": 0}
    assert await appends_counted(client) == 4
