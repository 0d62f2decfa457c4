"""The overview page: how the service is doing now and over the last hour and day.

Its figures are `GET /v1/stats`'s (service/health/stats.py, judged by
service/health/verdict.py, over the same hour), read in one snapshot so they agree, and
tenanted the same way: an owner's key sees its own jobs, an `audit:read` key every
owner's; the backlog and the lag are the service's. The trends are jobs finished per
bucket (five minutes over the hour, an hour over the day), from the `job_stats` view's
index on `finished_at` (projections/stats.py), never from the log.
"""

from datetime import datetime, timedelta
from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool

from domain.lifecycle import Status
from projections import stats as job_stats
from service.api.stats import DEFAULT_WINDOW_S, SNAPSHOT
from service.auth.keys import Principal, Scope
from service.dashboard.charts import Bar, Segment, bar_chart
from service.health import stats
from service.health.verdict import judge
from service.qstash.broker_status import BrokerStatus
from service.qstash.self_probe import ProbeStatus


class Window(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    span: timedelta
    step: timedelta
    label_format: str
    label_every: int


HOUR = Window(name="hour", span=timedelta(hours=1), step=timedelta(minutes=5), label_format="%H:%M", label_every=3)
DAY = Window(name="day", span=timedelta(days=1), step=timedelta(hours=1), label_format="%H:00", label_every=4)


class Bucket(msgspec.Struct, frozen=True):
    start: datetime
    finished: int
    failed: int


class Trend(msgspec.Struct, frozen=True, kw_only=True):
    window: str
    finished: int
    failed: int
    failure_rate: float | None
    throughput: Any  # Markup: the SVG
    failures: Any


def buckets(window: Window, now: datetime, rows: list[tuple[datetime, int, int]]) -> list[Bucket]:
    """Every bucket of the window, empty ones too, from the rows of those that have jobs."""
    origin = now - window.span
    count = round(window.span / window.step)
    found = {round((start - origin) / window.step): (finished, failed) for start, finished, failed in rows}
    filled = [Bucket(origin + i * window.step, *found.get(i, (0, 0))) for i in range(count)]
    late = [v for i, v in found.items() if i >= count]  # finished a moment after `now` was read
    if late and filled:
        last = filled[-1]
        filled[-1] = Bucket(last.start, last.finished + sum(f for f, _ in late), last.failed + sum(f for _, f in late))
    return filled


def trend(window: Window, filled: list[Bucket]) -> Trend:
    bars = [
        Bar(
            b.start.strftime(window.label_format),
            [Segment("ok", b.finished - b.failed, "finished well"), Segment("failed", b.failed, "failed")],
        )
        for b in filled
    ]
    rate_bars = _with_gaps(window, filled)
    finished, failed = sum(b.finished for b in filled), sum(b.failed for b in filled)
    step = f"{int(window.step.total_seconds() // 60)} min" if window.step < timedelta(hours=1) else "hour"
    return Trend(
        window=window.name,
        finished=finished,
        failed=failed,
        failure_rate=failed / finished if finished else None,
        throughput=bar_chart(f"jobs finished per {step}, last {window.name}", bars, label_every=window.label_every),
        failures=bar_chart(
            f"failure rate per {step}, last {window.name}",
            rate_bars,
            y_max=100,
            y_format=lambda v: f"{v:.0f} %",
            label_every=window.label_every,
        ),
    )


def _with_gaps(window: Window, filled: list[Bucket]) -> list[Bar]:
    """A bucket where nothing finished has no rate: an empty slot, not a zero."""
    return [
        Bar(
            b.start.strftime(window.label_format),
            [Segment("failed", 100 * b.failed / b.finished, "failed")] if b.finished else [],
        )
        for b in filled
    ]


async def overview(
    pool: AsyncConnectionPool,
    principal: Principal,
    now: datetime,
    stuck_after_s: float,
    broker: BrokerStatus | None,
    probe: ProbeStatus | None,
) -> dict[str, Any]:
    owner = None if Scope.AUDIT_READ in principal.scopes else principal.owner
    hour_ago, day_ago = now - HOUR.span, now - DAY.span
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(SNAPSHOT)
        counts_hour = await stats.job_counts(conn, hour_ago, owner)
        counts_day = await stats.job_counts(conn, day_ago, owner)
        finished = await stats.finished(conn, now - timedelta(seconds=DEFAULT_WINDOW_S), owner)
        stuck = await stats.stuck(conn, now, stuck_after_s, owner)
        backlog = await stats.backlog(conn)
        lag = await stats.lag(conn)
        series = {w.name: await job_stats.finished_series(conn, now - w.span, w.step, owner) for w in (HOUR, DAY)}
    verdict, reasons = judge(
        finished, stuck, backlog, lag, broker.health if broker else None, probe.health if probe else None
    )
    return {
        "verdict": verdict,
        "reasons": reasons,
        "by_status": [(str(s), counts_hour.by_status.get(s, 0), counts_day.by_status.get(s, 0)) for s in Status],
        "created": (counts_hour.total, counts_day.total),
        "trends": [trend(w, buckets(w, now, series[w.name])) for w in (HOUR, DAY)],
        "stuck": stuck,
        "stuck_after_s": stuck_after_s,
        "backlog": backlog,
        "lag": lag,
        "auditor": owner is None,
        "now": now,
    }
