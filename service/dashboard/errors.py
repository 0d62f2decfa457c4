"""Errors on the dashboard are pages for people, not problem documents.

These handlers sit on the dashboard's controller only; the API keeps answering RFC 9457
problem details from service/api/problems.py, which also logs what was unexpected.
"""

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from domain.errors import IllegalTransition, JobNotFound
from domain.schedule.errors import IllegalScheduleMove, ScheduleNotFound
from service.api.problems import RETRY_AFTER_S, logger
from service.archive.gone import JobArchived, tombstone_document
from service.dashboard.actions import ReadOnlyJobKey
from service.dashboard.chrome import chrome
from service.dashboard.csrf import ForgedForm
from service.dashboard.schedules import ReadOnlyKey
from service.dashboard.session import NotSignedIn
from service.store.outage import DatabaseUnavailable


def _around(request: Request) -> tuple[dict, list]:
    """The signed-in header's context, when the viewer was known before the error."""
    if (principal := request.state.get("principal")) is None:
        return {}, []
    return chrome(request, principal, request.app.state.settings)


def _page(request: Request, status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Template:
    context, cookies = _around(request)
    context |= {"title": title, "detail": detail, "status": status}
    return Template(template_name="error.html", context=context, status_code=status, headers=headers, cookies=cookies)


def on_not_signed_in(request: Request, error: NotSignedIn) -> Response:
    return Redirect("/", status_code=303)


def on_forged_form(request: Request, error: ForgedForm) -> Response:
    return _page(request, 403, "Form expired", "This form is no longer valid. Go back, reload the page and try again.")


def on_job_not_found(request: Request, error: JobNotFound) -> Response:
    return _page(request, 404, "No such job", "There is no such job, or this key may not see it.")


def on_job_archived(request: Request, error: JobArchived) -> Response:
    """The tombstone, to whoever could have seen the job (service/api/jobs.py decides)."""
    context, cookies = _around(request)
    context["tombstone"] = tombstone_document(error.tombstone)
    return Template(template_name="archived.html", context=context, status_code=410, cookies=cookies)


def on_schedule_not_found(request: Request, error: ScheduleNotFound) -> Response:
    return _page(request, 404, "No such schedule", "There is no such schedule, or this key may not see it.")


def on_read_only(request: Request, error: ReadOnlyKey) -> Response:
    return _page(
        request, 403, "Read-only key", "This key may read schedules but not change them: that takes jobs:write."
    )


def on_illegal_move(request: Request, error: IllegalScheduleMove) -> Response:
    return _page(
        request, 409, "Not possible now", f"The schedule is {error.status}: it can no longer be paused or resumed."
    )


def on_read_only_job(request: Request, error: ReadOnlyJobKey) -> Response:
    detail = "This key may read this job but not change it: that takes its owner's key with jobs:write."
    return _page(request, 403, "Not allowed", detail)


def on_illegal_transition(request: Request, error: IllegalTransition) -> Response:
    return _page(request, 409, "Not possible now", f"{str(error).capitalize()}.")


def on_invalid(request: Request, error: ValidationException) -> Response:
    return _page(request, 400, "Bad request", "A filter or form field is not valid.")


def on_http(request: Request, error: HTTPException) -> Response:
    return _page(request, error.status_code, "Error", str(error.detail))


def on_unavailable(request: Request, error: DatabaseUnavailable) -> Response:
    """As on the API: 503 with Retry-After, and one log line per outage (service/store/outage.py)."""
    request.app.state.outage.failed(f"{request.method} {request.url.path}", error)
    detail = "The database cannot be reached just now. Try again in a few seconds."
    return _page(request, 503, "Temporarily unavailable", detail, {"Retry-After": str(RETRY_AFTER_S)})


def on_unexpected(request: Request, error: Exception) -> Response:
    # Method and path only, as for the API: cookies carry keys.
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return _page(request, 500, "Something went wrong", "An unexpected error occurred; it has been logged.")


HTML_HANDLERS: ExceptionHandlersMap = {
    NotSignedIn: on_not_signed_in,
    ForgedForm: on_forged_form,
    JobNotFound: on_job_not_found,
    JobArchived: on_job_archived,
    ScheduleNotFound: on_schedule_not_found,
    ReadOnlyKey: on_read_only,
    ReadOnlyJobKey: on_read_only_job,
    IllegalTransition: on_illegal_transition,
    IllegalScheduleMove: on_illegal_move,
    ValidationException: on_invalid,
    HTTPException: on_http,
    DatabaseUnavailable: on_unavailable,
    Exception: on_unexpected,
}
