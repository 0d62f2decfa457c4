"""What a job's page shows beyond its status: times, params, results, the export, its
notifications, the key's scopes, and values written as JSON."""

import uuid
from datetime import UTC, datetime

import pytest
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from domain.commands import RecordBatch, StartRun
from projections.log import Metadata
from service.jobs.command_handler import handle
from service.store.event_store import BatchItems
from tests.service.dashboard.conftest import Keys, create, sign_in

pytestmark = pytest.mark.anyio

FAILED_NOTIFICATION = """
INSERT INTO notifications (webhook_id, stream_id, owner, url, signed_with, body, attempts, last_status,
                           sent_at, failed_at, dlq_id)
VALUES ('msg_1', %(stream_id)s, 'acme', 'https://hooks.example.com/jobs', 'owner', '{}', 3, 500,
        now(), now(), 'dlq-42')
"""


async def test_the_page_shows_times_params_results_values_as_json_and_every_scope(
    browser: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    job = (await create(browser, keys.acme, {"kind": "demo.count", "params": {"total": 30, "per_batch": 10}}))["id"]
    at, meta = datetime.now(UTC), Metadata(actor="test")
    await handle(pool, uuid.UUID(job), StartRun(at=at, run=1), meta)
    batch = RecordBatch(at=at, run=1, results=2, has_more=True, cursor="c1")
    await handle(pool, uuid.UUID(job), batch, meta, results=BatchItems(run=1, items=[{"n": 1}, {"n": 2}]))
    await sign_in(browser, keys.acme)

    page = (await browser.get(f"/jobs/{job}")).text

    assert "<b>has_more</b>: <code>true</code>" in page and "has_more=True" not in page
    assert "<b>cursor</b>: <code>&#34;c1&#34;</code>" in page
    assert '"total": 30' in page.replace("&#34;", '"')  # params, as JSON
    assert '{"n": 1}' in page.replace("&#34;", '"')  # the first run's items
    assert f"{at:%Y-%m-%d} " in page and " UTC" in page
    assert 'data-time="started"' in page and 'data-time="deadline"' in page and "running for" in page
    assert 'data-scope="jobs:read"' in page and 'data-scope="jobs:write"' in page
    assert f'href="/jobs/{job}/export"' in page


async def test_the_export_link_downloads_the_history_for_the_signed_in_viewer_only(
    browser: AsyncTestClient, keys: Keys
) -> None:
    job = (await create(browser, keys.acme))["id"]
    await sign_in(browser, keys.acme)

    export = await browser.get(f"/jobs/{job}/export")

    assert export.status_code == 200 and export.headers["content-type"].startswith("application/x-ndjson")
    assert job in export.text and "JobCreated" in export.text
    await sign_in(browser, keys.globex)
    assert (await browser.get(f"/jobs/{job}/export")).status_code == 404


async def test_the_page_shows_the_jobs_notifications_and_one_that_ended_in_the_dlq(
    browser: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    job = (await create(browser, keys.acme))["id"]
    async with pool.connection() as conn:
        await conn.execute(FAILED_NOTIFICATION, {"stream_id": job})
    await sign_in(browser, keys.acme)

    page = (await browser.get(f"/jobs/{job}")).text

    assert 'data-notification="msg_1"' in page and "https://hooks.example.com/jobs" in page
    assert 'data-status="failed"' in page and "dlq-42" in page and "<td>3</td>" in page


async def test_an_error_page_keeps_the_signed_in_header(browser: AsyncTestClient, keys: Keys) -> None:
    await sign_in(browser, keys.auditor)

    page = await browser.get(f"/jobs/{uuid.uuid4()}")

    assert page.status_code == 404 and "No such job" in page.text
    assert "signed in as <strong>audit</strong>" in page.text and 'data-scope="audit:read"' in page.text
    assert "Sign out" in page.text


async def test_a_job_of_unknown_size_shows_runs_and_results_and_one_that_reported_its_total_a_percentage(
    browser: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    at, meta = datetime.now(UTC), Metadata(actor="test")
    jobs = {}
    for total in (None, 200):
        job = (await create(browser, keys.acme, {"kind": "demo.count", "params": {"total": 200}}))["id"]
        await handle(pool, uuid.UUID(job), StartRun(at=at, run=1), meta)
        await handle(pool, uuid.UUID(job), RecordBatch(at=at, run=1, results=20, has_more=True, total=total), meta)
        jobs[total] = job
    await sign_in(browser, keys.acme)

    unknown, sized = [(await browser.get(f"/jobs/{jobs[total]}")).text for total in (None, 200)]
    listed = (await browser.get("/jobs")).text

    assert "<progress" not in unknown and "1 run, 20 results" in unknown and 'data-progress="unknown"' in unknown
    assert '<progress max="100" value="10.0">' in sized and "20 / 200 expected" in sized
    assert listed.count('data-progress="unknown"') == 1 and '<progress max="100" value="10.0">' in listed
