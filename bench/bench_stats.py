"""Statistics: the stats projection's catch-up rate, /v1/stats query time, metrics overhead.

1. Catch-up from zero of `projections.stats.StatsProjection` over a log loaded like
   bench_rebuild's (jobs of 20 events), against the runner feeding a subscriber that
   does nothing (the cost of reading and decoding the log alone).
2. The five queries behind `GET /v1/stats` over that view, every job in the window
   (median of 20).
3. In-process CPU per request of the metrics middleware (service/health/http_metrics.py)
   around an ASGI app that answers at once, beside Litestar's Prometheus middleware
   (the alternative it stands in for) measured the same way; and of `Metrics.appended` per command.
"""

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import psycopg
from bench_rebuild import EVENTS_PER_JOB, load
from databases import scratch_database
from ratios import ratio_line

from domain.events import AnyEvent, BatchRecorded, ContinuationScheduled
from domain.state import JobState
from projections.log import RecordedEvent
from projections.runner import catch_up
from projections.stats import StatsProjection, reset
from service.health import stats
from service.health.http_metrics import http_metrics
from service.health.metrics import Metrics

GOAL_VS_NOOP = 0.5
GOAL_QUERY_MS = 50.0
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
FORGET = "DELETE FROM projection_checkpoints WHERE name = %(name)s"


class Noop:
    name = "noop"

    async def apply(self, conn: psycopg.AsyncConnection, events: Sequence[RecordedEvent]) -> None:
        pass


async def catch_up_s(url: str, subscriber) -> tuple[float, int]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(FORGET, {"name": subscriber.name})
        if isinstance(subscriber, StatsProjection):
            await reset(conn)
        started = time.perf_counter()
        count = await catch_up(conn, subscriber)
        return time.perf_counter() - started, count


async def query_ms(url: str, repeats: int = 20) -> float:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            await stats.job_counts(conn, LONG_AGO, None)
            await stats.finished(conn, LONG_AGO, None)
            await stats.stuck(conn, datetime.now(UTC), 900.0, None)
            await stats.backlog(conn)
            await stats.lag(conn)
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def middleware_us(requests: int = 20_000) -> tuple[float, float, float]:
    """CPU µs per request: through our metrics middleware, through Litestar's, and straight to the app."""
    from litestar import Litestar, get
    from litestar.plugins.prometheus import PrometheusConfig

    @get("/ping", sync_to_thread=False)
    def ping() -> str:
        return "pong"

    plain = Litestar([ping])
    ours = Litestar([ping], middleware=[http_metrics(Metrics())])
    litestars = Litestar([ping], middleware=[PrometheusConfig(app_name="bench", group_path=True).middleware])
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/ping",
        "raw_path": b"/ping",
        "query_string": b"",
        "headers": [],
        "http_version": "1.1",
        "scheme": "http",
        "root_path": "",
        "server": ("x", 80),
    }

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        pass

    async def run(app: Litestar) -> float:
        started = time.process_time()
        for _ in range(requests):
            await app(dict(scope, app=app, state={}), receive, send)  # type: ignore[arg-type]  # a minimal scope
        return (time.process_time() - started) / requests * 1e6

    return await run(ours), await run(litestars), await run(plain)


def appended_us(commands: int = 100_000) -> float:
    metrics = Metrics()
    at = datetime.now(UTC)
    events: list[AnyEvent] = [
        BatchRecorded(at=at, run=1, results=20, has_more=True, duration_ms=250),
        ContinuationScheduled(at=at + timedelta(seconds=1), run=2, delay_s=0.0),
    ]
    state = JobState(kind="demo.count")
    started = time.process_time()
    for _ in range(commands):
        metrics.appended(events, state, 0.001)
    return (time.process_time() - started) / commands * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--quick", action="store_true", help="100,000 events")
    args = parser.parse_args()
    events = 100_000 if args.quick else args.events

    with scratch_database("stats") as url:
        count, _ = load(url, max(1, events // EVENTS_PER_JOB))
        noop_s = min(asyncio.run(catch_up_s(url, Noop()))[0] for _ in range(2))
        stats_s = min(asyncio.run(catch_up_s(url, StatsProjection()))[0] for _ in range(2))
        query = asyncio.run(query_ms(url))
    through, litestars, plain = asyncio.run(middleware_us())
    per_command = appended_us()

    noop_rate, stats_rate = count / noop_s, count / stats_s
    print(f"log of {count:,} events ({count // EVENTS_PER_JOB:,} jobs), catch-up from zero, best of 2")
    print(f"  runner, no-op subscriber   {noop_rate:12,.0f} events/s")
    print(f"  runner, stats projection   {stats_rate:12,.0f} events/s")
    print(f"GET /v1/stats queries, every job in the window: {query:.1f} ms (median of 20)")
    print(f"metrics middleware: {through - plain:.1f} µs CPU per request ({through:.1f} with, {plain:.1f} without)")
    print(f"  Litestar's Prometheus middleware, the same way: {litestars - plain:.1f} µs")
    print(f"Metrics.appended: {per_command:.2f} µs CPU per command (2 events)")
    print("\nratios")
    print(ratio_line("stats/no-op catch-up", stats_rate / noop_rate, GOAL_VS_NOOP))
    print(ratio_line("middleware µs, ours/Litestar", (through - plain) / (litestars - plain)))
    print(
        json.dumps(
            {
                "bench": "stats",
                "events": count,
                "noop_events_per_s": round(noop_rate),
                "stats_events_per_s": round(stats_rate),
                "vs_noop": round(stats_rate / noop_rate, 2),
                "goal_vs_noop": GOAL_VS_NOOP,
                "stats_query_ms": round(query, 1),
                "goal_query_ms": GOAL_QUERY_MS,
                "middleware_us": round(through - plain, 1),
                "litestar_middleware_us": round(litestars - plain, 1),
                "middleware_vs_litestar": round((through - plain) / (litestars - plain), 2),
                "appended_us": round(per_command, 2),
                "goal_met": stats_rate / noop_rate >= GOAL_VS_NOOP and query <= GOAL_QUERY_MS,
            }
        )
    )


if __name__ == "__main__":
    main()
