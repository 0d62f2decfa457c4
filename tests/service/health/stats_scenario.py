"""A known history for the statistics tests: ten jobs, driven through `handle` with set times.

acme runs `demo.count`: four jobs complete after 10, 20, 30 and 40 s, one fails while
processing, one times out, one is stuck in processing (no progress for 30 minutes).
globex runs `crawl`: two jobs complete after 60 and 120 s, one fails while pending.
Everything happened within the last hour, so the default window holds all of it.
"""

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from domain.commands import AnyCommand, CreateJob, FailJob, RecordBatch, StartRun, TimeOut
from projections.log import Metadata
from projections.runner import catch_up
from projections.stats import StatsProjection
from service.health import stats
from service.jobs.command_handler import handle
from service.jobs.observers import STANDALONE, Observers

ACTOR = Metadata(actor="scenario")
BATCH_MS = 250


@dataclass
class Scenario:
    start: datetime
    jobs: dict[str, UUID] = field(default_factory=dict)
    appends: int = 0  # commands that appended events


async def run_scenario(pool: AsyncConnectionPool, observers: Observers = STANDALONE) -> Scenario:
    """The ten jobs, each command's commit told to `observers` (say, an app's metrics)."""
    scenario = Scenario(start=datetime.now(UTC) - timedelta(minutes=50))
    t = scenario.start

    async def do(name: str, command: AnyCommand) -> None:
        handled = await handle(pool, scenario.jobs[name], command, ACTOR, observers=observers)
        scenario.appends += bool(handled.events)

    async def create(name: str, owner: str, kind: str, at: datetime, deadline: datetime | None = None) -> None:
        scenario.jobs[name] = uuid4()
        await do(name, CreateJob(at=at, owner=owner, kind=kind, max_runs=5, max_requeues=1, deadline=deadline))

    async def complete(name: str, owner: str, kind: str, at: datetime, after_s: int) -> None:
        await create(name, owner, kind, at)
        await do(name, StartRun(at=at + timedelta(seconds=1), run=1))
        done = RecordBatch(at=at + timedelta(seconds=after_s), run=1, results=3, has_more=False, duration_ms=BATCH_MS)
        await do(name, done)

    for i, after_s in enumerate((10, 20, 30, 40)):
        await complete(f"count-{after_s}s", "acme", "demo.count", t + timedelta(minutes=i), after_s)
    for i, after_s in enumerate((60, 120)):
        await complete(f"crawl-{after_s}s", "globex", "crawl", t + timedelta(minutes=i), after_s)

    await create("count-error", "acme", "demo.count", t)
    await do("count-error", StartRun(at=t + timedelta(seconds=1), run=1))
    await do("count-error", FailJob(at=t + timedelta(seconds=5), reason="permanent_error", error="boom"))

    await create("crawl-error", "globex", "crawl", t)
    await do("crawl-error", FailJob(at=t + timedelta(seconds=7), reason="retries_exhausted"))

    deadline = t + timedelta(minutes=5)
    await create("count-timeout", "acme", "demo.count", t, deadline=deadline)
    await do("count-timeout", StartRun(at=t + timedelta(seconds=1), run=1))
    await do("count-timeout", TimeOut(at=deadline + timedelta(seconds=1)))

    stuck_since = datetime.now(UTC) - timedelta(minutes=30)
    await create("count-stuck", "acme", "demo.count", stuck_since - timedelta(seconds=5))
    await do("count-stuck", StartRun(at=stuck_since, run=1))
    return scenario


async def project(conn: AsyncConnection, patience_s: float = 120) -> None:
    """Catch the stats view up with everything committed so far.

    The runner reads only below the oldest transaction still open in the whole cluster,
    which other tests' databases (and benches) share, so one catch-up may stop short: go
    on until the view's lag says nothing is left."""
    give_up = time.monotonic() + patience_s
    while time.monotonic() < give_up:
        await catch_up(conn, StatsProjection())
        if (await stats.lag(conn)).events == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the stats view never caught up with the log")
