"""Rebuild throughput: `rebuild_job_status` and `shadow_rebuild` against a bare COPY out.

Generates realistic job streams with the domain (`decide`/`evolve`: create, start, then
BatchRecorded + ContinuationScheduled per run, ending in JobCompleted; 20 events a job)
and loads them with COPY. The hash-chain trigger is disabled while loading and every
`hash` is a dummy constant: THE BENCH DATA HAS NO VALID CHAIN (rebuild does not read it).

Measured, best of two each: the raw COPY (SELECT stream_id, data::text … ORDER BY
stream_id, version) read fully and discarded, `rebuild_job_status(conn)` and
`shadow_rebuild(conn)`. During each rebuild a writer in its own process appends new jobs
in a loop through the event store; its longest single append is what writers waited.
"""

import argparse
import asyncio
import json
import multiprocessing
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from databases import scratch_database
from ratios import ratio_line

from domain.commands import AnyCommand, RecordBatch, StartRun
from domain.events import encoder, type_name
from domain.job import decide, evolve
from domain.kinds import KindConfig, create_job
from domain.state import INITIAL
from projections.log import Metadata, metadata_encoder
from projections.rebuild import rebuild_job_status
from projections.shadow_rebuild import shadow_rebuild
from service.store.event_store import append

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
    commands: list[AnyCommand] = [create_job("crawl", KIND, owner=f"owner-{number % 100}", at=at, params={"q": number})]
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
        row = conn.execute(COUNT_EVENTS).fetchone()
        assert row is not None
        (count,) = row
    return count, time.perf_counter() - started


async def raw_copy(url: str) -> float:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        async with conn.cursor().copy(RAW_COPY) as copy:
            async for _ in copy:
                pass
        return time.perf_counter() - started


def write(url: str, stop, appends, longest_s) -> None:
    """In its own process (no GIL shared with the rebuild): append new jobs until told to stop."""

    async def loop() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            while not stop.is_set():
                events = decide(create_job("crawl", KIND, owner="writer", at=datetime.now(UTC)), INITIAL)
                started = time.perf_counter()
                await append(conn, uuid.uuid4(), 0, events, evolve(INITIAL, events[0]), Metadata(actor="bench"))
                longest_s.value = max(longest_s.value, time.perf_counter() - started)
                appends.value += 1
                await asyncio.sleep(0.001)

    asyncio.run(loop())


class Writer:
    """A writer process appending one new job after another; keeps its slowest append."""

    def __init__(self, url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.stop, self._appends, self._longest = context.Event(), context.Value("l", 0), context.Value("d", 0.0)
        self.process = context.Process(target=write, args=(url, self.stop, self._appends, self._longest))

    def __enter__(self) -> "Writer":
        self.process.start()
        while self._appends.value == 0 and self.process.is_alive():
            time.sleep(0.01)  # appending before the rebuild starts
        self._appends.value, self._longest.value = 0, 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.process.join()
        if self.process.exitcode:
            raise RuntimeError(f"the writer process failed ({self.process.exitcode})")

    @property
    def appends(self) -> int:
        return self._appends.value

    @property
    def longest_s(self) -> float:
        return self._longest.value


async def rebuild(url: str, how) -> tuple[float, int, float, int, float, int, int]:
    """Seconds, rows written, the writer's longest append, its appends, seconds locked,
    and for the shadow rebuild the jobs caught up and those folded again under the lock."""
    with Writer(url) as writer:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            started = time.perf_counter()
            result = await how(conn)
            elapsed = time.perf_counter() - started
        appends, longest_s = writer.appends, writer.longest_s
    rows = result if isinstance(result, int) else result.rows
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(COUNT_STATUS)
        row = await cursor.fetchone()
        assert row is not None
        (stored,) = row
    if stored < rows:
        raise AssertionError(f"rebuild reported {rows} rows, job_status holds {stored}")
    if isinstance(result, int):
        return elapsed, rows, longest_s, appends, elapsed, 0, 0
    return elapsed, rows, longest_s, appends, result.locked_s, result.caught_up, result.refolded


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
        plain = [asyncio.run(rebuild(url, rebuild_job_status)) for _ in range(2)]
        shadow = [asyncio.run(rebuild(url, shadow_rebuild)) for _ in range(2)]
    rebuild_s, rows = min(plain)[:2]
    shadow_s = min(shadow)[0]
    plain_wait_s, shadow_wait_s = max(p[2] for p in plain), max(s[2] for s in shadow)

    raw_rate, rebuild_rate, shadow_rate = count / raw_s, count / rebuild_s, count / shadow_s
    ratio = rebuild_rate / raw_rate
    print(f"raw COPY out   {raw_s:6.2f} s  {raw_rate:12,.0f} events/s   (best of 2)")
    print(
        f"rebuild        {rebuild_s:6.2f} s  {rebuild_rate:12,.0f} events/s   (best of 2), "
        f"{rows:,} job_status rows written; a writer's longest append {plain_wait_s * 1000:,.0f} ms"
    )
    print(
        f"rebuild shadow {shadow_s:6.2f} s  {shadow_rate:12,.0f} events/s   (best of 2), "
        f"a writer's longest append {shadow_wait_s * 1000:,.0f} ms, "
        f"{sum(s[3] for s in shadow):,} appends meanwhile, swap locked {max(s[4] for s in shadow) * 1000:,.1f} ms "
        f"(jobs caught up / folded again under the lock: {', '.join(f'{s[5]}/{s[6]}' for s in shadow)})"
    )
    print("\nratios")
    print(ratio_line("rebuild/raw", ratio, GOAL))
    print(ratio_line("shadow rebuild/rebuild", shadow_rate / rebuild_rate))
    print(
        json.dumps(
            {
                "bench": "rebuild",
                "events": count,
                "rows_written": rows,
                "raw_events_per_s": round(raw_rate),
                "rebuild_events_per_s": round(rebuild_rate),
                "rebuild_vs_raw": round(ratio, 3),
                "shadow_events_per_s": round(shadow_rate),
                "shadow_vs_rebuild": round(shadow_rate / rebuild_rate, 3),
                "shadow_locked_ms": round(max(s[4] for s in shadow) * 1000, 1),
                "writer_longest_append_ms": {
                    "plain": round(plain_wait_s * 1000),
                    "shadow": round(shadow_wait_s * 1000),
                },
                "goal_rebuild_vs_raw": GOAL,
                "goal_met": ratio >= GOAL,
            }
        )
    )


if __name__ == "__main__":
    main()
