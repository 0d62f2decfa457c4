"""The Python client against a real `jobtrail serve`: every route, pages, typed problems, retries."""

import asyncio
import logging
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool

from jobtrail.client import (
    AsyncClient,
    Client,
    Conflict,
    Forbidden,
    Gone,
    InvalidRequest,
    NotFound,
    Retries,
    Unauthorized,
    WaitTimeout,
)
from service.archive.store import DirectoryStore
from service.auth.keys import Scope
from service.store.tombstones import Tombstone
from tests.archiving import archive
from tests.e2e.conftest import Running, Service, new_key, wait_for
from tests.e2e.proxy import CuttingProxy
from tests.service.api.test_database_outage import set_outage

QUICK = {"total": 100, "per_batch": 20}  # five runs
SLOW = {"total": 100_000, "per_batch": 10, "slow_ms": 300}


@pytest.fixture
def client(running: Running) -> Iterator[Client]:
    with Client(running.service.base_url, running.key, timeout=30) as jobtrail:
        yield jobtrail


def test_a_job_runs_and_every_read_route_answers_a_typed_document(client: Client) -> None:
    job = client.create("demo.count", QUICK)
    done = client.wait(job.id, timeout=60)
    history = client.events(job.id)
    at_two = client.state(job.id, version=2)
    batches = list(client.results(job.id, page_size=2))
    export = client.export(job.id).splitlines()
    assert job.status == "pending" and done.status == "completed" and done.processed_results == 100
    assert client.get(job.id) == done
    assert history.chain.ok and history.chain.events == len(history.events) == done.version
    assert history.events[0].type == "JobCreated" and history.events[-1].type == "JobCompleted"
    assert at_two.version == 2 and at_two.state.status == "processing"
    assert [batch.run for batch in batches] == [1, 2, 3, 4, 5]
    assert sum(len(batch.items) for batch in batches) == 100
    assert len(export) == done.version + 1 and b'"chain_head"' in export[-1]
    assert list(client.export_lines(job.id)) == export
    assert client.state(job.id, at=datetime.now(UTC)).version == done.version


def test_list_walks_every_page_newest_first(client: Client) -> None:
    since = datetime.now(UTC)
    made = [client.create("demo.count", {"total": 0}).id for _ in range(5)]
    listed = [job.id for job in client.list(created_after=since, page_size=2)]
    assert listed == made[::-1]
    assert [job.id for job in client.list(created_after=since, kind="no.such.kind")] == []


def test_a_create_repeated_with_its_key_makes_one_job_and_another_body_is_a_conflict(client: Client) -> None:
    key = f"order-{uuid.uuid4()}"
    first = client.create("demo.count", {"total": 0}, idempotency_key=key)
    again = client.create("demo.count", {"total": 0}, idempotency_key=key)
    with pytest.raises(Conflict) as refused:
        client.create("demo.count", {"total": 1}, idempotency_key=key)
    assert again.id == first.id
    assert refused.value.status == 409 and "Idempotency-Key" in refused.value.detail


def test_a_create_whose_answer_is_lost_is_retried_with_its_own_key_and_makes_one_job(running: Running) -> None:
    proxy = CuttingProxy(("127.0.0.1", running.service.port))
    since = datetime.now(UTC)
    try:
        with Client(proxy.url, running.key) as through_proxy:
            proxy.lose_next_answer()
            job = through_proxy.create("demo.count", {"total": 0})
    finally:
        proxy.close()
    with Client(running.service.base_url, running.key) as direct:
        created = [found.id for found in direct.list(created_after=since)]
    assert proxy.connections >= 2  # the answer was lost once, and the create asked again
    assert created == [job.id]


