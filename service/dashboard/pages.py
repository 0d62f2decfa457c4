"""The dashboard's routes: thin, they authenticate by cookie, read, and render a template;
the forms that change something (sign-in and out, a job's cancel and retry, a schedule's
pause and resume) carry a CSRF token.

Full pages and the fragments their script polls share templates, so a live update
renders exactly what a reload would.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Stream, Template

from domain.errors import JobNotFound
from domain.lifecycle import Status
from projections.export import export_lines
from projections.log import job_owner, read_stream
from service.api.audit import MAX_VERSION
from service.api.auth import may_see
from service.api.dependencies import Broker, CommitObservers, CurrentSettings, DeliveryProbe, Kinds, Pool
from service.api.jobs import missing_job, provenance
from service.auth.keys import Principal, authenticate
from service.auth.sessions import end_session, start_session
from service.clock import now
from service.dashboard import csrf, schedules, search, session
from service.dashboard.actions import Action, ReadOnlyJobKey, may_operate, perform
from service.dashboard.chrome import chrome
from service.dashboard.errors import HTML_HANDLERS
from service.dashboard.job_list import MAX_PAGE_SIZE, PAGE_SIZE, found, listed
from service.dashboard.job_page import changes, job_page
from service.dashboard.overview import overview
from service.jobs.observers import Observers
from service.schedules import service as schedule_service
from service.store.job_status import load

# Pages show tenants' data: never cached (a back button after sign-out shows nothing),
# never framed, and they load nothing but their own static files.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "Referrer-Policy": "same-origin",
}
# The filter form sends its empty fields too: "" means any.
StatusFilter = Annotated[str | None, QueryParameter(pattern="^(" + "|".join(Status) + ")?$")]
Kind = Annotated[str | None, QueryParameter(max_length=100, pattern=r"^[^\x00]*$")]
PageSize = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE)]
SearchText = Annotated[str | None, QueryParameter(max_length=100)]
ScheduleChange = Callable[..., Awaitable[object]]  # service.pause or service.resume


class SignInForm(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    key: str = ""
    csrf_token: str = ""


class SignOutForm(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    csrf_token: str = ""


class ScheduleForm(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    csrf_token: str = ""


class ActionForm(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    csrf_token: str = ""


def _sign_in_form(request: Request, settings: CurrentSettings, message: str | None = None) -> Template:
    token, new = csrf.token_for(request)
    return Template(
        template_name="sign_in.html",
        context={"csrf_token": token, "message": message},
        status_code=422 if message else 200,
        cookies=csrf.token_cookies(token, new, settings) + _legacy_cleared(request, settings),
    )


def _legacy_cleared(request: Request, settings: CurrentSettings) -> list:
    """An API key an earlier version left in a cookie is removed from the browser."""
    return (
        [session.cleared(session.LEGACY_KEY_COOKIE, settings)] if session.LEGACY_KEY_COOKIE in request.cookies else []
    )


def _chrome(request: Request, principal: Principal, settings: CurrentSettings) -> tuple[dict, list]:
    return chrome(request, principal, settings)


async def _acted(
    request: Request, pool: Pool, kinds: Kinds, observers: Observers, job_id: UUID, form: ActionForm, action: Action
) -> Redirect:
    """A cancel or retry by form: the form's token, then the key's right to change this
    job, then the move; back to the job's page, which shows its new status."""
    csrf.check(request, form.csrf_token)
    principal = await session.viewer(request, pool)
    async with pool.connection() as conn:
        state = await load(conn, job_id)
    if state.status is None:
        await missing_job(pool, principal, job_id)
    if not may_see(principal, state.owner):
        raise JobNotFound()
    if not may_operate(principal, state):
        raise ReadOnlyJobKey()
    await perform(pool, kinds, observers, job_id, state, action, provenance(request, principal))
    return Redirect(f"/jobs/{job_id}", status_code=303)


async def _changed(
    request: Request,
    pool: Pool,
    kinds: Kinds,
    observers: Observers,
    schedule_id: UUID,
    form: ScheduleForm,
    change: ScheduleChange,
) -> Redirect:
    """A pause or resume by form: the form's token, then the key's right to change this
    schedule, then the change; back to the schedule's page, which shows its new status."""
    csrf.check(request, form.csrf_token)
    principal = await session.viewer(request, pool)
    await schedules.changeable(pool, principal, schedule_id)
    await change(pool, kinds, schedule_id, provenance(request, principal), observers=observers)  # wakes the keeper
    return Redirect(f"/schedules/{schedule_id}", status_code=303)


