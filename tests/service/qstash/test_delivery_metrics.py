"""Signed deliveries are counted on /metrics by outcome, refused ones as unauthorized."""

import uuid
from datetime import UTC, datetime

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from domain.kinds import create_job
from projections.log import Metadata
from service.jobs import demo_count
from service.jobs.command_handler import handle
from tests.service.qstash.test_signatures import WRONG_KEY, claims, sign
from tests.service.scraped import scraped

pytestmark = pytest.mark.anyio


async def new_job(pool: AsyncConnectionPool, **params: int) -> uuid.UUID:
    stream_id = uuid.uuid4()
    command = create_job(
        demo_count.NAME, demo_count.CONFIG, owner="acme", at=datetime.now(UTC), params={"total": 40, **params}
    )
    await handle(pool, stream_id, command, Metadata(actor="test"))
    return stream_id


async def deliver(client: AsyncTestClient, job_id: uuid.UUID, run: int, message_id: str, key: str | None = None):
    body = msgspec.json.encode({"job_id": str(job_id), "run": run})
    signature = sign(claims(body), key) if key else sign(claims(body))
    headers = {"Upstash-Signature": signature, "Upstash-Message-Id": message_id, "Upstash-Retried": "0"}
    return await client.post("/qstash/run", content=body, headers={"Content-Type": "application/json", **headers})


async def delivery_counts(client: AsyncTestClient) -> dict[str, float]:
    return {sample.labels["outcome"]: sample.value for sample in await scraped(client, "jobtrail_deliveries_total")}


async def test_each_delivery_is_counted_once_under_its_outcome(
    client: AsyncTestClient, pool: AsyncConnectionPool
) -> None:
    job = await new_job(pool)
    failing = await new_job(pool, fail_every=1)

    answers = [
        await deliver(client, job, 1, "msg_first"),  # ok: run 1 recorded
        await deliver(client, job, 1, "msg_first"),  # duplicate: the same message again
        await deliver(client, job, 1, "msg_late"),  # stale: run 1 is done
        await deliver(client, uuid.uuid4(), 1, "msg_nobody"),  # stale: no such job
        await deliver(client, failing, 1, "msg_fails"),  # failed: the handler raised, QStash retries
        await deliver(client, job, 2, "msg_forged", key=WRONG_KEY),  # unauthorized
    ]
    sweep = await client.post("/qstash/sweep", content=b"", headers={"Upstash-Signature": "not.a.jwt"})

    assert [a.status_code for a in answers] == [200, 200, 200, 200, 500, 401]
    assert sweep.status_code == 401
    assert await delivery_counts(client) == {"ok": 1, "duplicate": 1, "stale": 2, "failed": 1, "unauthorized": 2}
