"""`GET /metrics`: the app's metrics, in the Prometheus text format.

Unauthenticated like /healthz, so it carries no tenant data: no job ids, no owners,
and request paths only as route templates (service/health/http_metrics.py). Everything
lives in the app's own registry.
"""

import logging

import psycopg
from litestar import Request, Response, get
from litestar.plugins.prometheus import PrometheusController
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import PoolTimeout

from service.api.dependencies import CurrentSettings, Pool
from service.health.metrics import Metrics

logger = logging.getLogger("jobtrail.metrics")


class MetricsController(PrometheusController):
    path = "/metrics"

    @get(tags=["health"], summary="Prometheus metrics (text format)", media_type=CONTENT_TYPE_LATEST)
    async def get(self, request: Request, pool: Pool, settings: CurrentSettings) -> Response[bytes]:
        metrics: Metrics = request.app.state.metrics
        try:
            async with pool.connection(timeout=2) as conn:
                await metrics.refresh(conn, settings.report_stuck_after_s)
        except (psycopg.Error, PoolTimeout):
            logger.warning("metrics: the database did not answer; its gauges are NaN")
            metrics.unknown()
        # Stated whole: Litestar would append a second `charset` to a text/* type that has one.
        exposition = {"content-type": CONTENT_TYPE_LATEST}
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST, headers=exposition)