def test_cancel_and_retry_follow_the_lifecycle_and_a_forbidden_move_is_a_conflict_naming_the_state(
    client: Client,
) -> None:
    slow = client.create("demo.count", SLOW)
    cancelled = client.cancel(slow.id)
    assert client.cancel(slow.id).version == cancelled.version  # a second cancel changes nothing
    with pytest.raises(Conflict) as refused:
        client.retry(slow.id)
    failing = client.create("demo.count", {"total": 40, "fail_permanently_at": 1})
    failed = client.wait(failing.id, timeout=60)
    requeued = client.retry(failing.id)
    assert cancelled.status == "cancelled"
    assert refused.value.state == "cancelled"
    assert failed.status == "error" and requeued.status == "pending" and requeued.requeues == 1


def test_every_problem_is_a_typed_exception_with_its_fields(running: Running, client: Client) -> None:
    with pytest.raises(NotFound) as missing:
        client.get(uuid.uuid4())
    with pytest.raises(InvalidRequest) as unknown_kind:
        client.create("no.such.kind")
    with pytest.raises(InvalidRequest) as bad_params:
        client.create("demo.count", {"total": -1})
    with Client(running.service.base_url, "jt_nope_nope") as stranger, pytest.raises(Unauthorized):
        stranger.kinds()
    reader_key = new_key(running.database_url, Scope.JOBS_READ)
    with Client(running.service.base_url, reader_key) as reader, pytest.raises(Forbidden) as forbidden:
        reader.create("demo.count", QUICK)
    assert missing.value.status == 404 and missing.value.detail == "no such job"
    assert unknown_kind.value.status == 422 and "demo.count" in unknown_kind.value.known_kinds
    assert bad_params.value.status == 422 and "total" in bad_params.value.detail
    assert "jobs:write" in forbidden.value.detail


def test_kinds_and_stats_are_typed(client: Client) -> None:
    client.wait(client.create("demo.count", QUICK).id, timeout=60)
    kinds = {kind.name: kind for kind in client.kinds()}
    stats = client.stats(window_s=600)
    assert kinds["demo.count"].max_runs >= 1 and "total" in str(kinds["demo.count"].params_schema)
    assert stats.verdict in {"healthy", "degraded", "unhealthy"} and stats.window_s == 600
    assert stats.jobs.total >= 1 and stats.finished.total >= 1


def test_schedules_are_created_changed_fired_and_deleted(client: Client) -> None:
    schedule = client.create_schedule("demo.count", {"total": 0}, cron="0 3 * * *", time_zone="Europe/Berlin")
    changed = client.update_schedule(schedule.id, max_runs=3)
    paused = client.pause_schedule(schedule.id)
    resumed = client.resume_schedule(schedule.id)
    fired = client.trigger_schedule(schedule.id, idempotency_key="by-hand")
    fired_again = client.trigger_schedule(schedule.id, idempotency_key="by-hand")
    listed = [found.id for found in client.list_schedules(page_size=1)]
    its_jobs = [job.id for job in client.schedule_jobs(schedule.id)]
    history = client.schedule_events(schedule.id)
    export = client.schedule_export(schedule.id).splitlines()
    deleted = client.delete_schedule(schedule.id)
    assert schedule.status == "active" and len(schedule.next_fires) == 5 and schedule.time_zone == "Europe/Berlin"
    assert changed.max_runs == 3 and paused.status == "paused" and resumed.status == "active"
    assert fired.job is not None and fired_again.job is not None and fired_again.job.id == fired.job.id
    assert schedule.id in listed and its_jobs == [fired.job.id]
    assert history.chain.ok and len(export) == history.chain.events + 1
    assert deleted.status == "deleted" and client.get_schedule(schedule.id).status == "deleted"


def test_a_watch_cut_mid_stream_resumes_without_losing_or_repeating_a_status(running: Running) -> None:
    proxy = CuttingProxy(("127.0.0.1", running.service.port))
    try:
        with Client(proxy.url, running.key) as through_proxy:
            job = through_proxy.create("demo.count", {"total": 60, "per_batch": 10, "slow_ms": 150})
            versions, connections_at_cut = [], 0
            for status in through_proxy.watch(job.id):
                versions.append(status.version)
                if len(versions) == 3:
                    connections_at_cut = proxy.connections
                    proxy.cut()
    finally:
        proxy.close()
    assert proxy.connections > connections_at_cut  # the watch connected again
    assert status.status == "completed"
    assert versions == list(range(1, status.version + 1))


