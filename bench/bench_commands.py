"""Command throughput: jobtrail's `handle` against a bare psycopg append and `eventsourcing`.

Each of N concurrent workers drives its own stream for a fixed time; a command counts
once when it appends. All three run in this process, against the same server, in one
freshly migrated database.

- jobtrail: `service.jobs.command_handler.handle` as `jobtrail serve` runs it — load the
  status snapshot, decide, append two events (BatchRecorded + ContinuationScheduled) with
  the status upsert and an outbox row in one statement, through the process's group commit,
  other processes told by the event feed's coalesced NOTIFY (the observers `create_app`
  hands `handle`). Asyncio tasks on one pool.
- bare: `async with conn.transaction()`: INSERT one event row, upsert one status row
  (BEGIN, INSERT, INSERT … ON CONFLICT, COMMIT). Asyncio tasks on one pool.
- eventsourcing: `repository.get` + a command method (one event) + `app.save`, with N
  threads (the library is synchronous). No snapshotting: each worker starts a fresh
  aggregate every 50 commands, so a `get` replays at most 50 events.
"""

import argparse
import asyncio
import contextlib
import importlib.resources
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from bare import CREATE_BARE_TABLES, INSERT_BARE_EVENT, UPSERT_BARE_STATUS
from databases import scratch_database
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from ratios import ratio_line

from domain.commands import RecordBatch, StartRun
from domain.kinds import KindConfig, create_job
from projections.log import Metadata
from service.jobs.command_handler import handle
from service.jobs.observers import Observers
from service.live.event_feed import EventFeed
from service.store.group_commit import GroupCommit

CONCURRENCY = (1, 4, 8)
GOAL_VS_EVENTSOURCING = 2.0
KIND = KindConfig(max_runs=100_000, deadline_s=None)
METADATA = Metadata(actor="bench")
ES_AGGREGATE_LENGTH = 50


json_encoder = msgspec.json.Encoder()


def _jsonb(value: object) -> Jsonb:
    return Jsonb(value, dumps=lambda v: json_encoder.encode(v).decode())


# --- jobtrail -------------------------------------------------------------------------


Worker = Callable[[AsyncConnectionPool, Observers, float, list[int]], Awaitable[None]]


@contextlib.asynccontextmanager
async def _as_served(url: str, pool: AsyncConnectionPool) -> AsyncIterator[Observers]:
    """What `create_app` hands `handle`: the event feed and the group commit (service/app.py)."""
    feed = EventFeed(url)
    await feed.start()
    group = GroupCommit(pool)
    try:
        yield Observers(feed=feed, group_commit=group)
    finally:
        await group.close()
        await feed.close()


async def _jobtrail_worker(pool: AsyncConnectionPool, observers: Observers, deadline: float, counts: list[int]) -> None:
    stream_id = uuid.uuid4()
    now = datetime.now(UTC)
    await handle(pool, stream_id, create_job("bench", KIND, owner="bench", at=now), METADATA, observers=observers)
    await handle(pool, stream_id, StartRun(at=now, run=1), METADATA, observers=observers)
    run = 1
    while time.perf_counter() < deadline:
        command = RecordBatch(
            at=datetime.now(UTC), run=run, results=20, has_more=True, cursor=f"c{run}", duration_ms=12
        )
        handled = await handle(pool, stream_id, command, METADATA, observers=observers)
        if handled.position is None:
            raise AssertionError(f"run {run} appended nothing")
        counts[0] += 1
        run += 1


# --- bare -----------------------------------------------------------------------------


async def _bare_worker(pool: AsyncConnectionPool, _: Observers, deadline: float, counts: list[int]) -> None:
    stream_id = uuid.uuid4()
    version = 0
    while time.perf_counter() < deadline:
        version += 1
        at = datetime.now(UTC).isoformat()
        data = {"type": "BatchRecorded", "at": at, "run": version, "results": 20, "has_more": True}
        state = {"version": version, "status": "processing", "processed_runs": version, "updated_at": at}
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(
                INSERT_BARE_EVENT,
                {
                    "stream_id": stream_id,
                    "version": version,
                    "type": "BatchRecorded",
                    "data": _jsonb(data),
                    "metadata": _jsonb({"actor": "bench"}),
                },
            )
            await conn.execute(
                UPSERT_BARE_STATUS,
                {"stream_id": stream_id, "version": version, "status": "processing", "state": _jsonb(state)},
            )
        counts[0] += 1


