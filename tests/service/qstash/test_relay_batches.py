"""The relay publishes due runs in batches: one request for many runs, each run's outcome
its own, and every run still handed to QStash once in effect."""

import asyncio
import contextlib
import socket
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import anyio
import msgspec
import pytest
import uvicorn
from psycopg_pool import AsyncConnectionPool
from qstash import AsyncQStash

from domain.kinds import KindConfig, create_job
from projections.log import Metadata
from service.app import create_app
from service.broker import BrokerConfig, Faults, create_broker
from service.jobs import demo_count
from service.jobs.command_handler import handle
from service.jobs.kinds import Kind
from service.qstash.client import qstash_client
from service.qstash.relay import Published, Relay
from service.settings import DEV_QSTASH_TOKEN, Settings
from service.store import outbox
from tests.service.broker.conftest import FAST, Destination, serve

pytestmark = pytest.mark.anyio

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
LEASE_S = 10.0
TIMEOUT_S = 5.0
PLAIN = KindConfig()
REFUSED_KIND = "refused"  # QStash refuses its runs alone: a negative Upstash-Retries

ROWS = """
SELECT stream_id, run, publish_attempts, sent_at IS NOT NULL, message_id, last_error,
       extract(epoch FROM next_attempt_at - now())::float8
  FROM outbox ORDER BY id
"""
SENT = "SELECT id, message_id FROM outbox WHERE sent_at IS NOT NULL"
ALL_DUE_NOW = "UPDATE outbox SET next_attempt_at = now() WHERE sent_at IS NULL"
HOLD_AN_HOUR = "UPDATE outbox SET delay_s = 3600"
HISTORIES = "SELECT stream_id, version, type, data::text FROM events ORDER BY stream_id, version"
JOBS_COMPLETED = "SELECT count(*) FROM job_status WHERE status = 'completed'"


@dataclass
class Counting:
    """The broker's app, counting the publishing requests it is sent."""

    app: Any
    requests: Counter[str] = field(default_factory=Counter)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == "/v2/batch":
                self.requests["batch"] += 1
            elif path.startswith("/v2/publish/"):
                self.requests["publish"] += 1
        await self.app(scope, receive, send)


@dataclass
class Broker:
    url: str
    counting: Counting
    destination: Destination
    client: AsyncQStash


@contextlib.asynccontextmanager
async def broker_serving(config: BrokerConfig) -> AsyncIterator[Broker]:
    destination = Destination()
    counting = Counting(create_broker(config))
    async with serve(destination) as destination_url, serve(counting) as url:
        destination.base_url = destination_url
        client = qstash_client(DEV_QSTASH_TOKEN, url, local_broker=False)
        try:
            yield Broker(url, counting, destination, client)
        finally:
            await client.http._client.aclose()


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    """A broker whose deliveries of runs land at a recording destination (jobtrail's stand-in)."""
    async with broker_serving(BrokerConfig(time_scale=FAST)) as running:
        yield running


def kinds(config: KindConfig = PLAIN) -> dict[str, Kind]:
    def kind(name: str, config: KindConfig) -> Kind:
        return Kind(name=name, config=config, params=demo_count.DemoCountParams, run_batch=demo_count.run_batch)

    return {"crawl": kind("crawl", config), REFUSED_KIND: kind(REFUSED_KIND, KindConfig(retries=-1))}


def relay(pool: AsyncConnectionPool, broker: Broker, config: KindConfig = PLAIN, batch_max: int = 100) -> Relay:
    return Relay(
        pool,
        broker.client,
        kinds(config),
        broker.destination.base_url,
        publish_timeout_s=TIMEOUT_S,
        lease_s=LEASE_S,
        batch_max=batch_max,
    )


async def queue_runs(pool: AsyncConnectionPool, count: int, kind: str = "crawl") -> list[UUID]:
    """New jobs: the first run of each is queued in the outbox."""
    stream_ids = [uuid4() for _ in range(count)]
    for stream_id in stream_ids:
        await handle(pool, stream_id, create_job(kind, KindConfig(), owner="ada", at=T0), Metadata(actor="ada"))
    return stream_ids


async def rows(pool: AsyncConnectionPool) -> list[tuple]:
    async with pool.connection() as conn:
        return await (await conn.execute(ROWS)).fetchall()


