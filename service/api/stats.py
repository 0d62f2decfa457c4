"""`GET /v1/stats`: job statistics over a window, backlog, lag and a health verdict.

A `jobs:read` key sees its own jobs; an `audit:read` key sees every owner's. The
outbox backlog and projection lag describe the service, not a tenant, and are the
same for every caller. All figures are read in one snapshot, so they agree.
"""

from datetime import timedelta
from typing import Annotated

import msgspec
from litestar import get
from litestar.params import QueryParameter
from psycopg import AsyncConnection

from service import clock
from service.api.auth import BEARER, require
from service.api.dependencies import Broker, Caller, CurrentSettings, DeliveryProbe, Pool
from service.api.problems import problem_responses
from service.auth.keys import Scope
from service.health import stats
from service.health.verdict import Verdict, judge
from service.qstash.broker_status import BrokerHealth
from service.qstash.self_probe import ProbeHealth
from service.store import tombstones

DEFAULT_WINDOW_S = 3600
MAX_WINDOW_S = 30 * 24 * 3600
MAX_STUCK_AFTER_S = 7 * 24 * 3600

SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


class StatsReport(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    verdict: Verdict
    reasons: list[str]
    owner: str | None  # None: every owner's jobs (an audit:read key)
    window_s: int
    stuck_after_s: float
    jobs: stats.JobCounts  # created in the window, by their current status
    finished: stats.Finished  # finished in the window
    stuck: stats.Stuck
    outbox: stats.Backlog
    projection_lag: stats.Lag
    # Jobs archived (docs/retention.md), whenever: they have left the window's figures.
    archived: int
    # QStash as the answering process last found it; absent when the app runs without deliveries.
    broker: BrokerHealth | None = None
    # Whether QStash's deliveries reach the service, as the answering process's self-probe found.
    deliveries: ProbeHealth | None = None


@get(
    "/v1/stats",
    tags=["health"],
    summary="Job statistics, backlog, projection lag and a health verdict",
    security=BEARER,
    responses=problem_responses(400, 401, 403),
)
async def read_stats(
    principal: Caller,
    pool: Pool,
    settings: CurrentSettings,
    broker_status: Broker,
    delivery_probe: DeliveryProbe,
    window_s: Annotated[int, QueryParameter(ge=1, le=MAX_WINDOW_S)] = DEFAULT_WINDOW_S,
    stuck_after_s: Annotated[float | None, QueryParameter(gt=0, le=MAX_STUCK_AFTER_S)] = None,
) -> StatsReport:
    """Counts of jobs created in the window; failure rate and durations of jobs finished in it."""
    if Scope.AUDIT_READ in principal.scopes:
        owner = None
    else:
        require(principal, Scope.JOBS_READ)
        owner = principal.owner
    threshold = stuck_after_s if stuck_after_s is not None else settings.report_stuck_after_s
    async with pool.connection() as conn:
        return await stats_report(
            conn,
            owner,
            window_s,
            threshold,
            broker=broker_status.health if broker_status else None,
            deliveries=delivery_probe.health if delivery_probe else None,
        )


async def stats_report(
    conn: AsyncConnection,
    owner: str | None,
    window_s: int,
    stuck_after_s: float,
    *,
    broker: BrokerHealth | None = None,
    deliveries: ProbeHealth | None = None,
) -> StatsReport:
    """The report over the last `window_s` seconds for `owner` (None: every owner), read in
    one snapshot; `broker` and `deliveries` are what only a running service knows."""
    now = clock.now()
    since = now - timedelta(seconds=window_s)
    async with conn.transaction():
        await conn.execute(SNAPSHOT)
        jobs = await stats.job_counts(conn, since, owner)
        finished = await stats.finished(conn, since, owner)
        stuck = await stats.stuck(conn, now, stuck_after_s, owner)
        backlog = await stats.backlog(conn)
        lag = await stats.lag(conn)
        archived = await tombstones.count_archived(conn, owner)
    verdict, reasons = judge(finished, stuck, backlog, lag, broker, deliveries)
    return StatsReport(
        verdict=verdict,
        reasons=reasons,
        owner=owner,
        window_s=window_s,
        stuck_after_s=stuck_after_s,
        jobs=jobs,
        finished=finished,
        stuck=stuck,
        outbox=backlog,
        projection_lag=lag,
        archived=archived,
        broker=broker,
        deliveries=deliveries,
    )
