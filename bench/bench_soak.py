"""Soak: minutes of steady mixed load on `jobtrail serve`, and whether its memory stays flat.

One `jobtrail serve` process (in-process broker, relay, stats projection, event feed) on
a scratch database; this process is the load, at a steady pace rather than flat out, so
that the server has the same work every minute:

- `--clients` loops, each once per `clients / --rate` seconds: create a `demo.count` job
  (5 runs through the broker), read its status, list the owner's jobs, read the results
  of the job created the cycle before, `/healthz`; every 10th cycle also `/metrics` and
  `/v1/stats`, and cancels the job it has just created.
- one live-stream client: watches a fresh job (`/watch`) until it completes, then reads
  `/v1/events/stream` for a few seconds and hangs up mid-stream; over and over.

The server's resident memory (RSS, from /proc) is sampled every `--sample-s`. The figures
are RSS when the load starts, after `--warmup-s` (pools open, every code path run, and
what fills once and then stays full: Litestar's routing cache of 1,024 paths, and the
local broker's finished messages, kept 300 s, with its message log of 10,000 entries,
full at about 300 s at this pace; hence a warm-up of 360 s), at the end, the growth
between the last two, and the slope over the last half of the run after warm-up (MB a
minute; what a longer run would add). Every answer that is not the one expected counts as
an error; the server's warning and error log lines are counted beside them. Goal: growth
after warm-up under 5 %, and no errors.

`--trace`: the server runs under tracemalloc and writes a snapshot after warm-up and at
the end; the allocation sites that grew most between them are printed. Tracing costs
memory and time of its own: its RSS figures are not the goal's.
"""

import argparse
import asyncio
import collections
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import servers
from databases import scratch_database

from service.auth.keys import Scope, create_key

THIS = Path(__file__).resolve()
GOAL_GROWTH_PCT = 5.0
JOB = {"kind": "demo.count", "params": {"total": 100, "per_batch": 20}}  # 5 runs
HEAVY_EVERY = 10  # cycles between a client's /metrics, /v1/stats and cancel
EVENTS_STREAM_S = 3.0  # how long the live client reads the global stream before hanging up
TRACE_FRAMES = 8
TRACE_TOP = 15

COUNT_STATUSES = "SELECT status, count(*) FROM job_status GROUP BY status"


# --- the server -------------------------------------------------------------------------


def serve_traced(snapshot_dir: Path) -> int:
    """`jobtrail serve` under tracemalloc; SIGUSR1 writes the next snapshot to `snapshot_dir`."""
    from service.cli import main

    tracemalloc.start(TRACE_FRAMES)
    taken = 0

    def snapshot(_signum: int, _frame: object) -> None:
        nonlocal taken
        taken += 1
        tracemalloc.take_snapshot().dump(str(snapshot_dir / f"{taken}.part"))
        (snapshot_dir / f"{taken}.part").rename(snapshot_dir / f"{taken}.snapshot")

    signal.signal(signal.SIGUSR1, snapshot)
    return main(["serve"])


@contextmanager
def jobtrail_serve(url: str, data_dir: Path, trace_dir: Path | None) -> Iterator[tuple[str, int]]:
    """The server's base URL and process id, once it answers /readyz."""
    env = dict(os.environ)
    env.pop("QSTASH_TOKEN", None)
    if trace_dir is not None:
        command = [sys.executable, str(THIS), "--serve-traced", str(trace_dir)]
    else:
        command = [sys.executable, "-c", "import sys; from service.cli import main; sys.exit(main(['serve']))"]
    with servers.jobtrail_serve(command, url, data_dir, env) as (base, process):
        yield base, process.pid


