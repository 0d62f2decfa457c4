"""Late QStash traffic for an archived job: a run, a failure callback or a sweep is a 200
no-op, recorded in the inbox and logged at info, never an error that QStash would retry."""

import base64
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from domain.commands import Cancel, TimeOut
from domain.kinds import KindConfig, create_job
from projections.log import Metadata
from service.archive.store import DirectoryStore
from service.jobs.command_handler import handle
from service.jobs.observers import STANDALONE
from service.qstash import sweeper
from tests.archiving import archive
from tests.service.qstash.test_replayed_tokens import run_body, signed
from tests.service.qstash.test_signatures import count_rows

pytestmark = pytest.mark.anyio


async def archived_job(pool, tmp_path: Path) -> uuid.UUID:
    job_id, at = uuid.uuid4(), datetime.now(UTC)
    await handle(pool, job_id, create_job("demo.count", KindConfig(), owner="acme", at=at), Metadata())
    await handle(pool, job_id, Cancel(at=at, reason="done with it"), Metadata())
    await archive(pool, DirectoryStore(tmp_path / "archive"), job_id)
    return job_id


async def recorded(pool, message_id: str) -> tuple | None:
    async with pool.connection() as conn:
        query = "SELECT stream_id, outcome, status_code FROM inbox WHERE message_id = %s"
        return await (await conn.execute(query, (message_id,))).fetchone()


@pytest.fixture
def delivery_log(caplog: pytest.LogCaptureFixture):
    delivery = logging.getLogger("jobtrail.delivery")
    propagate, delivery.propagate = delivery.propagate, True
    with caplog.at_level(logging.INFO, logger="jobtrail.delivery"):
        yield caplog
    delivery.propagate = propagate


async def test_a_late_run_of_an_archived_job_is_a_recorded_200_no_op_logged_at_info(
    client, pool, tmp_path, delivery_log
):
    job_id = await archived_job(pool, tmp_path)
    body = run_body(job_id)
    events_before, _ = await count_rows(pool)

    late = await client.post("/qstash/run", content=body, headers=signed("/qstash/run", body, "msg_late"))
    again = await client.post("/qstash/run", content=body, headers=signed("/qstash/run", body, "msg_late", 1))

    assert (late.status_code, late.json()) == (200, {"outcome": "archived"})
    assert (again.status_code, again.json()) == (200, {"outcome": "archived", "duplicate": True})
    assert await recorded(pool, "msg_late") == (job_id, "archived", 200)
    assert (await count_rows(pool))[0] == events_before == 0
    archived_lines = [r for r in delivery_log.records if "archived" in r.getMessage()]
    assert [r.levelno for r in archived_lines] == [logging.INFO]


async def test_a_failure_callback_for_an_archived_job_is_a_recorded_200_no_op(client, pool, tmp_path):
    job_id = await archived_job(pool, tmp_path)
    body = msgspec.json.encode({"sourceBody": base64.b64encode(run_body(job_id)).decode(), "status": 500})

    answer = await client.post("/qstash/failed", content=body, headers=signed("/qstash/failed", body, "msg_gave_up"))

    assert (answer.status_code, answer.json()) == (200, {"outcome": "archived"})
    assert await recorded(pool, "msg_gave_up") == (job_id, "archived", 200)
    assert (await count_rows(pool))[0] == 0


async def test_a_run_for_a_job_that_never_existed_is_still_unknown(client, pool):
    body = run_body(uuid.uuid4())

    answer = await client.post("/qstash/run", content=body, headers=signed("/qstash/run", body, "msg_stray"))

    assert (answer.status_code, answer.json()["outcome"]) == (200, "unknown_job")


async def test_a_sweep_acting_on_a_job_archived_since_it_was_listed_skips_it_and_goes_on(pool, tmp_path):
    gone = await archived_job(pool, tmp_path)
    overdue, at = uuid.uuid4(), datetime.now(UTC)
    command = create_job("demo.count", KindConfig(deadline_s=0.001), owner="acme", at=at)
    await handle(pool, overdue, command, Metadata())
    later = TimeOut(at=datetime.now(UTC), detected_by="sweeper")

    acted = [await sweeper.act(pool, job_id, later, STANDALONE) for job_id in (gone, overdue)]

    assert acted == [False, True]
