"""Schedule fires: signed `POST /qstash/schedules/{id}/fire` handled/s against `POST /v1/jobs` in the same run.

A full `jobtrail serve` (local broker, relay) on a scratch database. The bench creates
ROUNDS x N schedules through `POST /v1/schedules` (cron `* * * * *`, demo.count), waits
for the next minute boundary (a fire before a schedule's first tick after its creation
has no tick to fire: tick_for's DUPLICATE) and then, for ROUNDS rounds, runs two cells at
the same concurrency, each sending N requests with C in flight:

- fires: one signed fire per schedule, each to a schedule not fired before, so each
  finds a tick of its own and creates one job. Signed as the broker signs (HS256 JWT,
  protocol §10.3, `sub` = the server's public fire URL, `service.broker.signing`), each
  with its own Upstash-Message-Id, signed before the cell starts. If a minute boundary
  passes within the cell, a fire after it finds the newer tick: still one new job. Only
  `200 {"outcome": "fired"}` with a `job_id` counts as handled; any other answer is
  counted by outcome and reason and reported.
- creates: `POST /v1/jobs` with an API key, the schedules' kind and params.

Fair to both: each answer is one committed job, its JobCreated with one outbox row, so
the relay publishes one run and the broker delivers it in either cell (a one-run
demo.count job: one delivery, completed). Each cell starts once the previous cell's jobs
have completed, so neither inherits the other's background work, and the cells
alternate (fires first in odd rounds, creates first in even ones); the ratio is taken in
each round and the median reported. Beside it, the CPU per answered request of the
server's process tree (broker and relay included) and of the scratch database's
PostgreSQL backends.

Once the broker holds the schedules too (QStash's copy of each), it fires them at the
same minute boundary: a bench fire that comes second answers no_op/tick_already_fired,
counted apart and listed under `fires_not_creating_a_job`.

The client is the broker's own HTTP client (`service.broker.http_client`, keep-alive),
in this process: its cost per request is alike for both routes.
"""

import argparse
import asyncio
import collections
import json
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import servers
from cpu import postgres_cpu_s, tree_cpu_s
from databases import scratch_database
from psycopg.conninfo import conninfo_to_dict
from ratios import ratio_line

from service.auth.keys import Scope, create_key
from service.broker.http_client import HttpClient
from service.broker.signing import sign
from service.qstash.client import qstash_client
from service.settings import DEV_CURRENT_SIGNING_KEY, DEV_QSTASH_TOKEN

JOBTRAIL = str(Path(sys.executable).with_name("jobtrail"))
KIND = "demo.count"
PARAMS = {"total": 20, "per_batch": 20}  # one run: the relay publishes it, the broker delivers it once
SCHEDULE = {"kind": KIND, "params": PARAMS, "cron": "* * * * *"}
JOB = {"kind": KIND, "params": PARAMS}
GOAL = 0.8
PER_CELL = 500  # --quick: 150
ROUNDS = 3  # --quick: 1
CONCURRENCY = 8
WARM_UP = 64  # requests of each route before the first round (pools filled, code paths hot)
TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 60.0
BOUNDARY_MARGIN_S = 0.2

UNFINISHED = "SELECT count(*) FROM job_status WHERE status IN ('pending', 'processing')"


class Cell(msgspec.Struct, kw_only=True):
    handled: int
    seconds: float
    outcomes: dict[str, int]
    server_cpu_us: float
    postgres_cpu_us: float

    @property
    def per_s(self) -> float:
        return self.handled / self.seconds


Send = Callable[[HttpClient, int], Awaitable[str]]  # request i -> its outcome ("ok" counts)


async def run_cell(n: int, concurrency: int, send: Send, pid: int, database: str) -> Cell:
    """N requests, `concurrency` in flight; each worker takes the next index when its last answered."""
    client = HttpClient(max_idle=concurrency)
    indexes = iter(range(n))
    outcomes: collections.Counter[str] = collections.Counter()

    async def worker() -> None:
        for i in indexes:
            outcomes[await send(client, i)] += 1

    before = tree_cpu_s(pid), postgres_cpu_s(database)
    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        seconds = time.perf_counter() - started
        await client.aclose()
    after = tree_cpu_s(pid), postgres_cpu_s(database)
    handled = outcomes["ok"]
    cpu = [
        (end - start) * 1e6 / handled if start is not None and end is not None and handled else math.nan
        for start, end in zip(before, after, strict=True)
    ]
    return Cell(handled=handled, seconds=seconds, outcomes=dict(outcomes), server_cpu_us=cpu[0], postgres_cpu_us=cpu[1])


