"""A kind's flow control, end to end: two service instances (one database, one relay each)
publish runs through the local broker, which paces their deliveries per flow-control key.

The two instances share this test's process (a test kind cannot reach a `jobtrail serve`
subprocess), each with its own pool, relay and HTTP server; every run is measured inside
the kind's handler, whichever instance it lands on.
"""

import asyncio
import contextlib
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import anyio
import msgspec
import pytest
import uvicorn
from litestar import Litestar
from psycopg_pool import AsyncConnectionPool
from qstash import AsyncQStash

from domain.kinds import KindConfig, create_job
from projections.log import Metadata
from service.app import create_app
from service.broker import BrokerConfig, create_broker
from service.jobs.batch import Batch, BatchContext
from service.jobs.command_handler import handle
from service.jobs.kinds import Kind
from service.qstash.flow_control import flow_control_key
from service.settings import DEV_QSTASH_TOKEN, Settings
from tests.service.broker.conftest import serve

pytestmark = pytest.mark.anyio

KIND = "paced.fetch"
COMPLETED = "SELECT count(*) FROM job_status WHERE kind = %(kind)s AND status = 'completed' AND owner LIKE %(owner)s"


@dataclass
class Gauge:
    """The kind's handler: counts the batches running at once and when each one started."""

    hold_s: float = 0.0
    in_flight: int = 0
    most_in_flight: int = 0
    starts: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, owner)
    by_instance: Counter[int] = field(default_factory=Counter)

    def handler(self, instance: int) -> Callable:
        async def run_batch(context: BatchContext, cursor: str | None) -> Batch:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.starts.append((time.monotonic(), context.params["owner"]))
            self.by_instance[instance] += 1
            try:
                await asyncio.sleep(self.hold_s)
            finally:
                self.in_flight -= 1
            return Batch(items=[1], next_cursor=None, has_more=False)

        return run_batch

    def started_by(self, owner: str) -> int:
        return sum(who == owner for _, who in self.starts)


@dataclass
class Cluster:
    pool: AsyncConnectionPool
    broker: AsyncQStash
    gauge: Gauge
    config: KindConfig

    async def create(self, owner: str, count: int = 1) -> None:
        for _ in range(count):
            command = create_job(
                KIND, self.config, owner=owner, at=datetime.now(UTC), params={"owner": owner}, max_runs=1
            )
            await handle(self.pool, uuid.uuid4(), command, Metadata(actor=owner))

    async def completed(self, owner: str = "%") -> int:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(COMPLETED, {"kind": KIND, "owner": owner})).fetchone()
        assert row is not None
        return row[0]

    async def until(self, condition: Callable, what: str, timeout: float = 60.0) -> None:
        with anyio.fail_after(timeout):
            while not await condition():
                await asyncio.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(app: Litestar, port: int) -> AsyncIterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="warning"))
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


@contextlib.asynccontextmanager
async def cluster(
    config: KindConfig, database_url: str, pool: AsyncConnectionPool, tmp_path: Path, hold_s: float = 0.0
) -> AsyncIterator[Cluster]:
    gauge = Gauge(hold_s=hold_s)
    async with contextlib.AsyncExitStack() as stack:
        broker_url = await stack.enter_async_context(serve(create_broker(BrokerConfig(time_scale=0.01))))
        for instance in range(2):
            port = free_port()
            kind = Kind(name=KIND, config=config, params=msgspec.Struct, run_batch=gauge.handler(instance))
            settings = Settings(
                database_url=database_url,
                data_dir=tmp_path / f"instance-{instance}",
                port=port,
                public_url=f"http://127.0.0.1:{port}",
                qstash_token=DEV_QSTASH_TOKEN,
                qstash_url=broker_url,
            )
            await stack.enter_async_context(serving(create_app(settings, kinds={KIND: kind}), port))
        broker = AsyncQStash(DEV_QSTASH_TOKEN, retry=False, base_url=broker_url)
        stack.push_async_callback(broker.http._client.aclose)
        yield Cluster(pool, broker, gauge, config)


async def test_a_kind_of_parallelism_two_never_runs_more_than_two_batches_at_once(
    database_url: str, pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    config = KindConfig(parallelism=2)
    async with cluster(config, database_url, pool, tmp_path, hold_s=0.05) as jobs:
        await jobs.create("acme", 20)
        await jobs.until(lambda: _equals(jobs.completed(), 20), "20 jobs completed")

    assert len(jobs.gauge.starts) == 20
    assert jobs.gauge.most_in_flight == 2


async def test_a_rate_of_five_a_second_holds_over_ten_seconds(
    database_url: str, pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    """Starts are counted in 1 s windows from the first. The broker's rate periods are at
    least 1 s long and never overlap, so k consecutive windows hold at most (k + 1) · 5
    starts (a stretch of k seconds meets at most k + 1 periods), as long as delivery
    latency varies by less than a second."""
    rate = 5
    config = KindConfig(rate=rate, period_s=1)
    async with cluster(config, database_url, pool, tmp_path) as jobs:
        await jobs.create("acme", 50)
        await jobs.until(lambda: _equals(jobs.completed(), 50), "50 jobs completed")

    first = jobs.gauge.starts[0][0]
    per_window = Counter(int(started - first) for started, _ in jobs.gauge.starts)
    windows = [per_window[second] for second in range(max(per_window) + 1)]
    assert sum(windows) == 50
    for k in range(1, len(windows) + 1):
        for start in range(len(windows) - k + 1):
            assert sum(windows[start : start + k]) <= rate * (k + 1), windows
    assert len(windows) >= 9  # 50 starts at 5 a period need 10 periods


async def test_owner_scoped_keys_let_one_tenants_job_run_while_another_has_a_backlog(
    database_url: str, pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    config = KindConfig(parallelism=1, flow_scope="owner")
    async with cluster(config, database_url, pool, tmp_path, hold_s=0.2) as jobs:
        await jobs.create("bulk", 200)
        await jobs.create("solo")
        await jobs.until(lambda: _equals(jobs.completed("solo"), 1), "the solo job completed")
        bulk_done = await jobs.completed("bulk")
        solo_key = flow_control_key(KIND, config, "solo")
        bulk_waiting = (await jobs.broker.flow_control.get(flow_control_key(KIND, config, "bulk"))).wait_list_size

    # At one batch at a time, 0.2 s each, bulk had finished few of its 200 when solo's ran.
    assert bulk_done < 100
    assert bulk_waiting > 0
    assert "solo" not in solo_key and solo_key.startswith(f"jobtrail.{KIND}.")
    assert jobs.gauge.most_in_flight <= 2  # one per tenant


async def test_pausing_a_kinds_key_holds_its_runs_and_resuming_releases_them(
    database_url: str, pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    config = KindConfig(parallelism=5)
    key = flow_control_key(KIND, config, "acme")
    async with cluster(config, database_url, pool, tmp_path) as jobs:
        await jobs.broker.flow_control.pause(key)
        await jobs.create("acme", 5)

        async def all_waiting() -> bool:
            return (await jobs.broker.flow_control.get(key)).wait_list_size == 5

        await jobs.until(all_waiting, "five runs in the waitlist")
        held = len(jobs.gauge.starts)
        await jobs.broker.flow_control.resume(key)
        await jobs.until(lambda: _equals(jobs.completed(), 5), "5 jobs completed")

    assert key == f"jobtrail.{KIND}"
    assert held == 0
    assert len(jobs.gauge.starts) == 5


async def _equals(count: Awaitable[int], expected: int) -> bool:
    return await count == expected
