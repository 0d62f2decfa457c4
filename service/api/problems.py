"""One place that turns exceptions into RFC 9457 problem details."""

import logging
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap

from domain.errors import DomainError, IllegalTransition, InvalidCommand, JobNotFound
from domain.schedule.errors import IllegalScheduleMove, InvalidSchedule, ScheduleNotFound
from service.archive.gone import JobArchived, TombstoneDocument, tombstone_document
from service.jobs.command_handler import TooMuchContention
from service.jobs.kinds import InvalidParams, UnknownKind
from service.store.event_store import UnstorableValue
from service.store.outage import DatabaseUnavailable

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_S = 5  # a pool wait (JOBTRAIL_DATABASE_WAIT_S), about what a restart takes to be noticed
logger = logging.getLogger("jobtrail.api")


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details, with `errors` naming each invalid field."""

    title: str
    status: int
    detail: str
    type: str = "about:blank"
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None
    known_kinds: list[str] | None = None
    state: str | None = None
    tombstone: TombstoneDocument | None = None  # 410: what the archived job was, and where it went


_MEANINGS = {
    400: "The request is malformed: not JSON, or a parameter or field out of bounds",
    401: "No API key, or an unknown or revoked one",
    403: "The API key lacks the scope this needs",
    404: "No such job or schedule, or one this API key may not see",
    409: "The job's or schedule's status forbids this, or the Idempotency-Key was used with another body",
    410: "The job was archived: its history left the database; the problem carries its tombstone",
    413: "The body is larger than 1 MiB",
    415: "The body is not application/json",
    422: "Well-formed but unacceptable: an unknown kind, invalid params, a bad cron, time zone or end date, "
    "a version past the last",
    489: "QStash: the message can never succeed; do not retry (Upstash-NonRetryable-Error)",
    500: "An unexpected error; it has been logged",
    503: "The database is unavailable, or the job changed too often to decide on: retry after Retry-After seconds",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The OpenAPI entries for the problems a route answers with; any route may answer 500.

    Litestar documents a 400 of its own shape for every route with parameters; routes
    list 400 here too, so that it carries our Problem body instead.
    """
    return {
        status: ResponseSpec(
            data_container=Problem, description=_MEANINGS[status], media_type=PROBLEM_JSON, generate_examples=False
        )
        for status in sorted({*statuses, 500})
    }


class ProblemError(Exception):
    """Raised by controllers to answer with a specific status and explanation."""

    def __init__(self, status: int, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.extensions = status, detail, extensions


def problem(request: Request, status: int, detail: str, **extensions: Any) -> Response[Problem]:
    body = Problem(
        title=_TITLES.get(status) or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        **extensions,
    )
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=_headers(status))


def _headers(status: int) -> dict[str, str]:
    if status == 401:
        return {"WWW-Authenticate": 'Bearer realm="jobtrail"'}
    if status == 489:  # QStash: never retry this message
        return {"Upstash-NonRetryable-Error": "true"}
    if status == 503:
        return {"Retry-After": str(RETRY_AFTER_S)}
    return {}


def on_problem(request: Request, error: ProblemError) -> Response[Problem]:
    return problem(request, error.status, error.detail, **error.extensions)


def on_validation(request: Request, error: ValidationException) -> Response[Problem]:
    errors = [_named(dict(e)) for e in error.extra] if isinstance(error.extra, list) else None
    first = errors[0] if errors else {}
    where = f" (at {first['key']})" if first.get("key") else ""
    detail = f"{first.get('message', error.detail)}{where}" if first else str(error.detail)
    return problem(request, 400, f"the request is invalid: {detail}", errors=errors)


def _named(error: dict[str, Any]) -> dict[str, Any]:
    """Litestar calls the request body `data`; clients know it as the body."""
    return {**error, "key": "body"} if error.get("key") == "data" else error


def on_http(request: Request, error: HTTPException) -> Response[Problem]:
    status = error.status_code
    detail = error.detail if error.detail != HTTPStatus(status).phrase else _DEFAULT_DETAIL.get(status, error.detail)
    if status == 400:
        detail = f"the request body is not valid JSON: {detail}"
    return problem(request, status, detail)


_TITLES = {489: "Non-Retryable Message"}

_DEFAULT_DETAIL = {
    404: "no such resource",
    405: "this method is not allowed on this resource",
    413: "the request body is larger than 1 MiB",
}


def on_domain(request: Request, error: DomainError) -> Response[Problem]:
    if isinstance(error, JobNotFound):
        return problem(request, 404, "no such job")
    if isinstance(error, ScheduleNotFound):
        return problem(request, 404, "no such schedule")
    if isinstance(error, IllegalTransition | IllegalScheduleMove):
        return problem(request, 409, str(error), state=str(error.status))
    if isinstance(error, InvalidSchedule):
        return problem(request, 422, str(error), errors=[{"key": error.field, "message": str(error)}])
    if isinstance(error, InvalidCommand):
        return problem(request, 422, str(error))
    return problem(request, 409, str(error))


def on_archived(request: Request, error: JobArchived) -> Response[Problem]:
    stone = error.tombstone
    detail = f"job {stone.stream_id} was archived; GET /v1/jobs/{stone.stream_id}/export serves its history"
    return problem(request, 410, detail, tombstone=tombstone_document(stone))


def on_unknown_kind(request: Request, error: UnknownKind) -> Response[Problem]:
    return problem(request, 422, str(error), known_kinds=error.known)


def on_invalid_params(request: Request, error: InvalidParams) -> Response[Problem]:
    return problem(request, 422, str(error))


def on_unstorable(request: Request, error: UnstorableValue) -> Response[Problem]:
    return problem(request, 422, f"the request cannot be stored: {error}")


def on_contention(request: Request, error: TooMuchContention) -> Response[Problem]:
    return problem(request, 503, "the job is changing too fast; retry shortly")


def on_unavailable(request: Request, error: DatabaseUnavailable) -> Response[Problem]:
    """One log line per outage (service/store/outage.py), not a traceback per request."""
    request.app.state.outage.failed(f"{request.method} {request.url.path}", error)
    return problem(request, 503, "the database is unavailable; retry shortly")


def on_unexpected(request: Request, error: Exception) -> Response[Problem]:
    # Method and path only: headers carry keys and bodies carry tenants' data.
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem(request, 500, "an unexpected error occurred; it has been logged")


HANDLERS: ExceptionHandlersMap = {
    ProblemError: on_problem,
    ValidationException: on_validation,
    HTTPException: on_http,
    DomainError: on_domain,
    JobArchived: on_archived,
    UnknownKind: on_unknown_kind,
    InvalidParams: on_invalid_params,
    TooMuchContention: on_contention,
    UnstorableValue: on_unstorable,
    DatabaseUnavailable: on_unavailable,
}
