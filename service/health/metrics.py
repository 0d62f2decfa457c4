"""Prometheus metrics of one app: its own registry, counters fed as work happens, and
gauges read from the database when scraped.

Nothing is registered at import time and nothing goes to prometheus_client's global
registry: every app builds its own `Metrics`, so tests can create many apps. Counters
count what this process did (Prometheus sums processes); the gauges describe the
shared database and are the same from every process.

Commands report their appends through the Observers the app hands to the command
handler (service/jobs/observers.py).
"""

import math
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from psycopg import AsyncConnection

from domain.events import AnyEvent, BatchRecorded, JobCancelled, JobCompleted, JobCreated, JobFailed, JobTimedOut
from domain.state import JobState
from service import clock
from service.health import stats
from service.store import tombstones

APPEND_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
BATCH_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0)
_FINISHING = (JobCompleted, JobFailed, JobTimedOut, JobCancelled)

# The request metrics' names and labels are those of Litestar's Prometheus middleware,
# which they replace (service/health/http_metrics.py): dashboards built on them still work.
HTTP_LABELS = ("method", "path", "status_code", "app_name")
APP_NAME = "jobtrail"

# A delivery's answer, as one of a few outcomes (the `outcome` label).
_OK = frozenset({"recorded", "failed_permanently", "job_failed"})  # the job moved

# A route's answered series for one status: requests and duration, plus errors for a 5xx.
_Answered = tuple[Counter, Histogram] | tuple[Counter, Histogram, Counter]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.http_requests = Counter("jobtrail_http_requests_total", "Total requests", HTTP_LABELS, registry=registry)
        self.http_seconds = Histogram(
            "jobtrail_http_request_duration_seconds", "Request duration, in seconds", HTTP_LABELS, registry=registry
        )
        self.http_in_progress = Gauge(
            "jobtrail_http_requests_in_progress", "Requests currently in progress", HTTP_LABELS, registry=registry
        )
        self.http_errors = Counter(
            "jobtrail_http_requests_error_total", "Requests answered with a 5xx", HTTP_LABELS, registry=registry
        )
        # Labelled children, found once per route and status: `.labels()` takes a lock and
        # builds a key on every call.
        self._in_progress: dict[tuple[str, str], Gauge] = {}
        self._answered: dict[tuple[str, str, int], _Answered] = {}
        self.jobs_created = Counter("jobtrail_jobs_created", "Jobs created", ["kind"], registry=registry)
        self.jobs_finished = Counter(
            "jobtrail_jobs_finished",
            "Jobs that reached completed, error, timeout or cancelled",
            ["kind", "status"],
            registry=registry,
        )
        self.deliveries = Counter(
            "jobtrail_deliveries", "QStash deliveries answered, by outcome", ["outcome"], registry=registry
        )
        self.append_seconds = Histogram(
            "jobtrail_event_append_seconds",
            "Time to append a command's events",
            buckets=APPEND_BUCKETS,
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "jobtrail_batch_duration_seconds",
            "Time a kind's handler took for one batch",
            ["kind"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.outbox_unsent = Gauge("jobtrail_outbox_unsent", "Outbox messages not yet published", registry=registry)
        self.outbox_oldest_age = Gauge(
            "jobtrail_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox message", registry=registry
        )
        self.lag_events = Gauge(
            "jobtrail_projection_lag_events", "Events the stats projection has not seen yet", registry=registry
        )
        self.lag_seconds = Gauge(
            "jobtrail_projection_lag_seconds",
            "Age of the oldest event the stats projection has not seen",
            registry=registry,
        )
        self.stuck_jobs = Gauge(
            "jobtrail_jobs_stuck",
            "Processing jobs without progress for JOBTRAIL_REPORT_STUCK_AFTER_S",
            registry=registry,
        )
        self.archived_jobs = Gauge(
            "jobtrail_jobs_archived",
            "Jobs archived and removed from the database (each has a tombstone)",
            registry=registry,
        )

    def appended(self, events: Sequence[AnyEvent], state: JobState, seconds: float) -> None:
        self.append_seconds.observe(seconds)
        for event in events:
            if isinstance(event, JobCreated):
                self.jobs_created.labels(state.kind).inc()
            elif isinstance(event, BatchRecorded):
                self.batch_seconds.labels(state.kind).observe(event.duration_ms / 1000)
            elif isinstance(event, _FINISHING):
                self.jobs_finished.labels(state.kind, state.status).inc()

    def request_started(self, method: str, path: str) -> Gauge:
        """The in-progress gauge of a route, raised; the caller lowers it when answered."""
        gauge = self._in_progress.get((method, path))
        if gauge is None:
            # As Litestar did: an in-progress request's status is not known yet, it counts as 200.
            gauge = self._in_progress[method, path] = self.http_in_progress.labels(method, path, 200, APP_NAME)
        gauge.inc()
        return gauge

    def request_answered(self, method: str, path: str, status: int, seconds: float) -> None:
        key = (method, path, status)
        children = self._answered.get(key)
        if children is None:
            labels = (method, path, status, APP_NAME)
            children = (self.http_requests.labels(*labels), self.http_seconds.labels(*labels))
            if status >= 500:
                children += (self.http_errors.labels(*labels),)
            self._answered[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if len(children) > 2:
            children[2].inc()

    def delivered(self, outcome: str) -> None:
        self.deliveries.labels(outcome).inc()

    async def refresh(self, conn: AsyncConnection, stuck_after_s: float) -> None:
        """Read the gauges from the database, as of this scrape."""
        backlog, lag = await stats.backlog(conn), await stats.lag(conn)
        stuck = await stats.stuck(conn, clock.now(), stuck_after_s, owner=None)
        archived = await tombstones.count_archived(conn)
        self._set(backlog.unsent, backlog.oldest_age_s, lag.events, lag.seconds, stuck.count, archived)

    def unknown(self) -> None:
        """The database did not answer: say so rather than repeat the last scrape's figures."""
        self._set(*[math.nan] * 6)

    def _set(
        self, unsent: float, age: float, lag_events: float, lag_seconds: float, stuck: float, archived: float
    ) -> None:
        self.outbox_unsent.set(unsent)
        self.outbox_oldest_age.set(age)
        self.lag_events.set(lag_events)
        self.lag_seconds.set(lag_seconds)
        self.stuck_jobs.set(stuck)
        self.archived_jobs.set(archived)


def delivery_outcome(status: int, outcome: str, duplicate: bool) -> str:
    """ok (the job moved), duplicate (a repeated message), stale (nothing to do), failed (5xx)."""
    if duplicate:
        return "duplicate"
    if status >= 500:
        return "failed"
    return "ok" if outcome in _OK else "stale"
