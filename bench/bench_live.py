"""Live streams: what the NOTIFY trigger costs an append, and how soon a watcher hears.

1. Commands/s of `service.commands.handle` (RecordBatch: two events, status upsert,
   outbox row) at 4 concurrent streams, with the `events_notify` trigger enabled and
   disabled in turn (two rounds each, same database).
2. Latency from the start of an append to the moment a watch of that job yields the new
   version, in-process (EventFeed + `job_versions`, no HTTP), with 200 idle watches of
   other jobs and 0 or 20 global log streams reading every event.
"""

import argparse
import asyncio
import json
import statistics
import time
import uuid
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool
from scratch import ratio_line, scratch_database

from domain.commands import RecordBatch, StartRun
from domain.job import fold
from domain.kinds import KindConfig, create_job
from domain.state import INITIAL
from projections.log import Metadata, read_stream
from service.commands import handle
from service.event_feed import EventFeed
from service.live_streams import START, Idle, LogFilter, job_versions, log_events

KIND = KindConfig(max_runs=1_000_000, deadline_s=None)
METADATA = Metadata(actor="bench")
CONCURRENCY = 4
IDLE_WATCHES = 200
GOAL_TRIGGER_COST = 0.9  # appends/s with the trigger over without it
TOGGLE = "ALTER TABLE events {} TRIGGER events_notify"


async def _job(pool: AsyncConnectionPool) -> uuid.UUID:
    stream_id = uuid.uuid4()
    now = datetime.now(UTC)
    await handle(pool, stream_id, create_job("bench", KIND, owner="bench", at=now), METADATA)
    await handle(pool, stream_id, StartRun(at=now, run=1), METADATA)
    return stream_id


def _batch(run: int) -> RecordBatch:
    return RecordBatch(at=datetime.now(UTC), run=run, results=20, has_more=True, cursor=f"c{run}", duration_ms=1)


async def _appends_per_s(pool: AsyncConnectionPool, seconds: float) -> float:
    counts = [0]

    async def worker(deadline: float) -> None:
        stream_id, run = await _job(pool), 1
        while time.perf_counter() < deadline:
            await handle(pool, stream_id, _batch(run), METADATA)
            counts[0] += 1
            run += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(started + seconds) for _ in range(CONCURRENCY)))
    return counts[0] / (time.perf_counter() - started)


async def trigger_cost(url: str, seconds: float) -> tuple[float, float]:
    pool = AsyncConnectionPool(url, min_size=CONCURRENCY, max_size=CONCURRENCY, kwargs={"autocommit": True}, open=False)
    await pool.open(wait=True)
    rates: dict[str, list[float]] = {"ENABLE": [], "DISABLE": []}
    try:
        for _ in range(2):
            for mode in rates:
                async with pool.connection() as conn:
                    await conn.execute(TOGGLE.format(mode))
                rates[mode].append(await _appends_per_s(pool, seconds))
        async with pool.connection() as conn:
            await conn.execute(TOGGLE.format("ENABLE"))
    finally:
        await pool.close()
    return statistics.mean(rates["ENABLE"]), statistics.mean(rates["DISABLE"])


async def _drain(stream) -> None:
    async for _ in stream:
        pass


async def watch_latency(url: str, global_streams: int, appends: int) -> tuple[list[float], list[float]]:
    """(append → watch yields, append alone), in ms, for `appends` consecutive batches."""
    pool = AsyncConnectionPool(url, min_size=4, max_size=16, kwargs={"autocommit": True}, open=False)
    await pool.open(wait=True)
    feed = EventFeed(url)
    await feed.start()
    tasks: list[asyncio.Task] = []
    try:
        stream_id = await _job(pool)
        async with pool.connection() as conn:
            state = fold(e.event for e in await read_stream(conn, stream_id))
        seen: asyncio.Queue[float] = asyncio.Queue()

        async def watch() -> None:
            async for update in job_versions(feed, pool, stream_id, state, [], 60):
                if not isinstance(update, Idle):
                    seen.put_nowait(time.perf_counter())

        tasks.append(asyncio.create_task(watch()))
        tasks += [
            asyncio.create_task(_drain(job_versions(feed, pool, uuid.uuid4(), INITIAL, [], 60)))
            for _ in range(IDLE_WATCHES)
        ]
        tasks += [
            asyncio.create_task(_drain(log_events(feed, pool, START, LogFilter(), 60))) for _ in range(global_streams)
        ]
        await asyncio.sleep(0.5)  # every stream subscribed and waiting
        heard, appended = [], []
        for run in range(1, appends + 1):
            started = time.perf_counter()
            await handle(pool, stream_id, _batch(run), METADATA)
            appended.append((time.perf_counter() - started) * 1000)
            for _ in range(2):  # BatchRecorded + ContinuationScheduled
                last = await asyncio.wait_for(seen.get(), 10)
            heard.append((last - started) * 1000)
        return heard, appended
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await feed.close()
        await pool.close()


def _p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s per throughput cell instead of 5 s, 50 appends")
    args = parser.parse_args()
    seconds, appends = (2.0, 50) if args.quick else (5.0, 200)
    summary: dict[str, object] = {"bench": "live"}
    with scratch_database("live") as url:
        with_trigger, without = asyncio.run(trigger_cost(url, seconds))
        print(f"commands/s at {CONCURRENCY} streams: with the notify trigger {with_trigger:.0f}, without {without:.0f}")
        for global_streams in (0, 20):
            heard, appended = asyncio.run(watch_latency(url, global_streams, appends))
            print(
                f"append → watch yields, {IDLE_WATCHES} idle watches + {global_streams} global streams: "
                f"median {statistics.median(heard):.2f} ms, p95 {_p(heard, 0.95):.2f} ms "
                f"(the append alone: median {statistics.median(appended):.2f} ms)"
            )
            summary[f"watch_median_ms_{global_streams}_global"] = round(statistics.median(heard), 2)
            summary[f"watch_p95_ms_{global_streams}_global"] = round(_p(heard, 0.95), 2)
    cost = with_trigger / without
    print("\nratios")
    print(ratio_line("with trigger/without", cost, GOAL_TRIGGER_COST))
    summary.update(
        trigger_ratio=round(cost, 2), goal_trigger_ratio=GOAL_TRIGGER_COST, goal_met=cost >= GOAL_TRIGGER_COST
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
