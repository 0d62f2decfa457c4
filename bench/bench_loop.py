"""The whole delivery loop's throughput: N jobs x R runs through `jobtrail serve` and its local broker.

1. The loop. A `jobtrail serve` subprocess (its local broker, relay, stats projection
   and sweep schedule as an operator runs it; `--workers W` when serve has it) on a
   fresh scratch database. Once /readyz answers, N demo.count jobs are created in the
   database (`handle`, as `POST /v1/jobs` would record them), each R runs of 20 items with
   no continuation delay, all at once; the bench waits until every one completed. Each
   batch is: the relay publishes the run to the broker (SDK, HTTP), the broker delivers
   it signed to /qstash/run, the service verifies it, claims the delivery in its inbox,
   runs the batch and records it (events, status, outbox row for the next run).
   Batches/s and jobs/s are taken over the events' own `recorded_at`, from the first
   JobStarted to the last JobCompleted, so neither the server's start nor the bench's
   polling is in the window.

2. Baseline "bare": what the loop would cost if each batch were one signed POST and one
   append. A one-route Litestar app under uvicorn (the same W worker processes, one
   pool of 16 connections each, as jobtrail opens) verifies the `Upstash-Signature` with
   jobtrail's own verifier, decodes the body and INSERTs one event row (autocommit, one
   round trip). The client stands in for the broker's delivery half with the broker's
   own pieces (`service.broker.http_client`, `service.broker.signing`): N jobs in flight
   at once, each sending run k+1 only after run k was answered, every request signed
   as it is sent; connections are kept alive, one per job in flight. It runs in the
   bench's process, beside the server, as a broker runs beside the service.

3. Baseline "brokered": the least a loop through QStash does per batch. The same route
   also publishes the job's next run (qstash SDK, jobtrail's client set-up) to the same
   local broker before it answers, and the broker delivers it, signed: one delivery,
   one append, one publish. The broker runs inside the server process at one worker,
   as `jobtrail serve` runs it, and as its own process (`jobtrail qstash-dev`) at more.
   A start route publishes every job's first run, one after the other, as the relay
   does. The baselines' rates are taken over their event rows' insert times, first to
   last, as the loop's are.

What both baselines leave out, on purpose, is everything a batch needs to be recorded
exactly once and to be resumable: the inbox (a delivery or token seen twice is a no-op),
the job's state (load, decide, version check), its status row and hash-chained history,
the outbox between a commit and a publish (and the relay's claim and settle), retries,
timeouts and failure callbacks, the batch's results.

All three at the same concurrency (N jobs in flight, one batch each at a time), each
server started afresh on its own scratch database; for each worker count they
alternate for --rounds rounds. Besides wall-clock rates, the CPU seconds per batch of
every process doing the work (the server's process tree; the client or a broker of its
own; the PostgreSQL backends of the scratch database), which this shared machine's
speed swings move less than the rates.
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import servers
import uvicorn
from bare import CREATE_BARE_TABLES, INSERT_BARE_EVENT
from cpu import postgres_cpu_s, process_cpu_s, tree_cpu_s
from databases import scratch_database
from litestar import Litestar, Request, Response, get, post
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from qstash import AsyncQStash
from ratios import ratio_line
from servers import free_port, stop, wait_for_port, wait_ready

from domain.kinds import create_job
from projections.log import Metadata
from service.broker.http_client import HttpClient
from service.broker.signing import sign
from service.jobs.command_handler import handle
from service.jobs.kinds import load_kinds
from service.local_broker import local_broker
from service.qstash.client import qstash_client
from service.qstash.signature import InvalidSignature, verify_signature
from service.settings import DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY, DEV_QSTASH_TOKEN, VARIABLES, Settings
from service.store.database import create_pool

KIND = "demo.count"
DEMO = load_kinds()[KIND].config
PER_BATCH = 20
POOL_SIZE = 16  # per process, as service.app opens it
SETTLE_S = 2.0  # after a server answers, before the clock starts: every worker process is up
THIS = Path(__file__).resolve()
HERE = THIS.parent
JOBTRAIL = str(Path(sys.executable).with_name("jobtrail"))
KINDS_MEASURED = ("loop", "bare", "brokered")

LOOP_WINDOW = """
SELECT max(recorded_at) FILTER (WHERE type = 'JobCompleted') - min(recorded_at) FILTER (WHERE type = 'JobStarted'),
       count(*) FILTER (WHERE type = 'BatchRecorded')
  FROM events
