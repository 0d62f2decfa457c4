"""The dashboard's polling cost: what one browser tab asks of a server every second.

A watched job page asks `/jobs/{id}/live?since=V` about once a second. When the job has
not moved it gets a 204 after one query (key and status snapshot joined); when it has,
a read of the events from V on, their hash chain checked onwards from event V, and a
render of the summary and the new events only. Measured with `wrk` over loopback against `create_app` as
served (one uvicorn worker, `deliveries=False`), for a typical job (22 events) and a
long one (1,000 events): the unchanged poll, a poll with two new events, the page
itself (the first render: the whole chain checked, the latest 200 events shown),
beside the JSON history of the same job (`GET /v1/jobs/{id}/events`: the same read and
chain check, every event, no template) in the same run. req/s at one poll a second
per tab is how many tabs one process serves.
"""

import argparse
import asyncio
import json
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from bench_api import load
from databases import scratch_database
from ratios import ratio_line
from servers import server

from domain.commands import RecordBatch, StartRun
from domain.kinds import KindConfig, create_job
from projections.log import Metadata
from service.app import create_app
from service.auth.keys import Scope, create_key
from service.auth.sessions import start_session
from service.jobs.command_handler import handle
from service.settings import Settings
from service.store.database import create_pool

THIS = Path(__file__).resolve()
CONNECTIONS = 2
KIND = KindConfig(max_runs=100_000, deadline_s=None)
METADATA = Metadata(actor="bench", message_id="msg_bench", retried=0, request_id="req-bench")
# Two events a run (BatchRecorded, ContinuationScheduled) after JobCreated and JobStarted.
JOBS = {"22 events": 10, "1,000 events": 499}
VERSIONS = {"22 events": 22, "1,000 events": 1000}
GOAL_VS_JSON = 0.5  # the page may cost up to twice the JSON history it shows


def serve(port: int, url: str) -> None:
    app = create_app(Settings(database_url=url), deliveries=False)
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


async def seed(url: str) -> tuple[str, str, dict[str, uuid.UUID]]:
    """A read key, a dashboard session signed in with it, and a processing job per size in JOBS."""
    pool = create_pool(url, max_size=1)
    await pool.open(wait=True)
    try:
        async with pool.connection() as conn:
            key = await create_key(conn, "bench", (Scope.JOBS_READ,))
            session = await start_session(conn, key.split("_")[1], 3600)
        jobs = {}
        for label, runs in JOBS.items():
            stream_id, now = uuid.uuid4(), datetime.now(UTC)
            await handle(pool, stream_id, create_job("bench", KIND, owner="bench", at=now), METADATA)
            await handle(pool, stream_id, StartRun(at=now, run=1), METADATA)
            for run in range(1, runs + 1):
                batch = RecordBatch(at=datetime.now(UTC), run=run, results=20, has_more=True, cursor=f"c{run}")
                await handle(pool, stream_id, batch, METADATA)
            jobs[label] = stream_id
    finally:
        await pool.close()
    return key, session, jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per cell instead of 8 s")
    parser.add_argument("--serve", choices=("jobtrail",), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.port, os.environ["BENCH_DATABASE_URL"])
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (make bench installs it)")
    seconds = 3.0 if args.quick else 8.0

    summary: dict = {"bench": "dashboard"}
    with scratch_database("dashboard") as url:
        key, session, jobs = asyncio.run(seed(url))
        with server(THIS, "jobtrail", url) as port:
            base = f"http://127.0.0.1:{port}"
            page_headers = {"Cookie": f"jobtrail_session={session}"}
            api_headers = {"Authorization": f"Bearer {key}"}
            print(f"{seconds:g} s per cell, wrk over loopback, {CONNECTIONS} connections, one uvicorn worker")
            print(f"  {'job':<14} {'route':<34} {'req/s':>8} {'p99 ms':>8}")
            for label, stream_id in jobs.items():
                version = VERSIONS[label]
                cells = {
                    "unchanged": (f"{base}/jobs/{stream_id}/live?since={version}", page_headers),
                    "two_new": (f"{base}/jobs/{stream_id}/live?since={version - 2}", page_headers),
                    "page": (f"{base}/jobs/{stream_id}", page_headers),
                    "json": (f"{base}/v1/jobs/{stream_id}/events", api_headers),
                }
                figures = {}
                for name, (target, headers) in cells.items():
                    load(target, CONNECTIONS, 1, headers)  # warm up
                    figures[name] = load(target, CONNECTIONS, seconds, headers)
                    route = target.removeprefix(base).replace(str(stream_id), "{id}").replace(f"={version}", "=V")
                    route = route.replace(f"={version - 2}", "=V-2")
                    print(f"  {label:<14} {route:<34} {figures[name][0]:>8,.0f} {figures[name][1]:>8.2f}")
                key_label = label.split()[0].replace(",", "")
                summary[f"page_rps_{key_label}"] = round(figures["page"][0])
                summary[f"json_rps_{key_label}"] = round(figures["json"][0])
                summary[f"page_vs_json_{key_label}"] = round(figures["page"][0] / figures["json"][0], 2)
                summary[f"unchanged_rps_{key_label}"] = round(figures["unchanged"][0])
                summary[f"two_new_rps_{key_label}"] = round(figures["two_new"][0])
            rows = load(f"{base}/jobs/rows", CONNECTIONS, seconds, page_headers)
            print(f"  {'2 jobs':<14} {'/jobs/rows':<34} {rows[0]:>8,.0f} {rows[1]:>8.2f}")
            summary["rows_rps"] = round(rows[0])

    print("\nratios")
    for label in JOBS:
        key_label = label.split()[0].replace(",", "")
        print(ratio_line(f"page/json, {label}", summary[f"page_vs_json_{key_label}"], GOAL_VS_JSON))
    summary["goal_vs_json"] = GOAL_VS_JSON
    summary["goal_met"] = all(summary[f"page_vs_json_{k.split()[0].replace(',', '')}"] >= GOAL_VS_JSON for k in JOBS)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