def api_sender(base: str, key: str, path: str, document: dict[str, Any], created: list[str] | None = None) -> Send:
    body = json.dumps(document).encode()
    headers = [("Authorization", f"Bearer {key}"), ("Content-Type", "application/json")]

    async def send(client: HttpClient, _i: int) -> str:
        response = await client.request("POST", f"{base}{path}", headers=headers, body=body, timeout_s=TIMEOUT_S)
        if response.status != 201:
            return f"http_{response.status}"
        if created is not None:
            created.append(json.loads(response.body)["id"])
        return "ok"

    return send


def fire_sender(base: str, schedule_ids: list[str]) -> Send:
    """Fires of these schedules, one each, signed now (a token lives 300 s)."""
    body = b""
    signed = []
    now = int(time.time())
    for schedule_id in schedule_ids:
        url = f"{base}/qstash/schedules/{schedule_id}/fire"
        signed.append((url, sign(DEV_CURRENT_SIGNING_KEY, url, body, now)))

    async def send(client: HttpClient, i: int) -> str:
        url, signature = signed[i]
        headers = [
            ("User-Agent", "Upstash-QStash"),
            ("Upstash-Message-Id", f"msg_{uuid.uuid4().hex}"),
            ("Upstash-Retried", "0"),
            ("Upstash-Signature", signature),
        ]
        response = await client.request("POST", url, headers=headers, body=body, timeout_s=TIMEOUT_S)
        if response.status != 200:
            return f"http_{response.status}"
        answer = json.loads(response.body)
        if answer.get("outcome") == "fired" and answer.get("job_id"):
            return "ok"
        return f"{answer.get('outcome')}:{answer.get('reason')}"

    return send