"""
LOOP_PROGRESS = """
SELECT count(*) FILTER (WHERE status = 'completed'),
       count(*) FILTER (WHERE status NOT IN ('pending', 'processing', 'completed'))
  FROM job_status
"""
# The baselines' events carry their insert time, for the same kind of window as the loop's.
ADD_RECORDED_AT = "ALTER TABLE bench_events ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()"
BARE_WINDOW = "SELECT max(recorded_at) - min(recorded_at), count(*) FROM bench_events"
BARE_PROGRESS = "SELECT count(*), 0 FROM bench_events"


class Cell(msgspec.Struct, kw_only=True):
    """One measured run of N jobs x R runs: seconds of wall clock and of CPU."""

    batches: int
    jobs: int
    seconds: float
    server_cpu_s: float  # the server's process tree (the loop's broker and relay are in it)
    side_cpu_s: float  # beside it: the bare client, or the brokered baseline's own broker process
    postgres_cpu_s: float

    @property
    def batches_per_s(self) -> float:
        return self.batches / self.seconds

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.seconds

    @property
    def cpu_ms_per_batch(self) -> float:
        return (self.server_cpu_s + self.side_cpu_s + self.postgres_cpu_s) * 1000 / self.batches


class Usage(msgspec.Struct, frozen=True):
    server: float
    side: float
    postgres: float


def cpu_used(server_pid: int, side_pid: int | None, database: str) -> Usage:
    """CPU seconds used so far; NaN where there is no /proc."""
    found = (
        tree_cpu_s(server_pid),
        0.0 if side_pid is None else process_cpu_s(side_pid),  # alone: the bench process has servers as children
        postgres_cpu_s(database),
    )
    return Usage(*(math.nan if seconds is None else seconds for seconds in found))


def measured(
    url: str, server_pid: int, side_pid: int | None, jobs: int, runs: int, work: Callable[[], None], window: str
) -> Cell:
    """Run `work` (it returns once every batch was recorded) between two CPU readings;
    the wall time is the recorded window that `window` reads."""
    database = str(conninfo_to_dict(url)["dbname"])
    before = cpu_used(server_pid, side_pid, database)
    work()
    after = cpu_used(server_pid, side_pid, database)
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(window).fetchone()
    assert row is not None
    elapsed, batches = row
    if batches != jobs * runs:
        raise SystemExit(f"{batches} batches were recorded, not {jobs * runs}")
    return Cell(
        batches=batches,
        jobs=jobs,
        seconds=elapsed.total_seconds(),
        server_cpu_s=after.server - before.server,
        side_cpu_s=after.side - before.side,
        postgres_cpu_s=after.postgres - before.postgres,
    )


def wait_until_ready(url: str, process: subprocess.Popen, what: str, log: Path | None = None) -> None:
    """Until `url` answers 200, then SETTLE_S more."""
    wait_ready(url, process, what, log)
    time.sleep(SETTLE_S)


async def wait_until_recorded(url: str, progress: str, expected: int, timeout_s: float) -> None:
    """Poll `progress` (done, failed) until `expected` are done."""
    deadline = time.monotonic() + timeout_s
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while True:
            row = await (await conn.execute(progress)).fetchone()
            assert row is not None
            done, failed = row
            if failed:
                raise SystemExit(f"{failed} jobs ended without completing")
            if done >= expected:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"only {done} of {expected} were done within {timeout_s:g} s")
            await asyncio.sleep(0.25)


def timeout_s(jobs: int, runs: int) -> float:
    return 60 + jobs * runs / 20  # 20 batches/s at least


# --- the loop: jobtrail serve --------------------------------------------------------------


def serve_has_workers() -> bool:
    """Whether this checkout's `jobtrail serve` takes --workers."""
    done = subprocess.run([JOBTRAIL, "serve", "--help"], capture_output=True, text=True, check=True)
    return "--workers" in done.stdout


