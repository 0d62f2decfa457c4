"""`GET /metrics`: Litestar's HTTP metrics and ours, in the Prometheus text format.

Unauthenticated like /healthz, so it carries no tenant data: no job ids, no owners,
and request paths only as route templates. Litestar's request metrics and ours live in
the app's own registry.
"""

import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg
from litestar import Request, Response, get
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController, PrometheusMiddleware
from litestar.types import Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from psycopg_pool import PoolTimeout

from service.api.dependencies import CurrentSettings, Pool
from service.metrics import CURRENT, Metrics

logger = logging.getLogger("jobtrail.metrics")


@dataclass
class MetricsConfig(PrometheusConfig):
    """Litestar's Prometheus config, carrying the app's Metrics to its middleware."""

    metrics: Metrics = field(default_factory=Metrics)


class MetricsMiddleware(PrometheusMiddleware):
    """Litestar's request metrics, kept in the app's registry (the base class keeps them in
    the process-global one, shared by every app); and, for the request's duration, the
    app's Metrics are the ones commands report their appends to."""

    _config: MetricsConfig

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = CURRENT.set(self._config.metrics)
        try:
            await super().__call__(scope, receive, send)
        finally:
            CURRENT.reset(token)

    def request_count(self, labels: dict[str, Any]) -> Counter:
        return self._metric(Counter, "requests_total", "Total requests", labels)

    def request_time(self, labels: dict[str, Any]) -> Histogram:
        return self._metric(Histogram, "request_duration_seconds", "Request duration, in seconds", labels)

    def requests_in_progress(self, labels: dict[str, Any]) -> Gauge:
        return self._metric(Gauge, "requests_in_progress", "Requests currently in progress", labels)

    def requests_error_count(self, labels: dict[str, Any]) -> Counter:
        return self._metric(Counter, "requests_error_total", "Requests answered with a 5xx", labels)

    def _metric(self, kind: type, suffix: str, documentation: str, labels: dict[str, Any]) -> Any:
        metrics = self._config.metrics
        name = f"{self._config.prefix}_{suffix}"
        if name not in metrics.http:
            extra = self._kwargs if kind is Histogram else {}
            metrics.http[name] = kind(name, documentation, [*labels], registry=metrics.registry, **extra)
        return metrics.http[name]


def metrics_config() -> MetricsConfig:
    return MetricsConfig(
        app_name="jobtrail",
        prefix="jobtrail_http",
        group_path=True,  # /v1/jobs/{job_id}, never a job id
        exclude_unhandled_paths=True,
        middleware_class=MetricsMiddleware,
    )


class MetricsController(PrometheusController):
    path = "/metrics"

    @get(tags=["health"], summary="Prometheus metrics (text format)", media_type=CONTENT_TYPE_LATEST)
    async def get(self, request: Request, pool: Pool, settings: CurrentSettings) -> Response[bytes]:
        metrics: Metrics = request.app.state.metrics
        try:
            async with pool.connection(timeout=2) as conn:
                await metrics.refresh(conn, settings.stuck_after_s)
        except (psycopg.Error, PoolTimeout):
            logger.warning("metrics: the database did not answer; its gauges are NaN")
            metrics.unknown()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