async def _run_async(url: str, worker: Worker, concurrency: int, seconds: float) -> float:
    pool = AsyncConnectionPool(url, min_size=concurrency, max_size=concurrency, kwargs={"autocommit": True}, open=False)
    await pool.open(wait=True)
    try:
        async with _as_served(url, pool) as observers:
            counts = [0]
            started = time.perf_counter()
            await asyncio.gather(*(worker(pool, observers, started + seconds, counts) for _ in range(concurrency)))
            return counts[0] / (time.perf_counter() - started)
    finally:
        await pool.close()


# --- eventsourcing --------------------------------------------------------------------


class Job(Aggregate):
    def __init__(self) -> None:
        self.runs = 0
        self.results = 0

    @event("BatchRecorded")
    def record_batch(self, run: int, results: int, cursor: str) -> None:
        self.runs += 1
        self.results += results


class Jobs(Application):
    pass


def _eventsourcing_env(url: str, pool_size: int) -> dict[str, str]:
    info = conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(info["dbname"]),
        "POSTGRES_HOST": str(info.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(info.get("port", 5432)),
        "POSTGRES_USER": str(info.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(info.get("password", "")),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "0",
    }


def _eventsourcing_worker(app: Jobs, deadline: float, counts: list[int], lock: threading.Lock) -> None:
    done = 0
    aggregate_id = None
    while time.perf_counter() < deadline:
        if done % ES_AGGREGATE_LENGTH == 0:
            job = Job()
            app.save(job)
            aggregate_id = job.id
        job = app.repository.get(aggregate_id)
        job.record_batch(run=job.runs + 1, results=20, cursor=f"c{job.runs + 1}")
        app.save(job)
        done += 1
    with lock:
        counts[0] += done


def _run_eventsourcing(app: Jobs, concurrency: int, seconds: float) -> float:
    counts, lock = [0], threading.Lock()
    started = time.perf_counter()
    threads = [
        threading.Thread(target=_eventsourcing_worker, args=(app, started + seconds, counts, lock))
        for _ in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts[0] / (time.perf_counter() - started)


# --- the chain trigger's lock (migrations/0017_archive_races.sql) -----------------------

# 0017's events_chain() with its one change undone: the predecessor read without FOR KEY SHARE.
_CHAIN_0017 = re.search(
    r"CREATE OR REPLACE FUNCTION events_chain\(\).*?\n\$\$;",
    importlib.resources.files("migrations").joinpath("0017_archive_races.sql").read_text(),
    re.DOTALL,
)
assert _CHAIN_0017 is not None
CHAIN_WITH_LOCK = _CHAIN_0017.group(0)
CHAIN_WITHOUT_LOCK = CHAIN_WITH_LOCK.replace("\n           FOR KEY SHARE;", ";")
assert CHAIN_WITHOUT_LOCK != CHAIN_WITH_LOCK


async def _set_chain(url: str, function: str) -> None:
    pool = AsyncConnectionPool(url, min_size=1, max_size=1, kwargs={"autocommit": True}, open=False)
    await pool.open(wait=True)
    async with pool.connection() as conn:
        await conn.execute(function)
    await pool.close()


def _chain_lock_cost(
    url: str, seconds: float, rounds: int = 3, concurrency: int = 8
) -> tuple[list[float], list[float]]:
    """jobtrail commands/s at `concurrency` with 0017's chain trigger and without its lock, alternating."""
    locked, unlocked = [], []
    for _ in range(rounds):
        asyncio.run(_set_chain(url, CHAIN_WITHOUT_LOCK))
        unlocked.append(asyncio.run(_run_async(url, _jobtrail_worker, concurrency, seconds)))
        asyncio.run(_set_chain(url, CHAIN_WITH_LOCK))
        locked.append(asyncio.run(_run_async(url, _jobtrail_worker, concurrency, seconds)))
    return locked, unlocked


# --- main -----------------------------------------------------------------------------


async def _create_bare_tables(url: str) -> None:
    pool = AsyncConnectionPool(url, min_size=1, max_size=1, kwargs={"autocommit": True}, open=False)
    await pool.open(wait=True)
    async with pool.connection() as conn:
        await conn.execute(CREATE_BARE_TABLES)
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1.5 s per measurement instead of 5 s")
    parser.add_argument("--seconds", type=float, default=None)
    args = parser.parse_args()
    seconds = args.seconds or (1.5 if args.quick else 5.0)

    results: dict[str, dict[int, float]] = {"jobtrail": {}, "bare": {}, "eventsourcing": {}}
    with scratch_database("commands") as url:
        asyncio.run(_create_bare_tables(url))
        app = Jobs(env=_eventsourcing_env(url, max(CONCURRENCY)))
        try:
            for n in CONCURRENCY:
                results["jobtrail"][n] = asyncio.run(_run_async(url, _jobtrail_worker, n, seconds))
                results["bare"][n] = asyncio.run(_run_async(url, _bare_worker, n, seconds))
                results["eventsourcing"][n] = _run_eventsourcing(app, n, seconds)
                print(
                    f"concurrency {n}: jobtrail {results['jobtrail'][n]:7.0f}/s   "
                    f"bare {results['bare'][n]:7.0f}/s   "
                    f"eventsourcing {results['eventsourcing'][n]:7.0f}/s",
                    flush=True,
                )
            locked, unlocked = _chain_lock_cost(url, seconds)
        finally:
            app.close()

    print(
        f"\ncommands/s ({seconds:g} s per cell; eventsourcing: fresh aggregate every "
        f"{ES_AGGREGATE_LENGTH} commands, no snapshots)"
    )
    print(f"  {'concurrency':<12}{'jobtrail':>10}{'bare':>10}{'eventsourcing':>15}")
    for n in CONCURRENCY:
        print(
            f"  {n:<12}{results['jobtrail'][n]:>10.0f}{results['bare'][n]:>10.0f}{results['eventsourcing'][n]:>15.0f}"
        )
    summary: dict[str, Any] = {"bench": "commands"}
    print("\nratios")
    for n in CONCURRENCY:
        vs_bare = results["jobtrail"][n] / results["bare"][n]
        vs_es = results["jobtrail"][n] / results["eventsourcing"][n]
        print(ratio_line(f"jobtrail/bare @{n}", vs_bare))
        print(ratio_line(f"jobtrail/eventsourcing @{n}", vs_es, GOAL_VS_EVENTSOURCING))
        summary[f"commands_per_s_{n}"] = round(results["jobtrail"][n])
        summary[f"vs_bare_{n}"] = round(vs_bare, 2)
        summary[f"vs_eventsourcing_{n}"] = round(vs_es, 2)
    lock_ratios = sorted(with_lock / without for with_lock, without in zip(locked, unlocked, strict=True))
    print(
        "\nthe chain trigger's FOR KEY SHARE on each predecessor (0017), jobtrail @8, alternating rounds:\n"
        f"  with it {', '.join(f'{v:.0f}' for v in locked)}/s; without it {', '.join(f'{v:.0f}' for v in unlocked)}/s"
    )
    print(ratio_line("with lock/without @8 (median)", lock_ratios[len(lock_ratios) // 2]))
    summary["chain_lock_vs_none_8"] = round(lock_ratios[len(lock_ratios) // 2], 2)
    summary["goal_vs_eventsourcing"] = GOAL_VS_EVENTSOURCING
    summary["goal_met"] = all(summary[f"vs_eventsourcing_{n}"] >= GOAL_VS_EVENTSOURCING for n in CONCURRENCY)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