async def drain(url: str) -> None:
    """Until every job created so far has completed: the next cell starts on an idle server."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while True:
            row = await (await conn.execute(UNFINISHED)).fetchone()
            assert row is not None
            if row[0] == 0:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"{row[0]} jobs still unfinished after {DRAIN_TIMEOUT_S:g} s")
            await asyncio.sleep(0.05)


async def wait_for_minute_boundary(after: float) -> float:
    """Sleep until the first minute boundary past `after` (epoch seconds); the seconds waited."""
    boundary = (math.floor(after / 60) + 1) * 60 + BOUNDARY_MARGIN_S
    wait = max(0.0, boundary - time.time())
    await asyncio.sleep(wait)
    return wait


async def forget_broker_copies(broker_url: str, schedule_ids: list[str]) -> None:
    """Delete the broker's copy of every bench schedule, so that only the bench fires them:
    the broker would fire each at the same minute boundary, and every bench fire arriving
    second would time a no-op. The keeper puts them back only at its next check, which the
    bench sets an hour away (a fire does not wake it)."""
    await asyncio.sleep(1)  # the keeper's last wake from the creates has run
    client = qstash_client(DEV_QSTASH_TOKEN, broker_url, local_broker=False)
    try:
        for schedule_id in schedule_ids:
            await client.schedule.delete(schedule_id)
    finally:
        await client.http._client.aclose()


async def measure(
    base: str, broker_url: str, url: str, key: str, pid: int, per_cell: int, rounds: int, concurrency: int
) -> dict[str, list[Cell]]:
    database = str(conninfo_to_dict(url)["dbname"])
    schedule_ids: list[str] = []
    make = api_sender(base, key, "/v1/schedules", SCHEDULE, schedule_ids)
    made = await run_cell(WARM_UP + rounds * per_cell, concurrency, make, pid, database)
    if made.handled != WARM_UP + rounds * per_cell:
        raise SystemExit(f"creating schedules: {made.outcomes}")
    await forget_broker_copies(broker_url, schedule_ids)
    created_by = time.time()
    print(f"{made.handled} schedules created through POST /v1/schedules in {made.seconds:.1f} s "
          f"({made.per_s:,.0f}/s)")  # fmt: skip
    create = api_sender(base, key, "/v1/jobs", JOB)
    warm_creates = await run_cell(WARM_UP, concurrency, create, pid, database)
    await drain(url)
    waited = await wait_for_minute_boundary(created_by)
    print(f"waited {waited:.1f} s for the minute boundary: the schedules' first tick")
    warm_fires = await run_cell(WARM_UP, concurrency, fire_sender(base, schedule_ids[:WARM_UP]), pid, database)
    for name, cell in (("creates", warm_creates), ("fires", warm_fires)):
        if cell.handled != WARM_UP:
            raise SystemExit(f"warm-up {name}: {cell.outcomes}")
    await drain(url)

    print(f"\n{per_cell} requests per cell, {concurrency} in flight, {rounds} round(s); the client: "
          "service.broker.http_client in this process")  # fmt: skip
    print(f"  {'round':<5} {'cell':<8} {'handled/s':>10} {'seconds':>8}   CPU µs per handled: server  PostgreSQL   "
          "answers")  # fmt: skip
    results: dict[str, list[Cell]] = {"fires": [], "creates": []}
    for round_ in range(rounds):
        start = WARM_UP + round_ * per_cell
        fire = fire_sender(base, schedule_ids[start : start + per_cell])
        order = (("fires", fire), ("creates", create)) if round_ % 2 == 0 else (("creates", create), ("fires", fire))
        for name, send in order:
            cell = await run_cell(per_cell, concurrency, send, pid, database)
            results[name].append(cell)
            print(
                f"  {round_ + 1:<5} {name:<8} {cell.per_s:>10,.0f} {cell.seconds:>8.2f}   "
                f"{cell.server_cpu_us:>26,.0f} {cell.postgres_cpu_us:>11,.0f}   {json.dumps(cell.outcomes)}"
            )
            await drain(url)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"1 round of 150 requests per cell instead of {ROUNDS} of {PER_CELL}"
    )
    parser.add_argument("--per-cell", type=int, help=f"requests per cell (default {PER_CELL})")
    parser.add_argument("--rounds", type=int, help=f"rounds (default {ROUNDS})")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="requests in flight in each cell")
    args = parser.parse_args()
    per_cell = args.per_cell or (150 if args.quick else PER_CELL)
    rounds = args.rounds or (1 if args.quick else ROUNDS)

    broker_port = servers.free_port()
    env = {
        **os.environ,
        "JOBTRAIL_BROKER_TIME_SCALE": "1",
        "JOBTRAIL_LOG_LEVEL": "warning",
        "JOBTRAIL_BROKER_PORT": str(broker_port),
        "JOBTRAIL_SCHEDULE_CHECK_S": "3600",  # see forget_broker_copies
    }
    env.pop("QSTASH_TOKEN", None)
    with tempfile.TemporaryDirectory(prefix="bench_schedules_") as tmp, scratch_database("schedules") as url:
        key = asyncio.run(_key(url))
        command = [JOBTRAIL, "serve"]
        with servers.jobtrail_serve(command, url, Path(tmp), env) as (base, process):
            broker_url = f"http://127.0.0.1:{broker_port}"
            results = asyncio.run(measure(base, broker_url, url, key, process.pid, per_cell, rounds, args.concurrency))

    fires = [cell.per_s for cell in results["fires"]]
    creates = [cell.per_s for cell in results["creates"]]
    ratios = [f / c for f, c in zip(fires, creates, strict=True)]
    ratio = statistics.median(ratios)
    cpu_ratios = [_cpu(c) / _cpu(f) for f, c in zip(results["fires"], results["creates"], strict=True)]
    print("\nratios")
    print(ratio_line("fires/creates", ratio, GOAL) + f"   rounds: {', '.join(f'{r:.2f}' for r in ratios)}")
    print(ratio_line("  by CPU per request", statistics.median(cpu_ratios)))
    unhandled = collections.Counter[str]()
    for cell in results["fires"]:
        unhandled.update({k: v for k, v in cell.outcomes.items() if k != "ok"})
    summary = {
        "bench": "schedules",
        "concurrency": args.concurrency,
        "per_cell": per_cell,
        "fires_per_s": round(statistics.median(fires)),
        "creates_per_s": round(statistics.median(creates)),
        "fires_vs_creates": round(ratio, 2),
        "fires_vs_creates_rounds": [round(r, 2) for r in ratios],
        "cpu_fires_vs_creates": round(statistics.median(cpu_ratios), 2),
        "fires_not_creating_a_job": dict(unhandled),
        "goal_vs_creates": GOAL,
        "goal_met": ratio >= GOAL,
    }
    print(json.dumps(summary))


async def _key(url: str) -> str:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await create_key(conn, "bench", (Scope.JOBS_READ, Scope.JOBS_WRITE))


def _cpu(cell: Cell) -> float:
    return cell.server_cpu_us + cell.postgres_cpu_us


if __name__ == "__main__":
    main()
