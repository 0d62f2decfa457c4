"""Job routes: create, read, list, cancel, retry. Thin: parse, authorize, hand to the domain."""

import asyncio
import uuid
from datetime import datetime
from typing import Annotated, NoReturn

import structlog
from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import (
    FromPath,
    FromQuery,
    HeaderParameter,
    JSONBody,
    QueryParameter,
)

from domain.commands import AnyCommand, Cancel, Requeue, TimeOut
from domain.errors import JobAlreadyExists, JobNotFound
from domain.kinds import create_job
from domain.lifecycle import Status
from domain.state import JobState, is_overdue
from projections.log import Metadata
from service.api.auth import BEARER, may_see, principal_and_job, require, require_read
from service.api.content_type import require_json_body
from service.api.dependencies import Caller, CommitObservers, CurrentSettings, Kinds, Pool
from service.api.problems import ProblemError, problem_responses
from service.api.schemas import CreateJobRequest, JobDocument, JobPage, document
from service.api.webhook_targets import checked_target
from service.archive.gone import JobArchived
from service.auth.keys import Scope
from service.clock import now
from service.jobs.command_handler import handle
from service.jobs.kinds import Kind, lookup, requeue_deadline, validate_params
from service.store import tombstones, webhooks
from service.store.job_status import BadCursor, Filters, load, page

IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0f8a43-6d0e-4a55-9a3b-2f1c7e9d4a10")
MIN_VERSION_WAIT_S = 2.0

# A `?kind=` filter: as long as a kind's name may be, and no NUL, which PostgreSQL could
# not even compare.
KindFilter = Annotated[str | None, QueryParameter(min_length=1, max_length=100, pattern=r"^[^\x00]+$")]


def provenance(request: Request, principal: Caller) -> Metadata:
    return Metadata(actor=f"api-key:{principal.key_id}", request_id=request.state.get("request_id"))


def job_response(job_id: uuid.UUID, state: JobState, status_code: int = 200) -> Response[JobDocument]:
    headers = {"X-Job-Version": str(state.version)}
    if status_code == 201:
        headers["Location"] = f"/v1/jobs/{job_id}"
    return Response(document(job_id, state), status_code=status_code, headers=headers)


async def visible_job(pool: Pool, principal: Caller, job_id: uuid.UUID) -> JobState:
    """The job, if this caller may see it; otherwise exactly what a missing job looks like."""
    async with pool.connection() as conn:
        state = await load(conn, job_id)
    if state.status is None:
        await missing_job(pool, principal, job_id)
    if not may_see(principal, state.owner):
        raise JobNotFound()
    return state


async def missing_job(pool: Pool, principal: Caller, job_id: uuid.UUID, *, to_operate: bool = False) -> NoReturn:
    """What a caller is told of a job the database does not hold: 410 with its tombstone if
    it was archived and the caller could have seen it (to operate: its owner), else 404.

    Asked only on the way to a 404, so reads of live jobs pay nothing for it."""
    async with pool.connection() as conn:
        stone = await tombstones.gone(conn, job_id)
    if stone is not None and (stone.owner == principal.owner if to_operate else may_see(principal, stone.owner)):
        raise JobArchived(stone)
    raise JobNotFound()