@contextmanager
def jobtrail_serve(url: str, data_dir: Path, workers: int, relay_batch: int | None = None) -> Iterator[int]:
    """Yields the server's process id once /readyz answered and its workers settled."""
    env = {name: value for name, value in os.environ.items() if name not in VARIABLES.values()}
    env.pop("JOBTRAIL_WORKERS", None)
    if relay_batch is not None:
        env[VARIABLES["relay_batch"]] = str(relay_batch)
    command = [JOBTRAIL, "serve"] + (["--workers", str(workers)] if workers > 1 else [])
    with servers.jobtrail_serve(command, url, data_dir, env) as (_base, process):
        time.sleep(SETTLE_S)
        yield process.pid


async def create_jobs(url: str, jobs: int, runs: int) -> None:
    """N demo.count jobs of R runs each, recorded as `POST /v1/jobs` records them."""
    params = {"total": runs * PER_BATCH, "per_batch": PER_BATCH}
    pool = create_pool(url, max_size=4)
    await pool.open(wait=True)
    try:

        async def one() -> None:
            command = create_job(KIND, DEMO, owner="bench", at=datetime.now(UTC), params=params)
            await handle(pool, uuid.uuid4(), command, Metadata(actor="bench"))

        for start in range(0, jobs, 4):
            await asyncio.gather(*(one() for _ in range(min(4, jobs - start))))
    finally:
        await pool.close()


def loop_cell(workers: int, jobs: int, runs: int, scratch: Path, relay_batch: int | None = None) -> Cell:
    with scratch_database("loop") as url:
        data_dir = scratch / f"serve-{uuid.uuid4().hex[:8]}"
        data_dir.mkdir()

        def work() -> None:
            asyncio.run(create_jobs(url, jobs, runs))
            asyncio.run(wait_until_recorded(url, LOOP_PROGRESS, jobs, timeout_s(jobs, runs)))

        with jobtrail_serve(url, data_dir, workers, relay_batch) as pid:
            return measured(url, pid, None, jobs, runs, work, LOOP_WINDOW)


# --- the baselines: one signed delivery and one append (and one publish, brokered) -----------


class RunMessage(msgspec.Struct, frozen=True):
    job_id: uuid.UUID
    run: int


class StartMessage(msgspec.Struct, frozen=True):
    jobs: int


def bare_app() -> Litestar:
    """The baselines' server, a uvicorn factory (each worker process builds its own).

    BENCH_BROKER: empty for "bare"; "embedded" to run the local broker in this process,
    or a broker's URL, for "brokered", which publishes each job's next run to it.
    """
    url, public, runs = os.environ["BENCH_DATABASE_URL"], os.environ["BENCH_RUN_URL"], int(os.environ["BENCH_RUNS"])
    broker = os.environ.get("BENCH_BROKER", "")
    keys = (DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY)
    decoder = msgspec.json.Decoder(RunMessage)
    encoder = msgspec.json.Encoder()
    pool = AsyncConnectionPool(url, max_size=POOL_SIZE, open=False, kwargs={"autocommit": True})
    clients: list[AsyncQStash] = []

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await pool.open(wait=True)
            stack.push_async_callback(pool.close)
            if broker:
                base = broker
                if broker == "embedded":
                    sock = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
                    base = (await stack.enter_async_context(local_broker(Settings(broker_port=0), sock))).url
                client = qstash_client(DEV_QSTASH_TOKEN, base, local_broker=True)
                stack.push_async_callback(client.http._client.aclose)
                clients.append(client)
            yield

    def jsonb(value: object) -> Jsonb:
        return Jsonb(value, dumps=lambda v: encoder.encode(v).decode())

    async def publish(job_id: uuid.UUID, run: int) -> None:
        await clients[0].message.publish_json(url=public, body={"job_id": str(job_id), "run": run})

    @post("/bare/run", status_code=200)
    async def run(request: Request) -> Response[dict[str, Any]]:
        body = await request.body()
        try:
            verify_signature(request.headers.get("upstash-signature"), body, public, keys)
        except InvalidSignature as error:
            return Response({"detail": str(error)}, status_code=401)
        message = decoder.decode(body)
        event = {"type": "BatchRecorded", "at": datetime.now(UTC).isoformat(), "run": message.run}
        metadata = {"actor": "qstash", "message_id": request.headers.get("upstash-message-id")}
        async with pool.connection() as conn:
            await conn.execute(
                INSERT_BARE_EVENT,
                {
                    "stream_id": message.job_id,
                    "version": message.run,
                    "type": "BatchRecorded",
                    "data": jsonb(event),
                    "metadata": jsonb(metadata),
                },
            )
        if clients and message.run < runs:
            await publish(message.job_id, message.run + 1)
        return Response({"outcome": "recorded", "run": message.run})

    @post("/bare/start", status_code=200)
    async def start(data: StartMessage) -> None:
        """Every job's first run, published one after the other (as the relay does)."""
        for _ in range(data.jobs):
            await publish(uuid.uuid4(), 1)

    @get("/ready")
    async def ready() -> str:
        return "ok"

    # No logging set-up: warnings and errors reach stderr; nothing is logged per request.
    return Litestar([run, start, ready], lifespan=[lifespan], openapi_config=None, logging_config=None)


