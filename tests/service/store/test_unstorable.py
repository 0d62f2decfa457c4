"""NUL (U+0000) cannot be stored by PostgreSQL: it is refused up front, never half-written."""

import uuid
from datetime import UTC, datetime

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from domain.commands import RecordBatch, StartRun
from domain.kinds import KindConfig, create_job
from projections.log import Metadata
from service.app import create_app
from service.auth.keys import create_key
from service.jobs.batch import Batch
from service.jobs.command_handler import handle
from service.jobs.kinds import Kind
from service.jobs.observers import STANDALONE
from service.qstash.delivery import deliver_run
from service.settings import Settings
from service.store.event_store import UnstorableValue


async def counts(pool) -> tuple:
    async with pool.connection() as conn:
        query = "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM job_status), (SELECT count(*) FROM inbox)"
        return await (await conn.execute(query)).fetchone()


async def running_job(pool) -> uuid.UUID:
    stream_id, now = uuid.uuid4(), datetime.now(UTC)
    await handle(pool, stream_id, create_job("nul.source", KindConfig(), owner="o", at=now), Metadata())
    await handle(pool, stream_id, StartRun(at=now, run=1), Metadata())
    return stream_id


@pytest.mark.anyio
async def test_an_append_carrying_nul_is_refused_and_writes_nothing(pool):
    stream_id = await running_job(pool)
    before = await counts(pool)
    batch = RecordBatch(at=datetime.now(UTC), run=1, results=1, has_more=True, cursor="a\x00b")
    with pytest.raises(UnstorableValue):
        await handle(pool, stream_id, batch, Metadata())
    assert await counts(pool) == before


@pytest.mark.anyio
async def test_a_backslash_followed_by_u0000_is_ordinary_text_and_is_stored(pool):
    stream_id = await running_job(pool)
    batch = RecordBatch(at=datetime.now(UTC), run=1, results=1, has_more=True, cursor="C:\\u0000dir")
    handled = await handle(pool, stream_id, batch, Metadata())
    assert handled.state.cursor == "C:\\u0000dir"


@pytest.mark.anyio
@pytest.mark.parametrize("item", ["x\x00y", "x\ud800y"], ids=["nul", "lone-surrogate"])
async def test_a_handler_whose_output_cannot_be_stored_fails_the_job_permanently(pool, item):
    async def run_batch(job, cursor):
        return Batch(items=[item], next_cursor="1", has_more=True)

    kind = Kind(name="nul.source", config=KindConfig(), params=msgspec.Struct, run_batch=run_batch)
    stream_id = await running_job(pool)
    kinds = {kind.name: kind}
    answer = await deliver_run(pool, kinds, STANDALONE, message_id="msg_nul", retried=0, job_id=stream_id, run=1)
    assert (answer.status, answer.outcome) == (200, "failed_permanently")
    async with pool.connection() as conn:
        status, outcome = await (
            await conn.execute("SELECT status, outcome FROM job_status WHERE stream_id = %s", [stream_id])
        ).fetchone()
    assert (status, outcome) == ("error", "permanent_error")


class TextParams(msgspec.Struct, forbid_unknown_fields=True):
    query: str


@pytest.mark.anyio
async def test_a_request_whose_params_hold_nul_gets_a_422_and_changes_nothing(pool, database_url, tmp_path):
    async def never_runs(job, cursor):
        raise AssertionError("no delivery in this test")

    kind = Kind(name="text.search", config=KindConfig(), params=TextParams, run_batch=never_runs)
    async with pool.connection() as conn:
        key = await create_key(conn, "acme")
    app = create_app(Settings(database_url=database_url, data_dir=tmp_path), kinds={kind.name: kind}, deliveries=False)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with AsyncTestClient(app=app) as client:
        before = await counts(pool)
        refused = await client.post(
            "/v1/jobs", content=b'{"kind": "text.search", "params": {"query": "a\\u0000b"}}', headers=headers
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "NUL" in refused.json()["detail"]
        assert await counts(pool) == before
        accepted = await client.post(
            "/v1/jobs", json={"kind": "text.search", "params": {"query": "ab"}}, headers=headers
        )
        assert accepted.status_code == 201
