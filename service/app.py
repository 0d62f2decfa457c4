"""The composition root: `create_app(settings)` wires the HTTP service.

Resources live in the lifespan: the database is resolved (embedded or DATABASE_URL),
migrated, and the pool opened on start and closed on shutdown. Nothing is created at
import time. The event feed and the metrics reach the command handler as its Observers
(service/jobs/observers.py), handed to the routes that command as a dependency.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from psycopg_pool import AsyncConnectionPool

from service.api import health
from service.api import kinds as kinds_routes
from service.api import results as results_routes
from service.api.audit import AuditController
from service.api.auth import provide_principal
from service.api.jobs import JobsController
from service.api.json_request import JSONRequest
from service.api.live import LiveController
from service.api.metrics import MetricsController
from service.api.problems import HANDLERS, on_unexpected
from service.api.qstash import QStashController
from service.api.request_context import request_context
from service.api.stats import read_stats
from service.background import background
from service.dashboard import DIRECTORY as DASHBOARD
from service.dashboard.pages import DashboardController
from service.health.http_metrics import http_metrics
from service.health.metrics import Metrics
from service.jobs.kinds import Kind, load_kinds
from service.jobs.observers import Observers
from service.live.event_feed import EventFeed
from service.logs import structlog_plugin
from service.qstash.broker_status import BrokerStatus
from service.settings import Settings
from service.store.database import create_pool, resolve_database_url
from service.store.migrate import migrate
from service.store.outage import Outage

MAX_BODY_BYTES = 1024 * 1024


def create_app(settings: Settings, *, kinds: dict[str, Kind] | None = None, deliveries: bool = True) -> Litestar:
    """The service; `deliveries=False` serves the API alone (no broker, relay or schedule)."""
    kinds = kinds if kinds is not None else load_kinds()
    metrics = Metrics()
    outage = Outage()
    broker_status = BrokerStatus() if deliveries else None

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        url = resolve_database_url(settings)
        await migrate(url)
        pool = create_pool(url, max_size=16, wait_s=settings.database_wait_s)
        await pool.open(wait=True)
        app.state.update(pool=pool, database_url=url)
        feed = app.state.event_feed = EventFeed(url, outage=outage)
        await feed.start()
        app.state.metrics = metrics
        observers = app.state.observers = Observers(feed=feed, metrics=metrics)
        try:
            if broker_status is not None:
                async with background(
                    settings, pool, url, kinds, feed, outage, observers=observers, broker_status=broker_status
                ) as qstash:
                    app.state.qstash = qstash
                    yield
            else:
                yield
        finally:
            await feed.close()
            await pool.close()

    return Litestar(
        route_handlers=[
            health.healthz,
            health.readyz,
            kinds_routes.list_kinds,
            JobsController,
            AuditController,
            QStashController,
            results_routes.list_results,
            LiveController,
            read_stats,
            MetricsController,
            DashboardController,
            create_static_files_router("/static", directories=[DASHBOARD / "static"]),
        ],
        lifespan=[lifespan],
        state=State({"settings": settings, "kinds": kinds, "outage": outage, "broker_status": broker_status}),
        dependencies={
            "pool": Provide(_pool, sync_to_thread=False),
            "database_url": Provide(_database_url, sync_to_thread=False),
            "kinds": Provide(_kinds, sync_to_thread=False),
            "settings": Provide(_settings, sync_to_thread=False),
            "observers": Provide(_observers, sync_to_thread=False),
            "broker_status": Provide(_broker_status, sync_to_thread=False),
            "principal": Provide(provide_principal),
        },
        exception_handlers={**HANDLERS, Exception: on_unexpected},
        request_max_body_size=MAX_BODY_BYTES,
        request_class=JSONRequest,
        template_config=TemplateConfig(directory=DASHBOARD / "templates", engine=JinjaTemplateEngine),
        openapi_config=OpenAPIConfig(
            title="jobtrail",
            version="0.1.0",
            description="An event-sourced job state machine service.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(), RedocRenderPlugin()],
            components=Components(security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}),
        ),
        plugins=[structlog_plugin(settings)],
        middleware=[request_context, http_metrics(metrics)],
    )


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