class DashboardController(Controller):
    path = "/"
    include_in_schema = False
    exception_handlers = HTML_HANDLERS
    response_headers = PAGE_HEADERS

    @get("/")
    async def home(self, request: Request, pool: Pool, settings: CurrentSettings) -> Template | Redirect:
        if await session.signed_in(request, pool):
            return Redirect("/jobs")
        return _sign_in_form(request, settings)

    @post("/login", status_code=303)
    async def sign_in(
        self, request: Request, data: URLEncodedBody[SignInForm], pool: Pool, settings: CurrentSettings
    ) -> Template | Redirect:
        csrf.check(request, data.csrf_token)
        key = data.key.strip()
        async with pool.connection() as conn:
            principal = await authenticate(conn, key) if key else None
            if principal is None:
                return _sign_in_form(request, settings, "That API key is unknown or revoked.")
            if not session.may_read(principal):
                message = "That API key may not read jobs: it needs jobs:read or audit:read."
                return _sign_in_form(request, settings, message)
            if previous := request.cookies.get(session.SESSION_COOKIE):
                await end_session(conn, previous)  # a sign-in never keeps a session it did not start
            token = await start_session(conn, principal.key_id, settings.dashboard_session_s)
        cookies = [session.session_cookie(token, settings), *_legacy_cleared(request, settings)]
        return Redirect("/jobs", status_code=303, cookies=cookies)

    @post("/logout", status_code=303)
    async def sign_out(
        self, request: Request, data: URLEncodedBody[SignOutForm], pool: Pool, settings: CurrentSettings
    ) -> Redirect:
        """The session ends in the database, so a copy of the cookie stops working too."""
        csrf.check(request, data.csrf_token)
        if token := request.cookies.get(session.SESSION_COOKIE):
            async with pool.connection() as conn:
                await end_session(conn, token)
        cookies = [session.cleared(session.SESSION_COOKIE, settings), *_legacy_cleared(request, settings)]
        return Redirect("/", status_code=303, cookies=cookies)

    @get("/overview")
    async def overview(
        self,
        request: Request,
        pool: Pool,
        settings: CurrentSettings,
        broker_status: Broker,
        delivery_probe: DeliveryProbe,
    ) -> Template:
        principal = await session.viewer(request, pool)
        context, cookies = _chrome(request, principal, settings)
        figures = await overview(pool, principal, now(), settings.report_stuck_after_s, broker_status, delivery_probe)
        return Template(template_name="overview.html", context={**context, **figures}, cookies=cookies)

    @get("/jobs")
    async def jobs(
        self,
        request: Request,
        pool: Pool,
        settings: CurrentSettings,
        status: StatusFilter = None,
        kind: Kind = None,
        cursor: FromQuery[str | None] = None,
        limit: PageSize = PAGE_SIZE,
        q: SearchText = None,
    ) -> Template | Redirect:
        """The list, or with `q` a search by id: a whole id opens its page, a prefix lists its matches."""
        principal = await session.viewer(request, pool)
        context, cookies = _chrome(request, principal, settings)
        query = search.parse(q) if q else None
        if isinstance(query, search.WholeId):
            return Redirect(f"/jobs/{query.job_id}", status_code=303)
        context |= await listed(pool, principal, status, kind, cursor, limit)
        status_code = 200
        if isinstance(query, search.IdRange):
            context |= await found(pool, principal, query) | {"poll_url": None, "next_url": None, "first_url": None}
        elif isinstance(query, search.Unsearchable):
            context |= {"jobs": [], "poll_url": None, "next_url": None, "first_url": None, "search_error": query.reason}
            status_code = 422
        context["q"] = q or ""
        return Template(template_name="jobs.html", context=context, cookies=cookies, status_code=status_code)

    @get("/jobs/rows")
    async def job_rows(
        self,
        request: Request,
        pool: Pool,
        status: StatusFilter = None,
        kind: Kind = None,
        cursor: FromQuery[str | None] = None,
        limit: PageSize = PAGE_SIZE,
    ) -> Template:
        principal = await session.viewer(request, pool)
        context = await listed(pool, principal, status, kind, cursor, limit)
        return Template(template_name="_job_rows.html", context=context)

    @get("/jobs/{job_id:uuid}")
    async def job(
        self,
        request: Request,
        job_id: FromPath[UUID],
        pool: Pool,
        settings: CurrentSettings,
        everything: Annotated[bool, QueryParameter(name="all")] = False,
    ) -> Template:
        principal = await session.viewer(request, pool)
        context, cookies = _chrome(request, principal, settings)
        context |= await job_page(pool, principal, job_id, everything)
        return Template(template_name="job.html", context=context, cookies=cookies)

    @get("/jobs/{job_id:uuid}/live")
    async def job_live(
        self,
        request: Request,
        job_id: FromPath[UUID],
        pool: Pool,
        since: Annotated[int, QueryParameter(ge=0, le=MAX_VERSION)] = 0,
    ) -> Template | Response:
        """What changed since the version the page shows: nothing (204, one query), or the
        summary and the new events only, so a long history is not re-rendered every second."""
        principal, state = await session.viewer_and_job(request, pool, job_id)
        if state.status is None:
            await missing_job(pool, principal, job_id)
        if not may_see(principal, state.owner):
            raise JobNotFound()
        if since and state.version <= since:
            return Response(content=None, status_code=204)
        if since:
            context = await changes(pool, principal, job_id, state, since)
        else:
            context = await job_page(pool, principal, job_id)
        context["csrf_token"] = request.cookies.get(csrf.CSRF_COOKIE, "")  # for the action forms it may bring
        return Template(template_name="_job_live.html", context=context)

    @get("/jobs/{job_id:uuid}/export")
    async def export(self, request: Request, job_id: FromPath[UUID], pool: Pool) -> Stream:
        """The history as `GET /v1/jobs/{id}/export` gives it, for a browser signed in by cookie."""
        principal = await session.viewer(request, pool)
        async with pool.connection() as conn:
            events = await read_stream(conn, job_id)
        if not events:
            await missing_job(pool, principal, job_id)
        if (owner := job_owner(events)) is None or not may_see(principal, owner):
            raise JobNotFound()
        disposition = {"Content-Disposition": f'attachment; filename="job-{job_id}.ndjson"'}
        return Stream(export_lines(job_id, events), media_type="application/x-ndjson", headers=disposition)

    @post("/jobs/{job_id:uuid}/cancel", status_code=303)
    async def cancel(
        self,
        request: Request,
        job_id: FromPath[UUID],
        data: URLEncodedBody[ActionForm],
        pool: Pool,
        kinds: Kinds,
        observers: CommitObservers,
    ) -> Redirect:
        return await _acted(request, pool, kinds, observers, job_id, data, Action.CANCEL)

    @post("/jobs/{job_id:uuid}/retry", status_code=303)
    async def retry(
        self,
        request: Request,
        job_id: FromPath[UUID],
        data: URLEncodedBody[ActionForm],
        pool: Pool,
        kinds: Kinds,
        observers: CommitObservers,
    ) -> Redirect:
        return await _acted(request, pool, kinds, observers, job_id, data, Action.RETRY)

    @get("/schedules")
    async def schedules(
        self, request: Request, pool: Pool, settings: CurrentSettings, cursor: FromQuery[str | None] = None
    ) -> Template:
        principal = await session.viewer(request, pool)
        chrome, cookies = _chrome(request, principal, settings)
        context = {**chrome, **await schedules.listed(pool, principal, cursor)}
        return Template(template_name="schedules.html", context=context, cookies=cookies)

    @get("/schedules/rows")
    async def schedule_rows(self, request: Request, pool: Pool, cursor: FromQuery[str | None] = None) -> Template:
        principal = await session.viewer(request, pool)
        context = await schedules.listed(pool, principal, cursor)
        return Template(template_name="_schedule_rows.html", context=context)

    @get("/schedules/{schedule_id:uuid}")
    async def schedule(
        self, request: Request, schedule_id: FromPath[UUID], pool: Pool, settings: CurrentSettings
    ) -> Template:
        principal = await session.viewer(request, pool)
        chrome, cookies = _chrome(request, principal, settings)
        context = {**chrome, **await schedules.shown(pool, principal, schedule_id)}
        return Template(template_name="schedule.html", context=context, cookies=cookies)

    @get("/schedules/{schedule_id:uuid}/jobs")
    async def schedule_jobs(self, request: Request, schedule_id: FromPath[UUID], pool: Pool) -> Template:
        """The jobs it created last, polled: their statuses change while the page is open."""
        principal = await session.viewer(request, pool)
        await schedules.visible(pool, principal, schedule_id)
        context = await schedules.last_jobs(pool, schedule_id)
        return Template(template_name="_schedule_jobs.html", context=context)

    @post("/schedules/{schedule_id:uuid}/pause", status_code=303)
    async def pause(
        self,
        request: Request,
        schedule_id: FromPath[UUID],
        data: URLEncodedBody[ScheduleForm],
        pool: Pool,
        kinds: Kinds,
        observers: CommitObservers,
    ) -> Redirect:
        return await _changed(request, pool, kinds, observers, schedule_id, data, schedule_service.pause)

    @post("/schedules/{schedule_id:uuid}/resume", status_code=303)
    async def resume(
        self,
        request: Request,
        schedule_id: FromPath[UUID],
        data: URLEncodedBody[ScheduleForm],
        pool: Pool,
        kinds: Kinds,
        observers: CommitObservers,
    ) -> Redirect:
        return await _changed(request, pool, kinds, observers, schedule_id, data, schedule_service.resume)