class JobsController(Controller):
    path = "/v1/jobs"
    tags = ["jobs"]
    security = BEARER

    @post(
        "/",
        before_request=require_json_body,
        status_code=201,
        summary="Create a job",
        responses={
            200: ResponseSpec(
                data_container=JobDocument,
                description="This Idempotency-Key already created this job, with the same body",
                generate_examples=False,
            ),
            **problem_responses(400, 401, 403, 409, 410, 413, 415, 422, 503),
        },
    )
    async def create(
        self,
        request: Request,
        data: JSONBody[CreateJobRequest],
        principal: Caller,
        pool: Pool,
        kinds: Kinds,
        observers: CommitObservers,
        settings: CurrentSettings,
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", min_length=1, max_length=200)
        ] = None,
    ) -> Response[JobDocument]:
        """Create a job. The same Idempotency-Key with the same body returns the same job (200)."""
        require(principal, Scope.JOBS_WRITE)
        kind = lookup(kinds, data.kind)
        if data.notify_url is not None:
            await notify_url_accepted(pool, settings, principal.owner, data.notify_url)
        command = create_job(
            kind.name,
            kind.config,
            owner=principal.owner,
            at=now(),
            params=validate_params(kind, data.params),
            target_results=data.target_results,
            max_runs=data.max_runs,
            deadline_s=data.deadline_s,
            idempotency_key=idempotency_key,
            notify_url=data.notify_url,
        )
        if idempotency_key is None:
            job_id = uuid.uuid4()
        else:
            job_id = uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{principal.owner}\n{idempotency_key}")
        structlog.contextvars.bind_contextvars(job_id=str(job_id), kind=kind.name)
        if idempotency_key is not None:  # the key's job may have been archived: never make it again
            async with pool.connection() as conn:
                if (stone := await tombstones.gone(conn, job_id)) is not None:
                    raise JobArchived(stone)
        try:
            handled = await handle(pool, job_id, command, provenance(request, principal), observers=observers)
        except JobAlreadyExists:
            state = await visible_job(pool, principal, job_id)
            if not _same_request(state, command, data.deadline_s, kind):
                raise ProblemError(409, "this Idempotency-Key was already used with a different request body") from None
            return job_response(job_id, state)
        return job_response(job_id, handled.state, status_code=201)

    @get("/{job_id:uuid}", summary="Read a job's status", responses=problem_responses(400, 401, 403, 404, 410, 503))
    async def read(
        self,
        request: Request,
        job_id: FromPath[uuid.UUID],
        min_version: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> Response[JobDocument]:
        """The job's status. `min_version` waits briefly until the projection has reached it."""
        pool = request.app.state.pool  # the hottest route skips DI: one lookup fewer per read
        principal, state = await principal_and_job(request, pool, job_id)
        require_read(principal)
        if state.status is None:
            await missing_job(pool, principal, job_id)
        if not may_see(principal, state.owner):
            raise JobNotFound()
        deadline = asyncio.get_running_loop().time() + MIN_VERSION_WAIT_S
        while min_version and state.version < min_version and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
            state = await visible_job(pool, principal, job_id)
        # Any reader, an auditor too, times an overdue job out: it is the domain noticing a
        # deadline that has already decided the outcome (recorded as actor "read", not as the
        # caller's key), so every reader of the same job at the same instant gets the same answer.
        if is_overdue(state, now()):
            command = TimeOut(at=now(), detected_by="read")
            handled = await handle(pool, job_id, command, Metadata(actor="read"), observers=request.app.state.observers)
            state = handled.state
        return job_response(job_id, state)

    @get("/", summary="List jobs, newest first", responses=problem_responses(400, 401, 403))
    async def list_jobs(
        self,
        principal: Caller,
        pool: Pool,
        status: FromQuery[Status | None] = None,
        kind: KindFilter = None,
        created_after: FromQuery[datetime | None] = None,
        created_before: FromQuery[datetime | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> JobPage:
        """A page of jobs and the cursor of the next one (keyset pagination, stable under inserts).
        An `audit:read` key lists every owner's jobs; any other, its owner's only. The first
        page also counts the jobs archived (no longer listed), whatever the filters."""
        require_read(principal)
        owner = None if Scope.AUDIT_READ in principal.scopes else principal.owner
        filters = Filters(
            owner=owner, status=status, kind=kind, created_after=created_after, created_before=created_before
        )
        try:
            async with pool.connection() as conn:
                jobs, next_cursor = await page(conn, filters, limit, cursor)
                archived = await tombstones.count_archived(conn, owner) if cursor is None else None
        except BadCursor as error:
            raise ProblemError(400, str(error)) from None
        return JobPage(jobs=[document(sid, state) for sid, state in jobs], next_cursor=next_cursor, archived=archived)

    @post(
        "/{job_id:uuid}/cancel",
        before_request=require_json_body,
        status_code=200,
        summary="Cancel a pending or processing job",
        responses=problem_responses(400, 401, 403, 404, 409, 410, 415, 503),
    )
    async def cancel(
        self,
        request: Request,
        job_id: FromPath[uuid.UUID],
        principal: Caller,
        pool: Pool,
        observers: CommitObservers,
    ) -> Response[JobDocument]:
        state = await _owned_job(pool, principal, job_id)
        command = Cancel(at=now(), reason="cancelled by owner")
        return await _apply(request, pool, observers, principal, job_id, state, command)

    @post(
        "/{job_id:uuid}/retry",
        before_request=require_json_body,
        status_code=200,
        summary="Requeue a job that failed or timed out",
        responses=problem_responses(400, 401, 403, 404, 409, 410, 415, 503),
    )
    async def retry(
        self,
        request: Request,
        job_id: FromPath[uuid.UUID],
        principal: Caller,
        pool: Pool,
        kinds: Kinds,
        observers: CommitObservers,
    ) -> Response[JobDocument]:
        state = await _owned_job(pool, principal, job_id)
        at = now()
        command = Requeue(at=at, deadline=requeue_deadline(kinds, state.kind, at))
        return await _apply(request, pool, observers, principal, job_id, state, command)


async def _owned_job(pool: Pool, principal: Caller, job_id: uuid.UUID) -> JobState:
    """The job, if this caller may change it: its owner, with `jobs:write`."""
    require(principal, Scope.JOBS_WRITE)
    async with pool.connection() as conn:
        state = await load(conn, job_id)
    if state.status is None:
        await missing_job(pool, principal, job_id, to_operate=True)
    if state.owner != principal.owner:
        raise JobNotFound()  # auditors read, they do not operate
    return state


async def _apply(
    request: Request,
    pool: Pool,
    observers: CommitObservers,
    principal: Caller,
    job_id: uuid.UUID,
    state: JobState,
    command: AnyCommand,
) -> Response[JobDocument]:
    """Decide against the state just read; a concurrent change only costs a retry in `handle`."""
    metadata = provenance(request, principal)
    handled = await handle(pool, job_id, command, metadata, known=state, observers=observers)
    return job_response(job_id, handled.state)


async def notify_url_accepted(pool: Pool, settings: CurrentSettings, owner: str, url: str) -> None:
    """A notify_url notifications may go to, of an owner with a secret to sign them (422 naming the field)."""
    await checked_target(settings, url, "notify_url")
    async with pool.connection() as conn:
        secret = await webhooks.notify_secret(conn, owner)
    if secret is None:
        message = "no secret signs this owner's notifications yet: POST /v1/webhooks/notify-secret first"
        raise ProblemError(422, f"notify_url: {message}", errors=[{"key": "notify_url", "message": message}])


def _same_request(state: JobState, command, deadline_s: float | None, kind: Kind) -> bool:
    seconds = deadline_s if deadline_s is not None else kind.config.deadline_s
    created = state.created_at
    same_deadline = (state.deadline is None and seconds is None) or (
        state.deadline is not None
        and created is not None
        and seconds is not None
        and abs((state.deadline - created).total_seconds() - seconds) < 0.001
    )
    return (
        state.kind == command.kind
        and state.params == command.params
        and state.target_results == command.target_results
        and state.max_runs == command.max_runs
        and state.notify_url == command.notify_url
        and same_deadline
    )
