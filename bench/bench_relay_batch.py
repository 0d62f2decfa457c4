"""The relay's publish rate in batches against one publish per run, in the same run; and the whole loop with each.

1. Publish rate. A `jobtrail qstash-dev` process (the local broker) and, in this
   process, the relay (`service.qstash.relay.Relay` with the client `serve` gives it: the
   broker transport, one attempt, a 5 s timeout) on a fresh scratch database. Each cell
   queues N demo.count jobs (their first runs in the outbox, recorded as `POST /v1/jobs`
   records them) and holds every run an hour (the rows' `delay_s`), so that the broker
   delivers nothing while the relay is timed and the figure is the publish path alone:
   claim, publish, settle. Then rounds of `publish_pending` until no row is left, timed:
   runs published per second, and the CPU per run of this process (the relay and its
   database client), of the broker process and of the scratch database's PostgreSQL
   backends. The two cells, `batch_max=100` (`POST /v2/batch` of up to 100 runs) and
   `batch_max=1` (a plain publish per run: the relay before batches), alternate for
   --rounds rounds; a ratio per round, the median reported.

2. One due run. A round with a single due row publishes it with a plain publish. Beside
   it, what a batch of one would cost instead: M plain publishes and M batches of one
   message, one after the other (a fresh deduplication id each, held an hour), ms each.

3. The whole loop: bench_loop.py's loop cell (N jobs x R runs through `jobtrail serve`
   at one worker, its local broker, zero delay, all in flight at once) with
   `JOBTRAIL_RELAY_BATCH=100` and `=1`, alternating for --loop-rounds rounds.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bench_loop
import msgspec
import psycopg
from cpu import postgres_cpu_s, process_cpu_s
from databases import scratch_database
from psycopg.conninfo import conninfo_to_dict
from qstash import AsyncQStash
from ratios import ratio_line
from servers import free_port, stop, wait_for_port

from service.jobs.kinds import load_kinds
from service.qstash.batch_publish import publish_batch
from service.qstash.client import close_client, qstash_client
from service.qstash.relay import Relay
from service.settings import DEV_QSTASH_TOKEN
from service.store.database import create_pool

JOBTRAIL = str(Path(sys.executable).with_name("jobtrail"))
GOAL = 3.0
PUBLIC_URL = "http://127.0.0.1:9/jobtrail"  # never reached: every run is held an hour
HOLD_AN_HOUR = "UPDATE outbox SET delay_s = 3600 WHERE sent_at IS NULL"
UNSENT = "SELECT count(*) FROM outbox WHERE sent_at IS NULL"
MODES = {"batch": 100, "single": 1}


class Cell(msgspec.Struct, kw_only=True):
    runs: int
    seconds: float
    relay_cpu_s: float
    broker_cpu_s: float
    postgres_cpu_s: float

    @property
    def per_s(self) -> float:
        return self.runs / self.seconds

    def cpu_ms_per_run(self) -> float:
        return (self.relay_cpu_s + self.broker_cpu_s + self.postgres_cpu_s) * 1000 / self.runs


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


def cpu_now(broker_pid: int, database: str) -> tuple[float, float, float]:
    found = (process_cpu_s(os.getpid()), process_cpu_s(broker_pid), postgres_cpu_s(database))
    return tuple(float("nan") if seconds is None else seconds for seconds in found)  # type: ignore[return-value]


async def publish_cell(url: str, broker_url: str, broker_pid: int, runs: int, batch_max: int) -> Cell:
    """Queue `runs` held runs, then time the relay publishing them all."""
    await bench_loop.create_jobs(url, runs, 1)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(HOLD_AN_HOUR)
    pool = create_pool(url, max_size=4)
    await pool.open(wait=True)
    client = qstash_client(DEV_QSTASH_TOKEN, broker_url, local_broker=True)
    relay = Relay(pool, client, load_kinds(), PUBLIC_URL, batch_max=batch_max)
    database = str(conninfo_to_dict(url)["dbname"])
    try:
        before, started = cpu_now(broker_pid, database), time.perf_counter()
        published = 0
        while sent := await relay.publish_pending():
            published += sent
        elapsed, after = time.perf_counter() - started, cpu_now(broker_pid, database)
        async with pool.connection() as conn:
            row = await (await conn.execute(UNSENT)).fetchone()
        if published != runs or row != (0,):
            raise SystemExit(f"{published} of {runs} runs were published; {row} left unsent")
    finally:
        await close_client(client)
        await pool.close()
    used = [a - b for a, b in zip(after, before, strict=True)]
    return Cell(runs=runs, seconds=elapsed, relay_cpu_s=used[0], broker_cpu_s=used[1], postgres_cpu_s=used[2])


async def one_run_costs(broker_url: str, count: int) -> tuple[float, float]:
    """ms per request: a plain publish of one held run, and a batch of that one run."""
    client: AsyncQStash = qstash_client(DEV_QSTASH_TOKEN, broker_url, local_broker=True)

    def message() -> dict:
        job = str(uuid.uuid4())
        return {
            "url": f"{PUBLIC_URL}/qstash/run",
            "body": {"job_id": job, "run": 1},
            "deduplication_id": f"{job}-0-1",
            "failure_callback": f"{PUBLIC_URL}/qstash/failed",
            "retries": 3,
            "timeout": "30s",
            "delay": "3600s",
        }

    try:
        timings = {"publish": 0.0, "batch": 0.0}
        for _ in range(count):  # interleaved, so that a swing of the machine's speed touches both alike
            started = time.perf_counter()
            await client.message.publish_json(**message())
            timings["publish"] += time.perf_counter() - started
            started = time.perf_counter()
            await publish_batch(client, [message()])  # type: ignore[list-item]
            timings["batch"] += time.perf_counter() - started
    finally:
        await close_client(client)
    return timings["publish"] * 1000 / count, timings["batch"] * 1000 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="runs published per cell (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the two publish cells, alternating")
    parser.add_argument("--one", type=int, default=500, help="requests per kind when timing one due run")
    parser.add_argument("--loop-jobs", type=int, default=500)
    parser.add_argument("--loop-runs", type=int, default=20)
    parser.add_argument("--loop-rounds", type=int, default=1, help="rounds of the two loop cells; 0 skips the loop")
    parser.add_argument("--quick", action="store_true", help="500 runs x 2 rounds; the loop 100 jobs x 10 runs")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.rounds, args.one, args.loop_jobs, args.loop_runs = 500, 2, 200, 100, 10

    cells: dict[str, list[Cell]] = {mode: [] for mode in MODES}
    print(f"relay publish rate: {args.runs} held runs per cell, against `jobtrail qstash-dev`")
    print(f"  {'round':<5} {'mode':<8} {'runs/s':>9} {'seconds':>8} {'CPU ms/run':>11}   CPU s: relay  broker      PG")
    with scratch_database("relay_batch") as url, standalone_broker() as (broker_url, broker_pid):
        for round_ in range(1, args.rounds + 1):
            order = list(MODES) if round_ % 2 else list(reversed(MODES))
            for mode in order:
                cell = asyncio.run(publish_cell(url, broker_url, broker_pid, args.runs, MODES[mode]))
                cells[mode].append(cell)
                print(
                    f"  {round_:<5} {mode:<8} {cell.per_s:>9,.0f} {cell.seconds:>8.2f} {cell.cpu_ms_per_run():>11.3f}"
                    f"   {cell.relay_cpu_s:>12.2f} {cell.broker_cpu_s:>7.2f} {cell.postgres_cpu_s:>7.2f}",
                    flush=True,
                )
        publish_ms, batch_of_one_ms = asyncio.run(one_run_costs(broker_url, args.one))
    ratios = [b.per_s / s.per_s for b, s in zip(cells["batch"], cells["single"], strict=True)]
    cpu_ratios = [s.cpu_ms_per_run() / b.cpu_ms_per_run() for b, s in zip(cells["batch"], cells["single"], strict=True)]
    ratio = statistics.median(ratios)
    print(ratio_line("batches/single", ratio, GOAL) + f"   rounds: {', '.join(f'{r:.2f}' for r in ratios)}")
    print(ratio_line("  by CPU per run", statistics.median(cpu_ratios)))
    print(
        f"\none due run, {args.one} requests of each kind, interleaved: "
        f"plain publish {publish_ms:.2f} ms, batch of one {batch_of_one_ms:.2f} ms"
    )

    summary: dict[str, object] = {
        "bench": "relay_batch",
        "runs": args.runs,
        "batch_runs_per_s": round(statistics.median(c.per_s for c in cells["batch"])),
        "single_runs_per_s": round(statistics.median(c.per_s for c in cells["single"])),
        "vs_single": round(ratio, 2),
        "cpu_vs_single": round(statistics.median(cpu_ratios), 2),
        "goal": GOAL,
        "one_run_publish_ms": round(publish_ms, 2),
        "one_run_batch_ms": round(batch_of_one_ms, 2),
    }

    if args.loop_rounds > 0:
        loops: dict[str, list[bench_loop.Cell]] = {mode: [] for mode in MODES}
        print(f"\nthe whole loop: {args.loop_jobs} jobs x {args.loop_runs} runs, `jobtrail serve`, one worker")
        with tempfile.TemporaryDirectory(prefix="bench_relay_batch_") as tmp:
            for round_ in range(1, args.loop_rounds + 1):
                order = list(MODES) if round_ % 2 else list(reversed(MODES))
                for mode in order:
                    loop = bench_loop.loop_cell(1, args.loop_jobs, args.loop_runs, Path(tmp), MODES[mode])
                    loops[mode].append(loop)
                    print(
                        f"  {round_:<5} {mode:<8} {loop.batches_per_s:>9,.0f} batches/s {loop.seconds:>8.2f} s"
                        f" {loop.cpu_ms_per_batch:>8.2f} CPU ms/batch",
                        flush=True,
                    )
        loop_ratios = [b.batches_per_s / s.batches_per_s for b, s in zip(loops["batch"], loops["single"], strict=True)]
        print(ratio_line("loop batches/single", statistics.median(loop_ratios)))
        for mode in MODES:
            summary[f"loop_{mode}_batches_per_s"] = round(statistics.median(c.batches_per_s for c in loops[mode]))
            summary[f"loop_{mode}_cpu_ms_per_batch"] = round(
                statistics.median(c.cpu_ms_per_batch for c in loops[mode]), 2
            )
        summary["loop_vs_single"] = round(statistics.median(loop_ratios), 2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
