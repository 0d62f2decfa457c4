"""Request metrics by route template: count, duration, in progress and 5xx answers.

Litestar's Prometheus middleware did this by building a Request, two dicts of labels
and five labelled lookups per request: about a seventh of a QStash delivery's CPU
(bench/bench_stats.py measures both). This one finds a route's labelled series once
(service.health.metrics.Metrics) and then only increments them. Routing has run before any
middleware, so the path label is the route template (`/v1/jobs/{job_id}`), never a
job id, and unknown paths are never measured.
"""

import time
from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.health.metrics import Metrics


def http_metrics(metrics: Metrics) -> Callable[[ASGIApp], ASGIApp]:
    """Litestar middleware measuring into `metrics`."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            method, path = scope["method"], scope["path_template"]
            status = 200

            async def send_noting_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            started = time.perf_counter()
            in_progress = metrics.request_started(method, path)
            try:
                await app(scope, receive, send_noting_status)
            finally:
                in_progress.dec()
                metrics.request_answered(method, path, status, time.perf_counter() - started)

        return middleware

    return wrap