def test_wait_returns_the_ending_and_gives_up_after_its_timeout(client: Client) -> None:
    slow = client.create("demo.count", SLOW)
    with pytest.raises(WaitTimeout) as gave_up:
        client.wait(slow.id, timeout=1)
    client.cancel(slow.id)
    assert client.wait(slow.id, timeout=30).status == "cancelled"
    assert gave_up.value.job is None or gave_up.value.job.status in {"pending", "processing"}


@pytest.mark.anyio
async def test_the_async_client_creates_waits_and_lists(running: Running) -> None:
    since = datetime.now(UTC)
    async with AsyncClient(running.service.base_url, running.key) as jobtrail:
        job = await jobtrail.create("demo.count", QUICK)
        done = await jobtrail.wait(job.id, timeout=60)
        listed = [found.id async for found in jobtrail.list(created_after=since, page_size=1)]
        statuses = [status.version async for status in jobtrail.watch(job.id)]
        with pytest.raises(NotFound):
            await jobtrail.get(uuid.uuid4())
        slow = await jobtrail.create("demo.count", SLOW)
        with pytest.raises(WaitTimeout):
            await jobtrail.wait(slow.id, timeout=0.5)
        await jobtrail.cancel(slow.id)
    assert done.status == "completed" and listed == [job.id]
    assert statuses == list(range(1, done.version + 1))


def test_a_read_during_a_database_outage_is_retried_past_the_503_until_it_answers(
    admin_url: str, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = Service(database_url, tmp_path)
    service.env["JOBTRAIL_DATABASE_WAIT_S"] = "0.5"  # a refused connection is a 503 in half a second
    service.start()
    caplog.set_level(logging.INFO, logger="jobtrail.client")
    patient = Retries(attempts=20, budget_s=90)
    try:
        with Client(service.base_url, new_key(database_url, Scope.JOBS_WRITE, Scope.JOBS_READ), retries=patient) as c:
            job = c.create("demo.count", {"total": 0})
            set_outage(admin_url, database_url, down=True)
            try:
                with ThreadPoolExecutor(1) as pool:
                    read = pool.submit(c.get, job.id)
                    wait_for(lambda: "after 503" in caplog.text, "the client to meet a 503 and retry")
                    set_outage(admin_url, database_url, down=False)
                    answer = read.result(timeout=90)
            finally:
                set_outage(admin_url, database_url, down=False)
    finally:
        service.stop()
    assert answer.id == job.id
    assert "retrying GET /v1/jobs/" in caplog.text


def test_an_archived_job_is_gone_with_its_tombstone_and_its_export_still_comes(running: Running) -> None:
    with Client(running.service.base_url, running.key, timeout=30) as jobtrail:
        job = jobtrail.create("demo.count", QUICK)
        jobtrail.wait(job.id, timeout=60)
        exported = jobtrail.export(job.id)

        stone = asyncio.run(_archive(running, uuid.UUID(str(job.id))))
        with pytest.raises(Gone) as gone:
            jobtrail.get(job.id)

        assert gone.value.status == 410
        assert gone.value.tombstone is not None
        assert (gone.value.tombstone.status, gone.value.tombstone.events) == ("completed", stone.events)
        assert gone.value.tombstone.chain_head == stone.chain_head.hex()
        assert jobtrail.export(job.id) == exported


async def _archive(running: Running, job_id: uuid.UUID) -> Tombstone:
    store = DirectoryStore(running.service.data_dir / "archive")
    async with AsyncConnectionPool(running.database_url, open=False) as pool:
        return await archive(pool, store, job_id)
