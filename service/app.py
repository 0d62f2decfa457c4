"""The composition root: `create_app(settings)` wires the HTTP service.

Resources live in the lifespan. The database is resolved (embedded or DATABASE_URL);
then it is reached in the background (service/store/database_start.py): migrated, the
pool opened, the event feed and the background duties started. When the database answers
the first attempt, all that is done before the first request; when it does not, the
app serves meanwhile, /readyz and everything that needs the database answering 503,
and comes whole once an attempt succeeds. Nothing is created at import time. The event
feed and the metrics reach the command handler as its Observers
(service/jobs/observers.py), handed to the routes that command as a dependency.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from psycopg_pool import AsyncConnectionPool

from service import collector
from service.api import health
from service.api import kinds as kinds_routes
from service.api import results as results_routes
from service.api.audit import AuditController
from service.api.audit_log import AuditLogController
from service.api.auth import provide_principal
from service.api.jobs import JobsController
from service.api.json_request import JSONRequest
from service.api.live import LiveController
from service.api.metrics import MetricsController
from service.api.notification_callbacks import NotificationCallbacks
from service.api.problems import HANDLERS, on_unexpected
from service.api.qstash import QStashController
from service.api.query_parameters import strict_query
from service.api.reference_pages import reference_pages, swagger_page
from service.api.request_context import request_context
from service.api.schedules import SchedulesController
from service.api.stats import read_stats
from service.api.webhooks import WebhooksController, job_notifications
from service.archive.store import ArchiveStore, DirectoryStore
from service.background import background
from service.dashboard import DIRECTORY as DASHBOARD
from service.dashboard.formats import register as register_formats
from service.dashboard.pages import DashboardController
from service.health.http_metrics import http_metrics
from service.health.metrics import Metrics
from service.jobs.kinds import Kind, load_kinds
from service.jobs.observers import Observers
from service.live.event_feed import EventFeed
from service.logs import structlog_plugin
from service.qstash.broker_status import BrokerStatus
from service.qstash.self_probe import ProbeStatus
from service.settings import Settings
from service.store.database import create_pool, resolve_database_url
from service.store.database_start import DatabaseStart, reach_database
from service.store.group_commit import GroupCommit
from service.store.outage import Outage
from service.store.serving import as_service

logger = logging.getLogger("jobtrail.app")

MAX_BODY_BYTES = 1024 * 1024


def create_app(
    settings: Settings,
    *,
    kinds: dict[str, Kind] | None = None,
    deliveries: bool = True,
    fire_clock: Callable[[], datetime] | None = None,
    archive_store: ArchiveStore | None = None,
) -> Litestar:
    """The service; `deliveries=False` serves the API alone (no relay, schedule or probe).

    With no QSTASH_TOKEN, deliveries go through the local broker that `serve` runs, at
    `settings.broker_url`; the app never starts one itself. `fire_clock`, a test facility,
    is the clock a schedule's fire derives its tick from (service/schedules/fire.py): a
    time-scaled local broker's in the same process; None, the service's own.
    `archive_store` is where archived histories are read from (and written to); None, the
    directory `settings.archive_root`.
    """
    kinds = kinds if kinds is not None else load_kinds()
    metrics = Metrics()
    outage = Outage()
    broker_status = BrokerStatus() if deliveries else None
    probe_status = ProbeStatus() if deliveries else None

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        url = resolve_database_url(settings)
        # Its sessions named, so that pg_stat_activity (and `jobtrail demo`) can tell it runs.
        named = as_service(url)
        pool = create_pool(named, max_size=settings.pool_size, wait_s=settings.database_wait_s)
        feed = EventFeed(named, outage=outage)
        group_commit = GroupCommit(pool, max_group=settings.group_commit_max)
        observers = Observers(feed=feed, metrics=metrics, group_commit=group_commit)
        database_start = DatabaseStart()
        app.state.update(
            pool=pool,
            database_url=url,
            event_feed=feed,
            metrics=metrics,
            observers=observers,
            database_start=database_start,
        )

        async def start(stack: contextlib.AsyncExitStack) -> None:
            await reach_database(url, database_start)
            stack.push_async_callback(pool.close)
            stack.push_async_callback(group_commit.close)  # before the pool closes
            # Not waiting for it to fill: should the database go again now, the pool
            # reconnects by itself and requests answer 503 meanwhile, as in any outage.
            await pool.open()
            stack.push_async_callback(feed.close)
            await feed.start()
            if broker_status is not None and probe_status is not None:
                app.state.qstash = await stack.enter_async_context(
                    background(
                        settings,
                        pool,
                        url,
                        kinds,
                        feed,
                        outage,
                        broker_status=broker_status,
                        probe_status=probe_status,
                    )
                )
            database_start.ready = True
            outage.recovered()

        async with contextlib.AsyncExitStack() as stack:
            starting = asyncio.create_task(start(stack), name="database start")
            failed_once = asyncio.create_task(database_start.first_failure.wait())
            await asyncio.wait([starting, failed_once], return_when=asyncio.FIRST_COMPLETED)
            failed_once.cancel()
            if starting.done():
                starting.result()  # a start that broke (not a database that is away) stops the app
            else:
                starting.add_done_callback(_report_broken_start)
            try:
                with collector.tuned_for_serving():  # after the start: what it made lives on
                    yield
            finally:
                starting.cancel()
                await asyncio.gather(starting, return_exceptions=True)

    return Litestar(
        route_handlers=[
            health.healthz,
            health.readyz,
            kinds_routes.list_kinds,
            JobsController,
            SchedulesController,
            AuditController,
            AuditLogController,
            QStashController,
            WebhooksController,  # notifications (issue 17): webhooks, a job's notifications, QStash's reports
            job_notifications,
            NotificationCallbacks,
            results_routes.list_results,
            LiveController,
            read_stats,
            MetricsController,
            DashboardController,
            create_static_files_router("/static", directories=[DASHBOARD / "static"]),
            reference_pages(),
        ],
        lifespan=[lifespan],
        state=State(
            {
                "settings": settings,
                "kinds": kinds,
                "outage": outage,
                "broker_status": broker_status,
                "delivery_probe": probe_status,
                "fire_clock": fire_clock,
                "archive_store": archive_store if archive_store is not None else DirectoryStore(settings.archive_root),
            }
        ),
        dependencies={
            "pool": Provide(_pool, sync_to_thread=False),
            "database_url": Provide(_database_url, sync_to_thread=False),
            "kinds": Provide(_kinds, sync_to_thread=False),
            "settings": Provide(_settings, sync_to_thread=False),
            "observers": Provide(_observers, sync_to_thread=False),
            "broker_status": Provide(_broker_status, sync_to_thread=False),
            "delivery_probe": Provide(_delivery_probe, sync_to_thread=False),
            "database_start": Provide(_database_start, sync_to_thread=False),
            "archives": Provide(_archive_store, sync_to_thread=False),
            "principal": Provide(provide_principal),
        },
        exception_handlers={**HANDLERS, Exception: on_unexpected},
        request_max_body_size=MAX_BODY_BYTES,
        request_class=JSONRequest,
        template_config=TemplateConfig(
            directory=DASHBOARD / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=lambda engine: register_formats(engine.engine),
        ),
        openapi_config=OpenAPIConfig(
            title="jobtrail",
            version="0.1.0",
            description="An event-sourced job state machine service.",
            path="/schema",
            render_plugins=[swagger_page()],
            components=Components(security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}),
        ),
        plugins=[structlog_plugin(settings)],
        middleware=[request_context, http_metrics(metrics), strict_query],
    )


def _report_broken_start(task: asyncio.Task) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.error("the service could not start its database work; it answers 503 until restarted", exc_info=error)


def end_live_streams(app: Litestar) -> None:
    """Ends the open live streams, before a server drains its connections (they never end alone)."""
    if feed := app.state.get("event_feed"):
        feed.end_streams()


def _pool(state: State) -> AsyncConnectionPool:
    return state.pool


def _database_url(state: State) -> str:
    return state.database_url


def _kinds(state: State) -> dict[str, Kind]:
    return state.kinds


def _settings(state: State) -> Settings:
    return state.settings


def _observers(state: State) -> Observers:
    return state.observers


def _broker_status(state: State) -> BrokerStatus | None:
    return state.broker_status


def _delivery_probe(state: State) -> ProbeStatus | None:
    return state.delivery_probe


def _database_start(state: State) -> DatabaseStart:
    return state.database_start


def _archive_store(state: State) -> ArchiveStore:
    return state.archive_store
