"""Where a signed delivery's CPU goes in the service: cProfile over in-process deliveries.

The app (`create_app(..., deliveries=False)`, as bench_deliveries.py serves it) is called as
an ASGI application, with no server and no socket, by `--concurrency` workers that each
deliver run 1, 2, ... of their own jobs, every request signed as QStash signs it. What
remains is the service's own work per delivery: Litestar, the middlewares, the signature,
the delivery, psycopg and the group commit (and the event loop's share). A first pass
runs unprofiled and prints the wall time and the CPU (this process's and the scratch
database's backends') per delivery, a quick A/B figure; a second, on other jobs, runs
under cProfile and prints the top functions.

    .venv/bin/python bench/profile_deliveries.py [--deliveries 3000] [--concurrency 32] [--sort tottime]
"""

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import uvloop  # noqa: E402
from bench_deliveries import create_jobs, sign  # noqa: E402
from cpu import postgres_cpu_s  # noqa: E402
from databases import scratch_database  # noqa: E402
from psycopg.conninfo import conninfo_to_dict  # noqa: E402

from service.app import create_app  # noqa: E402
from service.settings import Settings  # noqa: E402

PUBLIC_URL = "http://127.0.0.1:8000"


def delivery(job_id: uuid.UUID, run: int, now: int) -> tuple[dict[str, Any], bytes]:
    body = b'{"job_id":"%s","run":%d}' % (str(job_id).encode(), run)
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"Upstash-QStash"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"upstash-message-id", f"msg_{uuid.uuid4().hex}".encode()),
        (b"upstash-retried", b"0"),
        (b"upstash-signature", sign(f"{PUBLIC_URL}/qstash/run", body, now).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": "/qstash/run",
        "raw_path": b"/qstash/run",
        "query_string": b"",
        "headers": headers,
    }
    return scope, body


async def call(app: Any, scope: dict[str, Any], body: bytes) -> int:
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(scope), receive, send)
    return status


async def deliver_all(app: Any, requests: list[list[tuple[dict[str, Any], bytes]]]) -> None:
    async def worker(mine: list[tuple[dict[str, Any], bytes]]) -> None:
        for scope, body in mine:
            status = await call(app, scope, body)
            if status != 200:
                raise SystemExit(f"a delivery was answered {status}")

    await asyncio.gather(*(worker(mine) for mine in requests))


async def main(url: str, deliveries: int, concurrency: int, sort: str, top: int) -> None:
    per_worker = deliveries // concurrency
    jobs = await create_jobs(url, concurrency * 2)
    now = int(time.time())
    batches = []
    for round_ in range(2):  # the first runs unprofiled; the second under cProfile
        requests = []
        for w in range(concurrency):
            job = jobs[w * 2 + round_]
            requests.append([delivery(job, run, now) for run in range(1, per_worker + 1)])
        batches.append(requests)
    app = create_app(Settings(database_url=url, public_url=PUBLIC_URL), deliveries=False)
    total = per_worker * concurrency
    async with app.lifespan():
        database = str(conninfo_to_dict(url)["dbname"])
        started, cpu_started, pg_started = time.perf_counter(), time.process_time(), postgres_cpu_s(database)
        await deliver_all(app, batches[0])
        unprofiled = time.perf_counter() - started
        service_cpu, pg_cpu = time.process_time() - cpu_started, (postgres_cpu_s(database) or 0) - (pg_started or 0)
        print(
            f"{total} deliveries at {concurrency} concurrent, unprofiled: {unprofiled / total * 1e6:.0f} µs each;"
            f" CPU per delivery: service {service_cpu / total * 1e6:.0f} µs, PostgreSQL {pg_cpu / total * 1e6:.0f} µs"
        )
        if not top:  # the unprofiled pass alone (for a sampling profiler outside, say)
            return
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        await deliver_all(app, batches[1])
        profile.disable()
        profiled = time.perf_counter() - started
    print(f"(profiled: {profiled / total * 1e6:.0f} µs each)")
    pstats.Stats(profile).sort_stats(sort).print_stats(top)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=45)
    args = parser.parse_args()
    with scratch_database("profile_deliveries") as url:
        uvloop.run(main(url, args.deliveries, args.concurrency, args.sort, args.top))
