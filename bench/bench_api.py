"""HTTP read path: `GET /v1/jobs/{id}` with an API key, against a bare one-row Litestar read.

Both servers run at once, each its own process (uvicorn, one worker, the same asyncio
loop and HTTP parser), on free loopback ports, against one freshly migrated database;
`wrk` loads one at a time for a fixed time per cell, at 8 and 32 connections.

- jobtrail: `service.app.create_app` as served — key lookup (one query), job load (a
  second), owner check, overdue check, `JobDocument` as JSON.
- bare: a Litestar app of one route on the same kind of pool (autocommit
  `AsyncConnectionPool`, 16 connections) that reads the job's `job_status` row by
  primary key and returns its columns as JSON. No key.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from databases import scratch_database
from litestar import Litestar, get
from litestar.datastructures import State
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from ratios import ratio_line
from servers import server

from domain.kinds import create_job
from projections.log import Metadata
from service.app import create_app
from service.auth.keys import Scope, create_key
from service.jobs.command_handler import handle
from service.jobs.kinds import load_kinds
from service.settings import Settings
from service.store.database import create_pool

CONNECTIONS = (8, 32)
POOL_SIZE = 16  # as service.app opens it
GOAL_VS_BARE = 0.8
GOAL_P99_MS_32 = 20.0
THIS = Path(__file__).resolve()

READ_ROW = """
SELECT stream_id, owner, kind, status, version, progress, processed_runs, processed_results,
       target_results, max_runs, attempts, last_error, outcome, created_at, started_at,
       finished_at, deadline
  FROM job_status WHERE stream_id = %s
"""


def bare_app(url: str) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(url, max_size=POOL_SIZE, open=False, kwargs={"autocommit": True})
        await pool.open(wait=True)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    @get("/bare/{job_id:uuid}")
    async def read(job_id: uuid.UUID, state: State) -> dict[str, Any]:
        async with state.pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(READ_ROW, (job_id,))
            return await cursor.fetchone()

    return Litestar([read], lifespan=[lifespan], openapi_config=None)


def serve(which: str, port: int, url: str) -> None:
    """The server process: one uvicorn worker, no access log."""
    # The API alone: no broker, relay or schedule competing for the one worker.
    app = create_app(Settings(database_url=url), deliveries=False) if which == "jobtrail" else bare_app(url)
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


async def seed(url: str) -> tuple[str, uuid.UUID]:
    """A read key and one pending job of the built-in kind."""
    kind = load_kinds()["demo.count"]
    pool = create_pool(url, max_size=1)
    await pool.open(wait=True)
    try:
        async with pool.connection() as conn:
            key = await create_key(conn, "bench", (Scope.JOBS_READ,))
        stream_id = uuid.uuid4()
        command = create_job(kind.name, kind.config, owner="bench", at=datetime.now(UTC), params={"total": 40})
        await handle(pool, stream_id, command, Metadata(actor="bench"))
    finally:
        await pool.close()
    return key, stream_id


def load(url: str, connections: int, seconds: float, headers: dict[str, str]) -> tuple[float, float]:
    """Requests/s and p99 latency (ms) from one wrk run; any non-2xx answer aborts."""
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors against {url}:\n{out}")
    rps_line = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99_line = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if rps_line is None or p99_line is None:
        raise SystemExit(f"wrk printed no Requests/sec or 99% line against {url}:\n{out}")
    rps = float(rps_line.group(1))
    value, unit = p99_line.groups()
    return rps, float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per cell instead of 10 s")
    parser.add_argument("--serve", choices=("jobtrail", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.port, os.environ["BENCH_DATABASE_URL"])
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (make bench installs it)")
    seconds = 3.0 if args.quick else 10.0

    with scratch_database("api") as url:
        key, stream_id = asyncio.run(seed(url))
        with server(THIS, "jobtrail", url) as ours, server(THIS, "bare", url) as bare:
            targets = {
                "jobtrail": (f"http://127.0.0.1:{ours}/v1/jobs/{stream_id}", {"Authorization": f"Bearer {key}"}),
                "bare": (f"http://127.0.0.1:{bare}/bare/{stream_id}", {}),
            }
            for target, headers in targets.values():
                load(target, 8, 2, headers)  # warm up: pools filled, code paths hot
            results: dict[tuple[str, int], tuple[float, float]] = {}
            print(f"GET one job, {seconds:g} s per cell, wrk over loopback, one uvicorn worker each")
            print(f"  {'server':<10} {'conns':>5} {'req/s':>10} {'p99 ms':>8}")
            for connections in CONNECTIONS:
                for name, (target, headers) in targets.items():
                    results[name, connections] = load(target, connections, seconds, headers)
                    rps, p99 = results[name, connections]
                    print(f"  {name:<10} {connections:>5} {rps:>10,.0f} {p99:>8.2f}")

    summary: dict[str, Any] = {"bench": "api"}
    print("\nratios")
    for connections in CONNECTIONS:
        ratio = results["jobtrail", connections][0] / results["bare", connections][0]
        print(ratio_line(f"jobtrail/bare at {connections}", ratio, GOAL_VS_BARE))
        summary[f"jobtrail_rps_{connections}"] = round(results["jobtrail", connections][0])
        summary[f"bare_rps_{connections}"] = round(results["bare", connections][0])
        summary[f"vs_bare_{connections}"] = round(ratio, 2)
    p99 = results["jobtrail", 32][1]
    print(
        f"  {'jobtrail p99 at 32 (ms)':<28} {p99:8.2f}    goal <= {GOAL_P99_MS_32:g}  "
        f"{'MET' if p99 <= GOAL_P99_MS_32 else 'NOT MET'}"
    )
    summary["jobtrail_p99_ms_32"] = round(p99, 2)
    summary["bare_p99_ms_32"] = round(results["bare", 32][1], 2)
    summary["goal_vs_bare"] = GOAL_VS_BARE
    summary["goal_p99_ms_32"] = GOAL_P99_MS_32
    summary["goal_met"] = all(summary[f"vs_bare_{c}"] >= GOAL_VS_BARE for c in CONNECTIONS) and p99 <= GOAL_P99_MS_32
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