async def execute(pool: AsyncConnectionPool, statement: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(statement)


def delivered_runs(broker: Broker) -> Counter[tuple[str, int]]:
    runs = (msgspec.json.decode(d.body) for d in broker.destination.to("/qstash/run"))
    return Counter((run["job_id"], run["run"]) for run in runs)


async def test_many_due_runs_go_to_qstash_in_one_request_and_each_is_delivered_once(
    pool: AsyncConnectionPool, broker: Broker
) -> None:
    stream_ids = await queue_runs(pool, 30)

    assert await relay(pool, broker).publish_pending() == 30
    await broker.destination.wait_for("/qstash/run", 30)
    await asyncio.sleep(0.2)  # time for a second delivery, were there one

    assert broker.counting.requests == {"batch": 1}
    assert delivered_runs(broker) == Counter({(str(s), 1): 1 for s in stream_ids})
    found = await rows(pool)
    assert all(sent for _, _, _, sent, _, _, _ in found)
    message_ids = {message_id for *_, message_id, _, _ in found}
    assert message_ids == {d.message_id for d in broker.destination.to("/qstash/run")}
    assert len(message_ids) == 30


async def test_runs_beyond_the_batch_size_go_in_further_requests(pool: AsyncConnectionPool, broker: Broker) -> None:
    await queue_runs(pool, 7)

    assert await relay(pool, broker, batch_max=3).publish_pending() == 7

    assert broker.counting.requests == {"batch": 2, "publish": 1}  # 3 + 3 + a plain publish of the last one


async def test_a_run_in_a_batch_carries_what_it_carries_when_published_alone(
    pool: AsyncConnectionPool, broker: Broker
) -> None:
    config = KindConfig(retries=2, batch_timeout_s=12.5, parallelism=3, rate=5, period_s=2)
    alone, *batched = await queue_runs(pool, 3)
    await execute(pool, HOLD_AN_HOUR)  # QStash holds them: nothing is delivered while they are compared
    async with pool.connection() as conn:
        claimed, _ = await outbox.claim_unsent(conn, 10, LEASE_S)
    published = Published()
    await relay(pool, broker, config, batch_max=1).publish_runs(claimed[:1], published)
    await relay(pool, broker, config).publish_runs(claimed[1:], published)

    assert broker.counting.requests == {"publish": 1, "batch": 1}
    messages = [await broker.client.message.get(message_id) for message_id in published.sent.values()]
    assert [msgspec.json.decode(m.body or "")["job_id"] for m in messages] == [str(alone), *map(str, batched)]
    first = messages[0]
    for message in messages[1:]:
        assert (message.url, message.method, message.max_retries, message.failure_callback) == (
            first.url,
            first.method,
            2,
            first.failure_callback,
        )
        assert message.flow_control == first.flow_control is not None
        assert message.headers == first.headers
        assert abs(message.not_before - first.not_before) < 60_000  # each an hour ahead (ms)
    assert first.failure_callback == f"{broker.destination.base_url}/qstash/failed"


async def test_a_run_qstash_refuses_alone_is_backed_off_alone_and_the_others_are_sent(
    pool: AsyncConnectionPool, broker: Broker
) -> None:
    good = await queue_runs(pool, 2)
    [refused] = await queue_runs(pool, 1, REFUSED_KIND)
    good += await queue_runs(pool, 2)

    assert await relay(pool, broker).publish_pending() == 4
    await broker.destination.wait_for("/qstash/run", 4)

    assert broker.counting.requests == {"batch": 1}
    assert set(delivered_runs(broker)) == {(str(s), 1) for s in good}
    by_job = {row[0]: row for row in await rows(pool)}
    _, _, attempts, sent, message_id, error, wait_s = by_job[refused]
    assert (attempts, sent, message_id) == (1, False, None)
    assert error == "refused in a batch: Upstash-Retries must not be negative"
    assert 0 < wait_s <= 1.0  # the first backoff
    assert all(by_job[s][3] and by_job[s][2] == 1 and by_job[s][5] is None for s in good)

    assert await relay(pool, broker).publish_pending() == 0  # backing off: not claimed again yet
    await execute(pool, ALL_DUE_NOW)
    assert await relay(pool, broker).publish_pending() == 0  # tried alone, refused again
    assert broker.counting.requests == {"batch": 1, "publish": 1}
    _, _, attempts, sent, _, error, _ = {row[0]: row for row in await rows(pool)}[refused]
    assert (attempts, sent) == (2, False)
    assert error.startswith("QStashError") and "Upstash-Retries must not be negative" in error


async def test_a_relay_killed_between_the_batch_answer_and_marking_sent_is_repeated_after_its_lease_and_deduplicated(
    pool: AsyncConnectionPool, broker: Broker
) -> None:
    stream_ids = await queue_runs(pool, 5)
    # The relay that died: it leased the rows and QStash took the batch, but it never settled.
    async with pool.connection() as conn:
        claimed, _ = await outbox.claim_unsent(conn, 10, LEASE_S)
    died = Published()
    await relay(pool, broker).publish_runs(claimed, died)
    assert len(died.sent) == 5 and not died.failed

    survivor = relay(pool, broker)
    assert await survivor.publish_pending() == 0  # leased: not the survivor's yet
    await execute(pool, ALL_DUE_NOW)  # the lease ends
    assert await survivor.publish_pending() == 5
    await broker.destination.wait_for("/qstash/run", 5)
    await asyncio.sleep(0.2)  # time for a second delivery, were there one

    assert broker.counting.requests == {"batch": 2}
    assert delivered_runs(broker) == Counter({(str(s), 1): 1 for s in stream_ids})
    async with pool.connection() as conn:
        assert dict(await (await conn.execute(SENT)).fetchall()) == died.sent  # each with the first's message id


# --- end to end: the job loop through a broker that duplicates and shuffles ----------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def jobtrail_serving(database_url: str, broker_url: str, data_dir: Path) -> AsyncIterator[None]:
    """The service (API, deliveries, relay) on a loopback port, publishing to `broker_url`."""
    port = free_port()
    settings = Settings(
        database_url=database_url,
        data_dir=data_dir,
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        qstash_token=DEV_QSTASH_TOKEN,
        qstash_url=broker_url,
    )
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


async def test_with_duplicated_and_shuffled_deliveries_every_run_published_in_batches_is_recorded_once(
    database_url: str, pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    jobs, runs = 40, 3
    stream_ids = [uuid4() for _ in range(jobs)]
    params = {"total": runs * 5, "per_batch": 5}
    for stream_id in stream_ids:  # all queued before the relay starts: its first round has them all
        command = create_job(demo_count.NAME, demo_count.CONFIG, owner="ada", at=datetime.now(UTC), params=params)
        await handle(pool, stream_id, command, Metadata(actor="ada"))
    faults = Faults(duplicate_deliveries=True, shuffle=True)
    async with broker_serving(BrokerConfig(time_scale=0.01, faults=faults)) as broker:
        async with jobtrail_serving(database_url, broker.url, tmp_path):
            with anyio.fail_after(60):
                while await _count(pool, JOBS_COMPLETED) < jobs:
                    await asyncio.sleep(0.05)
            requests = broker.counting.requests.copy()

    assert requests["batch"] >= 1
    assert requests["batch"] + requests["publish"] <= jobs * runs - (jobs - 1)  # the first 40 runs in one request
    async with pool.connection() as conn:
        history = await (await conn.execute(HISTORIES)).fetchall()
    for stream_id in stream_ids:
        events = [(version, kind, data) for s, version, kind, data in history if s == stream_id]
        assert [version for version, _, _ in events] == list(range(1, len(events) + 1))
        recorded = [msgspec.json.decode(data)["run"] for _, kind, data in events if kind == "BatchRecorded"]
        assert recorded == list(range(1, runs + 1))
        assert events[-1][1] == "JobCompleted"
    found = await rows(pool)
    assert len(found) == jobs * runs
    assert all(sent for _, _, _, sent, _, _, _ in found)
    assert len({message_id for *_, message_id, _, _ in found}) == jobs * runs


async def _count(pool: AsyncConnectionPool, query: str) -> int:
    async with pool.connection() as conn:
        row = await (await conn.execute(query)).fetchone()
    assert row is not None
    return row[0]
