"""Errors on the dashboard are pages for people, not problem documents.

These handlers sit on the dashboard's controller only; the API keeps answering RFC 9457
problem details from service/api/problems.py, which also logs what was unexpected.
"""

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from domain.errors import JobNotFound
from domain.schedule.errors import IllegalScheduleMove, ScheduleNotFound
from service.api.problems import RETRY_AFTER_S, logger
from service.archive.gone import JobArchived, tombstone_document
from service.dashboard.csrf import ForgedForm
from service.dashboard.schedules import ReadOnlyKey
from service.dashboard.session import NotSignedIn
from service.store.outage import DatabaseUnavailable


def _page(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Template:
    return Template(
        template_name="error.html",
        context={"title": title, "detail": detail, "status": status},
        status_code=status,
        headers=headers,
    )


def on_not_signed_in(request: Request, error: NotSignedIn) -> Response:
    return Redirect("/", status_code=303)


def on_forged_form(request: Request, error: ForgedForm) -> Response:
    return _page(403, "Form expired", "This form is no longer valid. Go back, reload the page and try again.")


def on_job_not_found(request: Request, error: JobNotFound) -> Response:
    return _page(404, "No such job", "There is no such job, or this key may not see it.")


def on_job_archived(request: Request, error: JobArchived) -> Response:
    """The tombstone, to whoever could have seen the job (service/api/jobs.py decides)."""
    return Template(
        template_name="archived.html", context={"tombstone": tombstone_document(error.tombstone)}, status_code=410
    )


def on_schedule_not_found(request: Request, error: ScheduleNotFound) -> Response:
    return _page(404, "No such schedule", "There is no such schedule, or this key may not see it.")


def on_read_only(request: Request, error: ReadOnlyKey) -> Response:
    return _page(403, "Read-only key", "This key may read schedules but not change them: that takes jobs:write.")


def on_illegal_move(request: Request, error: IllegalScheduleMove) -> Response:
    return _page(409, "Not possible now", f"The schedule is {error.status}: it can no longer be paused or resumed.")


def on_invalid(request: Request, error: ValidationException) -> Response:
    return _page(400, "Bad request", "A filter or form field is not valid.")


def on_http(request: Request, error: HTTPException) -> Response:
    return _page(error.status_code, "Error", str(error.detail))


def on_unavailable(request: Request, error: DatabaseUnavailable) -> Response:
    """As on the API: 503 with Retry-After, and one log line per outage (service/store/outage.py)."""
    request.app.state.outage.failed(f"{request.method} {request.url.path}", error)
    detail = "The database cannot be reached just now. Try again in a few seconds."
    return _page(503, "Temporarily unavailable", detail, {"Retry-After": str(RETRY_AFTER_S)})


def on_unexpected(request: Request, error: Exception) -> Response:
    # Method and path only, as for the API: cookies carry keys.
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return _page(500, "Something went wrong", "An unexpected error occurred; it has been logged.")


HTML_HANDLERS: ExceptionHandlersMap = {
    NotSignedIn: on_not_signed_in,
    ForgedForm: on_forged_form,
    JobNotFound: on_job_not_found,
    JobArchived: on_job_archived,
    ScheduleNotFound: on_schedule_not_found,
    ReadOnlyKey: on_read_only,
    IllegalScheduleMove: on_illegal_move,
    ValidationException: on_invalid,
    HTTPException: on_http,
    DatabaseUnavailable: on_unavailable,
    Exception: on_unexpected,
}
