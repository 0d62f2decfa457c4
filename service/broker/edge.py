"""The HTTP edge: the bearer-token guard and `{"error": ...}` responses for every failure."""

import hmac

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.handlers import BaseRouteHandler
from litestar.types import ExceptionHandlersMap

from service.broker.errors import BrokerError, Unauthorized


async def require_token(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """`Authorization: Bearer <token>` or `?qstash_token=<token>` (§1).

    Async although it never awaits: Litestar runs a sync guard in a worker thread, a
    thread hop on every publish.
    """
    expected = connection.app.state.broker.config.token
    header = connection.headers.get("authorization", "")
    scheme, _space, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        presented = connection.query_params.get("qstash_token", "")
    if not hmac.compare_digest(presented.strip().encode(), expected.encode()):
        raise Unauthorized("unauthorized: missing or invalid token")


def on_broker_error(_: Request, error: BrokerError) -> Response:
    return error_response(error.status_code, error.message)


def on_http_exception(_: Request, error: HTTPException) -> Response:
    return error_response(error.status_code, str(error.detail))


def error_response(status_code: int, message: str) -> Response:
    return Response({"error": message}, status_code=status_code)


def raw_headers(request: Request) -> list[tuple[str, str]]:
    """Every header as sent, repeats included (Go's `http.Header` keeps them all)."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.scope["headers"]]


def caller_ip(request: Request) -> str | None:
    client = request.scope.get("client")
    return client[0] if client else None


HANDLERS: ExceptionHandlersMap = {BrokerError: on_broker_error, HTTPException: on_http_exception}