def log_lines(log: Path) -> collections.Counter[tuple[str, str]]:
    """The server's warning and error lines, by (level, event); a traceback counts as an error."""
    counted: collections.Counter[tuple[str, str]] = collections.Counter()
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            if line.startswith("Traceback"):
                counted["error", "traceback"] += 1
            continue
        if isinstance(entry, dict) and entry.get("level") in ("warning", "error", "critical"):
            counted[entry["level"], str(entry.get("event"))[:100]] += 1
    return counted


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid`, in MB (VmRSS in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no VmRSS for process {pid}")


async def new_key(url: str, scopes: tuple[Scope, ...]) -> str:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await create_key(conn, "soak", scopes)


def statuses(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute(COUNT_STATUSES).fetchall())


# --- the load ---------------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.jobs = 0
        self.streams = 0
        self.first_errors: list[str] = []

    def answered(self, response: httpx.Response, *expected: int) -> bool:
        self.requests += 1
        if response.status_code in (expected or (200,)):
            return True
        self.failed(f"{response.request.method} {response.request.url.path}: {response.status_code} "
                    f"{response.text[:200]}")  # fmt: skip
        return False

    def failed(self, what: str) -> None:
        self.errors += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(what)


async def client_loop(http: httpx.AsyncClient, key: str, period_s: float, stop: float, tally: Tally) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    previous: str | None = None
    cycle = 0
    next_at = time.monotonic()
    while time.monotonic() < stop:
        cycle += 1
        try:
            created = await http.post("/v1/jobs", json=JOB, headers=auth)
            if tally.answered(created, 201):
                tally.jobs += 1
                job_id = created.json()["id"]
                tally.answered(await http.get(f"/v1/jobs/{job_id}", headers=auth))
                tally.answered(await http.get("/v1/jobs", params={"limit": 20}, headers=auth))
                if previous is not None:
                    tally.answered(await http.get(f"/v1/jobs/{previous}/results", headers=auth))
                previous = job_id
                if cycle % HEAVY_EVERY == 0:
                    # 409 when its five runs were quicker than this client
                    tally.answered(await http.post(f"/v1/jobs/{job_id}/cancel", json={}, headers=auth), 200, 409)
            tally.answered(await http.get("/healthz"))
            if cycle % HEAVY_EVERY == 0:
                tally.answered(await http.get("/metrics"))
                tally.answered(await http.get("/v1/stats", headers=auth))
        except httpx.HTTPError as error:
            tally.failed(f"{type(error).__name__}: {error}")
        next_at += period_s
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def live_loop(http: httpx.AsyncClient, key: str, audit_key: str, stop: float, tally: Tally) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    while time.monotonic() < stop:
        try:
            created = await http.post("/v1/jobs", json=JOB, headers=auth)
            if not tally.answered(created, 201):
                await asyncio.sleep(1)
                continue
            tally.jobs += 1
            job_id = created.json()["id"]
            async with http.stream("GET", f"/v1/jobs/{job_id}/watch", headers=auth) as watch:
                if tally.answered(watch, 200):
                    async for line in watch.aiter_lines():
                        if '"status":"completed"' in line:
                            break  # the server ends the stream after it too; whoever is first
            tally.streams += 1
            audit = {"Authorization": f"Bearer {audit_key}"}
            async with http.stream("GET", "/v1/events/stream", headers=audit) as events:
                if tally.answered(events, 200):
                    ends = time.monotonic() + EVENTS_STREAM_S
                    async for _line in events.aiter_lines():
                        if time.monotonic() > ends:
                            break  # hang up mid-stream
            tally.streams += 1
        except httpx.HTTPError as error:
            tally.failed(f"live: {type(error).__name__}: {error}")
            await asyncio.sleep(1)


Samples = list[tuple[float, float]]  # (seconds since the load started, RSS in MB)


async def sample_loop(pid: int, every_s: float, stop: float, started: float, samples: Samples) -> None:
    while time.monotonic() < stop:
        samples.append((time.monotonic() - started, rss_mb(pid)))
        await asyncio.sleep(every_s)
    samples.append((time.monotonic() - started, rss_mb(pid)))


async def soak(base: str, pid: int, url: str, args: argparse.Namespace, trace_dir: Path | None) -> dict[str, Any]:
    key = await new_key(url, (Scope.JOBS_READ, Scope.JOBS_WRITE))
    audit_key = await new_key(url, (Scope.AUDIT_READ,))
    tally = Tally()
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    stop = started + args.minutes * 60
    period_s = args.clients / args.rate
    limits = httpx.Limits(max_connections=args.clients + 4)
    timeout = httpx.Timeout(30.0)
    rss_at_start = rss_mb(pid)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as http:
        tasks = [asyncio.create_task(client_loop(http, key, period_s, stop, tally)) for _ in range(args.clients)]
        tasks.append(asyncio.create_task(live_loop(http, key, audit_key, stop, tally)))
        tasks.append(asyncio.create_task(sample_loop(pid, args.sample_s, stop, started, samples)))
        if trace_dir is not None:
            tasks.append(asyncio.create_task(snapshot_at(pid, trace_dir, 1, started + args.warmup_s)))
        await asyncio.gather(*tasks)
    if trace_dir is not None:
        await snapshot_at(pid, trace_dir, 2, time.monotonic())
    return {"tally": tally, "samples": samples, "rss_at_start": rss_at_start, "seconds": time.monotonic() - started}


async def snapshot_at(pid: int, trace_dir: Path, number: int, at: float) -> None:
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while not (trace_dir / f"{number}.snapshot").exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"the server wrote no tracemalloc snapshot {number}")
        await asyncio.sleep(0.5)


# --- figures ------------------------------------------------------------------------------


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of RSS over time."""
    if len(samples) < 2:
        return 0.0
    times = [t for t, _ in samples]
    values = [v for _, v in samples]
    return statistics.linear_regression(times, values).slope * 60


def at_or_after(samples: list[tuple[float, float]], t: float) -> float:
    return next((v for at, v in samples if at >= t), samples[-1][1])


def print_trace(trace_dir: Path) -> None:
    first = tracemalloc.Snapshot.load(str(trace_dir / "1.snapshot"))
    last = tracemalloc.Snapshot.load(str(trace_dir / "2.snapshot"))
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    first, last = first.filter_traces(ignore), last.filter_traces(ignore)
    total = sum(s.size for s in last.statistics("filename")) - sum(s.size for s in first.statistics("filename"))
    print(f"\ntracemalloc: traced memory grew {total / 1024:,.0f} KiB between warm-up and the end; top sites:")
    for stat in last.compare_to(first, "traceback")[:TRACE_TOP]:
        print(f"  {stat.size_diff / 1024:+9,.0f} KiB {stat.count_diff:+8,d} blocks")
        for line in stat.traceback.format(limit=TRACE_FRAMES, most_recent_first=True)[:10]:
            print(f"      {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the load, warm-up included (10)")
    parser.add_argument("--warmup-s", type=float, default=360.0, help="load before the first figure (360)")
    parser.add_argument("--clients", type=int, default=4, help="request loops (4)")
    parser.add_argument("--rate", type=float, default=4.0, help="cycles a second, all clients together (4)")
    parser.add_argument("--sample-s", type=float, default=5.0, help="seconds between RSS samples (5)")
    parser.add_argument("--trace", action="store_true", help="run the server under tracemalloc; print what grew")
    parser.add_argument("--serve-traced", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_traced:
        sys.exit(serve_traced(args.serve_traced))
    if args.warmup_s >= args.minutes * 60:
        raise SystemExit("--warmup-s must be shorter than the run")

    with tempfile.TemporaryDirectory(prefix="bench_soak_") as tmp, scratch_database("soak") as url:
        data_dir = Path(tmp)
        trace_dir = data_dir / "trace" if args.trace else None
        if trace_dir is not None:
            trace_dir.mkdir()
        with jobtrail_serve(url, data_dir, trace_dir) as (base, pid):
            result = asyncio.run(soak(base, pid, url, args, trace_dir))
            time.sleep(10)  # the last jobs' runs
            by_status = statuses(url)
        logged = log_lines(data_dir / "server.log")
        if trace_dir is not None:
            print_trace(trace_dir)

    tally: Tally = result["tally"]
    samples: list[tuple[float, float]] = result["samples"]
    seconds: float = result["seconds"]
    warm = at_or_after(samples, args.warmup_s)
    end = samples[-1][1]
    peak = max(v for _, v in samples)
    growth = (end - warm) / warm * 100
    half = samples[-1][0] - (samples[-1][0] - args.warmup_s) / 2
    slope = slope_mb_per_min([s for s in samples if s[0] >= half])
    met = growth < GOAL_GROWTH_PCT and tally.errors == 0

    print(f"soak: jobtrail serve (local broker, relay), {seconds / 60:.1f} min of mixed load, "
          f"{args.clients} clients at {args.rate:g} cycles/s + one live-stream client")  # fmt: skip
    print(f"  requests {tally.requests:,} ({tally.requests / seconds:.1f}/s), jobs created {tally.jobs:,}, "
          f"live streams {tally.streams:,}, errors {tally.errors}")  # fmt: skip
    for error in tally.first_errors:
        print(f"    error: {error}")
    print(f"  jobs by status at the end: {json.dumps(by_status, sort_keys=True)}")
    print(f"  server log: {sum(logged.values())} warning or error lines" + (":" if logged else ""))
    for (level, event), count in logged.most_common(5):
        print(f"    {count:6,d} {level}: {event}")
    print(f"  RSS MB: at start {result['rss_at_start']:.1f}, after {args.warmup_s:g} s warm-up {warm:.1f}, "
          f"end {end:.1f}, peak {peak:.1f}")  # fmt: skip
    print(f"  growth after warm-up {growth:+.1f} %; slope over the last half {slope:+.2f} MB/min")
    if args.trace:
        print("  (under tracemalloc: these RSS figures include its own bookkeeping)")
    print("  RSS samples (s, MB): " + ", ".join(f"{t:.0f}:{v:.1f}" for t, v in samples[:: max(1, len(samples) // 24)]))
    print("\nratios")
    print(f"  {'growth after warm-up / goal':<28} {growth / GOAL_GROWTH_PCT:8.2f}x   goal < 1 "
          f"({GOAL_GROWTH_PCT:g} %), no errors  {'MET' if met else 'NOT MET'}")  # fmt: skip
    summary = {
        "bench": "soak",
        "minutes": round(seconds / 60, 1),
        "requests": tally.requests,
        "errors": tally.errors,
        "log_warnings_and_errors": sum(logged.values()),
        "jobs": tally.jobs,
        "rss_start_mb": round(result["rss_at_start"], 1),
        "rss_warm_mb": round(warm, 1),
        "rss_end_mb": round(end, 1),
        "growth_pct": round(growth, 2),
        "slope_mb_per_min": round(slope, 3),
        "growth_vs_goal": round(growth / GOAL_GROWTH_PCT, 2),
        "goal_growth_pct": GOAL_GROWTH_PCT,
        "goal_met": met,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
