"""Retention: archived jobs/s and events/s of an archive run, against the export route.

2N finished jobs of 20 events each (made by `decide`, like bench_rebuild, but loaded with
the chain trigger on: an archive verifies real hashes), every other one finished long
ago (expired) and the rest just now (kept), so that the archived rows leave holes all
through the tables as they would in a live log. The N expired jobs are read two ways
in one run:

- the export route: `GET /v1/jobs/{id}/export` for every job, one after another over one
  keep-alive connection, from a `create_app` server in its own process (uvicorn, one
  worker): the same NDJSON bytes an archive file holds, read and discarded;
- the archive run: `service.archive.archiver.archive_expired` over the same jobs, one
  after another as it runs: per job, the export built, written to a directory store
  (temporary file, fsync, rename, directory fsync), read back, verified offline, then a
  tombstone and archive_stream() in one transaction.

Also printed: the tables' sizes (pg_total_relation_size) before the run, after it, after
a plain VACUUM (dead rows reclaimed for reuse, the files keep their size) and after
VACUUM FULL (space given back to the file system), which is what docs/retention.md advises.
"""

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import uvicorn
from databases import scratch_database
from ratios import ratio_line
from servers import server

from domain.commands import AnyCommand, RecordBatch, StartRun
from domain.events import encoder, type_name
from domain.job import decide, evolve
from domain.kinds import KindConfig, create_job
from domain.state import INITIAL
from projections.log import Metadata, metadata_encoder
from projections.rebuild import rebuild_job_status
from service.app import create_app
from service.archive.archiver import archive_expired
from service.archive.store import DirectoryStore
from service.auth.keys import Scope, create_key
from service.settings import Settings
from service.store.database import create_pool
from service.store.job_status import RetentionPolicy

THIS = Path(__file__).resolve()
RUNS_PER_JOB = 9  # created, started, 8 × (batch, continuation), batch, completed: 20 events
KIND = KindConfig(max_runs=RUNS_PER_JOB, delay_s=5.0, deadline_s=None)
FINISHED = datetime(2025, 1, 1, tzinfo=UTC)
POLICY = RetentionPolicy(default_s=86400.0, default_failed_s=86400.0)
TABLES = ("events", "job_status", "job_status_shadow", "batch_results", "inbox", "outbox", "tombstones")

COPY_EVENTS = "COPY events (stream_id, version, type, data, metadata, recorded_at) FROM STDIN"
SIZES = "SELECT " + ", ".join(f"pg_total_relation_size('{table}')" for table in TABLES)
EXPIRED_IDS = "SELECT stream_id FROM job_status WHERE finished_at < %s ORDER BY finished_at"


def job_rows(number: int, now: datetime):
    """One finished job's stream as COPY rows, produced by deciding real commands; an even
    number finished long ago, an odd one just now."""
    stream_id = uuid.uuid4()
    metadata = metadata_encoder.encode(Metadata(actor="bench", message_id=f"m-{number}")).decode()
    at = (FINISHED if number % 2 == 0 else now - timedelta(hours=1)) + timedelta(seconds=number)
    commands: list[AnyCommand] = [create_job("crawl", KIND, owner="bench", at=at, params={"q": number})]
    commands.append(StartRun(at=at, run=1))
    for run in range(1, RUNS_PER_JOB + 1):
        at += timedelta(seconds=3)
        last = run == RUNS_PER_JOB
        commands.append(RecordBatch(at=at, run=run, results=17, has_more=not last, cursor=f"p-{run}", duration_ms=250))
    state, version = INITIAL, 0
    for command in commands:
        for event in decide(command, state):
            state = evolve(state, event)
            version += 1
            yield (stream_id, version, type_name(event), encoder.encode(event).decode(), metadata, event.at)


def load(url: str, expired: int) -> int:
    """2 × `expired` jobs, interleaved; returns the expired jobs' events."""
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        with conn.cursor().copy(COPY_EVENTS) as copy:
            for number in range(2 * expired):
                for row in job_rows(number, now):
                    copy.write_row(row)
    return expired * 20


async def fill_status_and_key(url: str) -> str:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await rebuild_job_status(conn)
        return await create_key(conn, "bench", (Scope.JOBS_READ, Scope.AUDIT_READ))


