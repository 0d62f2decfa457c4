"""Live streams: why appends wake watchers after their commit, and how soon a watcher hears.

1. Commands/s of `service.jobs.command_handler.handle` (RecordBatch: two events, status upsert,
   outbox row; the store wakes watchers after the commit) at 8 concurrent streams,
   beside the same with a NOTIFY *inside* each append's transaction too (a trigger this
   bench adds to its scratch database, enabled and disabled in turn, two rounds each):
   what a notifying trigger on `events` would cost.
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

from databases import scratch_database
from psycopg_pool import AsyncConnectionPool
from ratios import ratio_line

from domain.commands import RecordBatch, StartRun
from domain.job import fold
from domain.kinds import KindConfig, create_job
from domain.state import INITIAL
from projections.log import Metadata, job_event, read_stream
from service.jobs.command_handler import handle
from service.live.event_feed import EventFeed
from service.live.streams import START, Idle, LogFilter, job_versions, log_events

KIND = KindConfig(max_runs=1_000_000, deadline_s=None)
METADATA = Metadata(actor="bench")
CONCURRENCY = 8
IDLE_WATCHES = 200
GOAL_AFTER_COMMIT = 1.0  # appends/s waking after the commit over also notifying inside it
NOTIFY_INSIDE = """
CREATE FUNCTION bench_notify_inside() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jobtrail_events', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER bench_notify_inside AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION bench_notify_inside();
"""
TOGGLE = "ALTER TABLE events {} TRIGGER bench_notify_inside"


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


async def notify_inside_cost(url: str, seconds: float) -> tuple[float, float]:
    """(commands/s as the store is, commands/s with a NOTIFY inside every append too)."""
    pool = AsyncConnectionPool(url, min_size=CONCURRENCY, max_size=CONCURRENCY, kwargs={"autocommit": True}, open=False)
    await pool.open(wait=True)
    rates: dict[str, list[float]] = {"ENABLE": [], "DISABLE": []}
    try:
        async with pool.connection() as conn:
            await conn.execute(NOTIFY_INSIDE)
        for _ in range(2):
            for mode in rates:
                async with pool.connection() as conn:
                    await conn.execute(TOGGLE.format(mode))
                rates[mode].append(await _appends_per_s(pool, seconds))
        async with pool.connection() as conn:
            await conn.execute("DROP TRIGGER bench_notify_inside ON events")
    finally:
        await pool.close()
    return statistics.mean(rates["DISABLE"]), statistics.mean(rates["ENABLE"])


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
            state = fold(map(job_event, await read_stream(conn, stream_id)))
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
        after_commit, inside = asyncio.run(notify_inside_cost(url, seconds))
        print(
            f"commands/s at {CONCURRENCY} streams: waking after the commit {after_commit:.0f}, "
            f"with a NOTIFY inside the append's transaction too {inside:.0f}"
        )
        for global_streams in (0, 20):
            heard, appended = asyncio.run(watch_latency(url, global_streams, appends))
            print(
                f"append → watch yields, {IDLE_WATCHES} idle watches + {global_streams} global streams: "
                f"median {statistics.median(heard):.2f} ms, p95 {_p(heard, 0.95):.2f} ms "
                f"(the append alone: median {statistics.median(appended):.2f} ms)"
            )
            summary[f"watch_median_ms_{global_streams}_global"] = round(statistics.median(heard), 2)
            summary[f"watch_p95_ms_{global_streams}_global"] = round(_p(heard, 0.95), 2)
    ratio = after_commit / inside
    print("\nratios")
    print(ratio_line("after commit/inside", ratio, GOAL_AFTER_COMMIT))
    summary.update(after_commit_ratio=round(ratio, 2), goal=GOAL_AFTER_COMMIT, goal_met=ratio >= GOAL_AFTER_COMMIT)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