def serve_bare(port: int, workers: int) -> None:
    uvicorn.run(
        "bench_loop:bare_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        http="httptools",
        log_level="warning",
        access_log=False,
    )


@contextmanager
def bare_server(url: str, workers: int, runs: int, broker: str = "") -> Iterator[tuple[int, int]]:
    """Yields the port and the process id of the baselines' server, ready and settled."""
    port = free_port()
    env = {
        **os.environ,
        "BENCH_DATABASE_URL": url,
        "BENCH_RUN_URL": f"http://127.0.0.1:{port}/bare/run",
        "BENCH_RUNS": str(runs),
        "BENCH_BROKER": broker,
        "PYTHONPATH": os.pathsep.join(filter(None, (str(HERE), os.environ.get("PYTHONPATH")))),
    }
    command = [sys.executable, str(THIS), "--serve", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, env=env)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/ready", process, "the baseline's server")
        yield port, process.pid
    finally:
        stop(process)


@contextmanager
def standalone_broker() -> Iterator[tuple[str, int]]:
    """`jobtrail qstash-dev` on a free port: its URL and process id."""
    port = free_port()
    process = subprocess.Popen(
        [JOBTRAIL, "qstash-dev", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, process, "qstash-dev")
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        stop(process)


async def drive(port: int, jobs: int, runs: int) -> None:
    """N jobs in flight, run k+1 of a job sent once run k was answered."""
    url = f"http://127.0.0.1:{port}/bare/run"
    client = HttpClient(max_idle=jobs)

    async def one_job(job_id: uuid.UUID) -> None:
        for run in range(1, runs + 1):
            body = b'{"job_id":"%s","run":%d}' % (str(job_id).encode(), run)
            headers = [
                ("Content-Type", "application/json"),
                ("User-Agent", "Upstash-QStash"),
                ("Upstash-Message-Id", f"msg_{uuid.uuid4().hex}"),
                ("Upstash-Retried", "0"),
                ("Upstash-Signature", sign(DEV_CURRENT_SIGNING_KEY, url, body, int(time.time()))),
            ]
            response = await client.request("POST", url, headers=headers, body=body, timeout_s=60)
            if response.status != 200:
                raise SystemExit(f"the bare route answered {response.status}: {response.body[:300]!r}")

    try:
        await asyncio.gather(*(one_job(uuid.uuid4()) for _ in range(jobs)))
    finally:
        await client.aclose()


def baseline_database(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(CREATE_BARE_TABLES)
        conn.execute(ADD_RECORDED_AT)


def bare_cell(workers: int, jobs: int, runs: int) -> Cell:
    with scratch_database("loop") as url:
        baseline_database(url)
        with bare_server(url, workers, runs) as (port, pid):
            return measured(
                url, pid, os.getpid(), jobs, runs, lambda: asyncio.run(drive(port, jobs, runs)), BARE_WINDOW
            )


def brokered_cell(workers: int, jobs: int, runs: int) -> Cell:
    with scratch_database("loop") as url, contextlib.ExitStack() as stack:
        baseline_database(url)
        broker, broker_pid = "embedded", None
        if workers > 1:  # one broker for every worker, as `serve --workers` runs it
            broker, broker_pid = stack.enter_context(standalone_broker())
        port, pid = stack.enter_context(bare_server(url, workers, runs, broker))

        def work() -> None:
            httpx.post(f"http://127.0.0.1:{port}/bare/start", json={"jobs": jobs}, timeout=120).raise_for_status()
            asyncio.run(wait_until_recorded(url, BARE_PROGRESS, jobs * runs, timeout_s(jobs, runs)))

        return measured(url, pid, broker_pid, jobs, runs, work, BARE_WINDOW)


# --- main ---------------------------------------------------------------------------------


def print_cell(round_: int, name: str, workers: int, cell: Cell) -> None:
    print(
        f"  {round_:<5} {name:<8} {workers:>7} {cell.batches_per_s:>10,.0f} {cell.jobs_per_s:>8,.1f} "
        f"{cell.seconds:>8.2f} {cell.cpu_ms_per_batch:>10.2f}   "
        f"{cell.server_cpu_s:>7.1f} {cell.side_cpu_s:>7.1f} {cell.postgres_cpu_s:>7.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500, help="jobs in flight at once (default 500)")
    parser.add_argument("--runs", type=int, default=20, help="runs (batches) per job (default 20)")
    parser.add_argument("--workers", default="1,2", help="worker process counts, comma-separated (default 1,2)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds per worker count, the three alternating")
    parser.add_argument("--quick", action="store_true", help="100 jobs x 10 runs")
    parser.add_argument(
        "--relay-batch", type=int, help="the loop's JOBTRAIL_RELAY_BATCH (default: the setting's); 1: a publish a run"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve_bare(args.port, int(args.workers))
    jobs, runs = (100, 10) if args.quick else (args.jobs, args.runs)
    if not 1 <= runs <= DEMO.max_runs:
        raise SystemExit(f"--runs must be 1..{DEMO.max_runs} (demo.count's limit)")
    asked = [int(w) for w in args.workers.split(",")]
    counts = asked
    if any(w > 1 for w in asked) and not serve_has_workers():
        counts = [w for w in asked if w == 1]
        skipped = ", ".join(str(w) for w in asked if w > 1)
        print(f"note: this `jobtrail serve` has no --workers; skipped {skipped} worker(s)")

    cells = {
        "loop": lambda workers, scratch: loop_cell(workers, jobs, runs, scratch, args.relay_batch),
        "bare": lambda workers, scratch: bare_cell(workers, jobs, runs),
        "brokered": lambda workers, scratch: brokered_cell(workers, jobs, runs),
    }
    results: dict[tuple[str, int], list[Cell]] = {}
    print(f"the delivery loop: {jobs} jobs x {runs} runs of {PER_BATCH} items, zero delay, all in flight at once")
    print(f"  {'round':<5} {'':<8} {'workers':>7} {'batches/s':>10} {'jobs/s':>8} {'seconds':>8} "
          f"{'CPU ms/b':>10}   CPU s: server    side      PG")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench_loop_") as tmp:
        for workers in counts:
            for round_ in range(1, args.rounds + 1):
                for name, cell in cells.items():
                    result = cell(workers, Path(tmp))
                    results.setdefault((name, workers), []).append(result)
                    print_cell(round_, name, workers, result)

    summary: dict[str, Any] = {"bench": "loop", "jobs": jobs, "runs": runs, "relay_batch": args.relay_batch}
    print("\nratios (loop over baseline; by CPU: the baseline's CPU per batch over the loop's)")
    for workers in counts:
        loop = results["loop", workers]
        summary[f"loop_batches_per_s_{workers}"] = round(statistics.median(c.batches_per_s for c in loop))
        summary[f"loop_jobs_per_s_{workers}"] = round(statistics.median(c.jobs_per_s for c in loop), 1)
        summary[f"loop_cpu_ms_per_batch_{workers}"] = round(statistics.median(c.cpu_ms_per_batch for c in loop), 2)
        for name in ("bare", "brokered"):
            base = results[name, workers]
            pairs = list(zip(loop, base, strict=True))
            ratio = statistics.median(a.batches_per_s / b.batches_per_s for a, b in pairs)
            cpu_ratio = statistics.median(b.cpu_ms_per_batch / a.cpu_ms_per_batch for a, b in pairs)
            print(ratio_line(f"loop/{name} at {workers}", ratio) + f"   by CPU per batch {cpu_ratio:.2f}x")
            summary[f"{name}_batches_per_s_{workers}"] = round(statistics.median(c.batches_per_s for c in base))
            summary[f"{name}_cpu_ms_per_batch_{workers}"] = round(
                statistics.median(c.cpu_ms_per_batch for c in base), 2
            )
            summary[f"vs_{name}_{workers}"] = round(ratio, 2)
            summary[f"cpu_vs_{name}_{workers}"] = round(cpu_ratio, 2)
    summary["workers_skipped"] = [w for w in asked if w not in counts]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
