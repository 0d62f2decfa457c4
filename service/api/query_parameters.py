"""Unknown query parameters on an API route are a 400 problem, not silently ignored.

A misspelt filter (`?stauts=error`) or one a route does not have (`?owner=` on the job
list) would otherwise answer as if it were absent: a wrong answer that looks right.
Each route's parameters are the ones Litestar itself parses for it (its handler's and
its dependencies'), read once from the routing table, so a route declares a parameter
exactly once, in its signature. Only the API's routes (/v1/) are held to it: the
dashboard's forms and the Prometheus scrape (`?name[]=`) keep their own conventions.
"""

from urllib.parse import parse_qsl

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Receive, Scope, Send

from service.api.problems import ProblemError

API_PREFIX = "/v1/"


def strict_query(app: ASGIApp) -> ASGIApp:
    declared: dict[int, frozenset[str]] = {}

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["query_string"] and scope["path"].startswith(API_PREFIX):
            if not declared:
                declared.update(_declared(scope["litestar_app"]))
            allowed = declared.get(id(scope["route_handler"]), frozenset())
            given = {name for name, _ in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)}
            if unknown := sorted(given - allowed):
                raise ProblemError(400, _explain(unknown, allowed))
        await app(scope, receive, send)

    return middleware


def _declared(app: Litestar) -> dict[int, frozenset[str]]:
    """Every API route handler's query parameter names, by handler."""
    return {
        id(handler): frozenset(p.field_alias for p in kwargs_model.expected_query_params)
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path.startswith(API_PREFIX)
        for handler, kwargs_model in route.route_handler_map.values()
    }


def _explain(unknown: list[str], allowed: frozenset[str]) -> str:
    names = ", ".join(f"`{name}`" for name in unknown)
    takes = f"it takes {', '.join(f'`{name}`' for name in sorted(allowed))}" if allowed else "it takes none"
    return f"unknown query parameter{'s' if len(unknown) > 1 else ''} {names} on this route: {takes}"