def sizes(url: str, vacuum: str | None = None) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        if vacuum:
            conn.execute(vacuum)
        row = conn.execute(SIZES).fetchone()
    assert row is not None
    return dict(zip(TABLES, row, strict=True))


def export_all(port: int, key: str, job_ids: list[uuid.UUID]) -> tuple[float, int]:
    """Seconds to read every job's export over one connection, and the bytes read."""
    headers = {"Authorization": f"Bearer {key}"}
    size = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as client:
        client.get(f"/v1/jobs/{job_ids[0]}/export").raise_for_status()  # warm up
        started = time.perf_counter()
        for job_id in job_ids:
            answer = client.get(f"/v1/jobs/{job_id}/export")
            answer.raise_for_status()
            size += len(answer.content)
        return time.perf_counter() - started, size


async def archive_all(url: str, root: Path) -> tuple[float, int, int, int]:
    pool = create_pool(url, max_size=2)
    await pool.open(wait=True)
    try:
        started = time.perf_counter()
        summary = await archive_expired(pool, DirectoryStore(root), POLICY, datetime.now(UTC))
        return time.perf_counter() - started, summary.jobs, summary.events, summary.bytes
    finally:
        await pool.close()


def serve(port: int, url: str) -> None:
    uvicorn.run(
        create_app(Settings(database_url=url), deliveries=False),
        host="127.0.0.1",
        port=port,
        workers=1,
        log_level="warning",
        access_log=False,
    )


def _mb(value: int) -> str:
    return f"{value / 2**20:8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--jobs", type=int, default=2000, help="expired jobs of 20 events (default 2,000; as many more are kept)"
    )
    parser.add_argument("--quick", action="store_true", help="400 expired jobs")
    parser.add_argument("--serve", choices=("jobtrail",), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.port, os.environ["BENCH_DATABASE_URL"])
    jobs = 400 if args.quick else args.jobs

    with scratch_database("archive") as url, tempfile.TemporaryDirectory(prefix="jobtrail-archive-") as root:
        events = load(url, jobs)
        key = asyncio.run(fill_status_and_key(url))
        before = sizes(url, "VACUUM (ANALYZE)")
        with psycopg.connect(url) as conn:
            job_ids = [row[0] for row in conn.execute(EXPIRED_IDS, [FINISHED + timedelta(days=30)]).fetchall()]
        with server(THIS, "jobtrail", url) as port:
            export_s, export_bytes = export_all(port, key, job_ids)
        archive_s, archived, archived_events, archived_bytes = asyncio.run(archive_all(url, Path(root)))
        if (archived, archived_events) != (jobs, events):
            raise SystemExit(f"archived {archived} jobs, {archived_events} events of {jobs}, {events}")
        after = sizes(url)
        vacuumed = sizes(url, "VACUUM (ANALYZE)")
        full = sizes(url, "VACUUM (FULL, ANALYZE)")

    export_rate, archive_rate = jobs / export_s, jobs / archive_s
    print(f"{jobs:,} expired jobs ({events:,} events) among {2 * jobs:,}, read one after another")
    print(f"  export route    {export_s:7.2f} s {export_rate:9,.0f} jobs/s {events / export_s:10,.0f} events/s")
    print(
        f"  archive run     {archive_s:7.2f} s {archive_rate:9,.0f} jobs/s {events / archive_s:10,.0f} events/s"
        f"   ({archived_bytes:,} bytes written; the route served {export_bytes:,})"
    )
    print("\ntable sizes, MB: before · after the run · after VACUUM · after VACUUM FULL")
    for table in TABLES:
        print(f"  {table:<18} {_mb(before[table])} {_mb(after[table])} {_mb(vacuumed[table])} {_mb(full[table])}")
    ratio = archive_rate / export_rate
    print("\nratios")
    print(ratio_line("archive/export route", ratio))
    summary = {
        "bench": "archive",
        "jobs": jobs,
        "events": events,
        "archive_jobs_per_s": round(archive_rate),
        "archive_events_per_s": round(events / archive_s),
        "export_jobs_per_s": round(export_rate),
        "export_events_per_s": round(events / export_s),
        "archive_vs_export": round(ratio, 2),
        "events_mb": [round(s["events"] / 2**20, 1) for s in (before, after, vacuumed, full)],
        "job_status_mb": [round(s["job_status"] / 2**20, 1) for s in (before, after, vacuumed, full)],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
