"""Rebuild throughput: `rebuild_job_status` against a bare COPY out of the same log.

Generates realistic job streams with the domain (`decide`/`evolve`: create, start, then
BatchRecorded + ContinuationScheduled per run, ending in JobCompleted; 20 events a job)
and loads them with COPY. The hash-chain trigger is disabled while loading and every
`hash` is a dummy constant: THE BENCH DATA HAS NO VALID CHAIN (rebuild does not read it).

Measured, best of two each: the raw COPY (SELECT stream_id, data::text … ORDER BY
stream_id, version) read fully and discarded, and `rebuild_job_status(conn)`.
"""

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from scratch import ratio_line, scratch_database

from domain.commands import RecordBatch, StartRun
from domain.events import encoder, type_name
from domain.job import decide, evolve
from domain.kinds import KindConfig, create_job
from domain.state import INITIAL
from projections.log import Metadata, metadata_encoder
from projections.rebuild import rebuild_job_status

EVENTS_PER_JOB = 20  # created, started, 8 × (batch, continuation), batch, completed
RUNS_PER_JOB = 9
GOAL = 0.4
DUMMY_HASH = bytes(32)

# The baseline: every event's payload, in stream order, straight out of the server.
RAW_COPY = """
COPY (SELECT stream_id, data::text FROM events ORDER BY stream_id, version) TO STDOUT
"""
DISABLE_CHAIN = "ALTER TABLE events DISABLE TRIGGER events_chain"
ENABLE_CHAIN = "ALTER TABLE events ENABLE TRIGGER events_chain"
COPY_EVENTS = "COPY events (stream_id, version, type, data, metadata, recorded_at, hash) FROM STDIN"
COUNT_EVENTS = "SELECT count(*) FROM events"
COUNT_STATUS = "SELECT count(*) FROM job_status"
VACUUM_EVENTS = "VACUUM (ANALYZE) events"

KIND = KindConfig(max_runs=RUNS_PER_JOB, delay_s=5.0, backoff_factor=1.5, deadline_s=None)


def job_rows(number: int, start: datetime):
    """One job's stream as COPY rows, produced by deciding real commands."""
    stream_id = uuid.uuid4()
    metadata = metadata_encoder.encode(Metadata(actor="bench", message_id=f"m-{number}")).decode()
    at = start + timedelta(seconds=number)
    commands = [create_job("crawl", KIND, owner=f"owner-{number % 100}", at=at, params={"q": number})]
    commands.append(StartRun(at=at, run=1))
    for run in range(1, RUNS_PER_JOB + 1):
        at += timedelta(seconds=3)
        commands.append(
            RecordBatch(at=at, run=run, results=17 + run, has_more=True, cursor=f"page-{run}", duration_ms=250)
        )
    state, version = INITIAL, 0
    for command in commands:
        for event in decide(command, state):
            state = evolve(state, event)
            version += 1
            data = encoder.encode(event).decode()
            yield (stream_id, version, type_name(event), data, metadata, event.at, DUMMY_HASH)


def load(url: str, jobs: int) -> tuple[int, float]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute(DISABLE_CHAIN)
        with conn.cursor().copy(COPY_EVENTS) as copy:
            for number in range(jobs):
                for row in job_rows(number, start):
                    copy.write_row(row)
        conn.execute(ENABLE_CHAIN)
        conn.commit()
        conn.autocommit = True
        conn.execute(VACUUM_EVENTS)
        (count,) = conn.execute(COUNT_EVENTS).fetchone()
    return count, time.perf_counter() - started


async def raw_copy(url: str) -> float:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        async with conn.cursor().copy(RAW_COPY) as copy:
            async for _ in copy:
                pass
        return time.perf_counter() - started


async def rebuild(url: str) -> tuple[float, int]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        rows = await rebuild_job_status(conn)
        elapsed = time.perf_counter() - started
        cursor = await conn.execute(COUNT_STATUS)
        (stored,) = await cursor.fetchone()
    if stored != rows:
        raise AssertionError(f"rebuild reported {rows} rows, job_status holds {stored}")
    return elapsed, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="200,000 events")
    args = parser.parse_args()
    events = 200_000 if args.quick else args.events
    jobs = max(1, events // EVENTS_PER_JOB)

    with scratch_database("rebuild") as url:
        count, load_s = load(url, jobs)
        print(
            f"loaded {count:,} events in {jobs:,} jobs in {load_s:.1f} s "
            f"({count / load_s:,.0f} events/s; chain trigger off, dummy hashes: no valid chain)"
        )
        raw_s = min(asyncio.run(raw_copy(url)) for _ in range(2))
        rebuilds = [asyncio.run(rebuild(url)) for _ in range(2)]
        rebuild_s = min(seconds for seconds, _ in rebuilds)
        rows = rebuilds[-1][1]

    raw_rate, rebuild_rate = count / raw_s, count / rebuild_s
    ratio = rebuild_rate / raw_rate
    print(f"raw COPY out   {raw_s:6.2f} s  {raw_rate:12,.0f} events/s   (best of 2)")
    print(
        f"rebuild        {rebuild_s:6.2f} s  {rebuild_rate:12,.0f} events/s   (best of 2), "
        f"{rows:,} job_status rows written"
    )
    print("\nratios")
    print(ratio_line("rebuild/raw", ratio, GOAL))
    print(
        json.dumps(
            {
                "bench": "rebuild",
                "events": count,
                "rows_written": rows,
                "raw_events_per_s": round(raw_rate),
                "rebuild_events_per_s": round(rebuild_rate),
                "rebuild_vs_raw": round(ratio, 3),
                "goal_rebuild_vs_raw": GOAL,
                "goal_met": ratio >= GOAL,
            }
        )
    )


if __name__ == "__main__":
    main()
