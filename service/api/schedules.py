"""Schedule routes: create, read, list, update, pause, resume, trigger, delete, and a
schedule's jobs, history and export. Thin: parse, authorize, hand to the schedule's command handler.

Keys, scopes and tenancy are the jobs' (service/api/auth.py): `jobs:read` reads the key
owner's schedules, `audit:read` every owner's, and only `jobs:write` changes them, the
owner's only. Another owner's schedule answers exactly as a missing one does.
"""

import uuid
from datetime import UTC, datetime
from typing import Annotated

import structlog
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from litestar.response import Stream
from msgspec.structs import asdict

from domain.schedule.commands import (
    CreateSchedule,
    DeleteSchedule,
    PauseSchedule,
    ResumeSchedule,
    UpdateSchedule,
)
from domain.schedule.errors import InvalidSchedule, ScheduleNotFound
from domain.schedule.events import ScheduleCreated, ScheduleTriggered
from domain.schedule.jobs import job_command
from domain.schedule.lifecycle import ScheduleStatus
from domain.schedule.spec import ScheduleSpec
from domain.schedule.state import ScheduleState, upcoming
from projections import schedules
from projections.chain import verify
from projections.export import export_lines
from projections.log import RecordedEvent, link, read_stream
from projections.proofs import signed_proofs
from service.api.audit import History, event_document
from service.api.auth import BEARER, may_see, require, require_read
from service.api.content_type import require_json_body
from service.api.dependencies import Caller, CommitObservers, Kinds, Pool
from service.api.jobs import KindFilter, provenance
from service.api.problems import ProblemError, problem_responses
from service.api.schedule_schemas import (
    CreateScheduleRequest,
    ScheduleDocument,
    ScheduleJobs,
    SchedulePage,
    Triggered,
    UpdateScheduleRequest,
    schedule_document,
)
from service.api.schemas import document
from service.auth.keys import Scope
from service.clock import now
from service.jobs.kinds import InvalidParams, Kind, UnknownKind, lookup, validate_params
from service.schedules import service
from service.store import job_status
from service.store.job_status import BadCursor, decode_cursor, encode_cursor

NEXT_FIRES = 5

IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", min_length=1, max_length=200)]


def schedule_response(schedule_id: uuid.UUID, state: ScheduleState, status_code: int = 200) -> Response:
    headers = {"X-Schedule-Version": str(state.version)}
    if status_code == 201:
        headers["Location"] = f"/v1/schedules/{schedule_id}"
    body = schedule_document(schedule_id, state, upcoming(state, now(), NEXT_FIRES))
    return Response(body, status_code=status_code, headers=headers)


async def visible_schedule(pool: Pool, principal: Caller, schedule_id: uuid.UUID) -> ScheduleState:
    """The schedule, if this caller may read it; otherwise exactly what a missing one looks like."""
    require_read(principal)
    async with pool.connection() as conn:
        state = await schedules.load(conn, schedule_id)
    if state.status is None or not may_see(principal, state.owner):
        raise ScheduleNotFound()
    return state


async def owned_schedule(pool: Pool, principal: Caller, schedule_id: uuid.UUID) -> ScheduleState:
    """The schedule, if this caller may change it: its owner, with `jobs:write`."""
    require(principal, Scope.JOBS_WRITE)
    async with pool.connection() as conn:
        state = await schedules.load(conn, schedule_id)
    if state.status is None or state.owner != principal.owner:
        raise ScheduleNotFound()  # auditors read, they do not operate
    return state


def known_kind(kinds: Kinds, name: str) -> Kind:
    try:
        return lookup(kinds, name)
    except UnknownKind as error:
        raise ProblemError(422, str(error), errors=[_field("kind", str(error))], known_kinds=error.known) from None


def checked_limits(kind: Kind, spec: ScheduleSpec, at: datetime) -> None:
    """The limits of the job each tick would create, within the kind's (a 422 naming the field)."""
    if spec.max_runs is not None and spec.max_runs > kind.config.max_runs:
        raise InvalidSchedule(
            "max_runs", f"max_runs {spec.max_runs} exceeds the kind's limit of {kind.config.max_runs}"
        )
    job_command(spec, kind.config, at)


def checked_params(kind: Kind, params: dict) -> dict:
    try:
        return validate_params(kind, params)
    except InvalidParams as error:
        raise ProblemError(422, str(error), errors=[_field("params", str(error))]) from None


def _field(name: str, message: str) -> dict[str, str]:
    return {"key": name, "message": message}


class SchedulesController(Controller):
    path = "/v1/schedules"
    tags = ["schedules"]
    security = BEARER

    @post(
        "/",
        before_request=require_json_body,
        status_code=201,
        summary="Create a schedule",
        responses={
            200: ResponseSpec(
                data_container=ScheduleDocument,
                description="This Idempotency-Key already created this schedule, with the same body",
                generate_examples=False,
            ),
            **problem_responses(400, 401, 403, 409, 413, 415, 422, 503),
        },
    )
    async def create(
        self,
        request: Request,
        data: JSONBody[CreateScheduleRequest],
        principal: Caller,
        pool: Pool,
        kinds: Kinds,
        observers: CommitObservers,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[ScheduleDocument]:
        """Create a schedule: each tick of its cron, read in its time zone, creates one job.
        The same Idempotency-Key with the same body returns the same schedule (200)."""
        require(principal, Scope.JOBS_WRITE)
        at = now()
        kind = known_kind(kinds, data.kind)
        params = checked_params(kind, data.params)
        command = CreateSchedule(
            at=at,
            owner=principal.owner,
            kind=data.kind,
            params=params,
            target_results=data.target_results,
            max_runs=data.max_runs,
            deadline_s=data.deadline_s,
            cron=data.cron,
            time_zone=data.time_zone,
            overlap=data.overlap,
            catch_up=data.catch_up,
            end_at=data.end_at,
            paused=data.paused,
            idempotency_key=idempotency_key,
        )
        checked_limits(kind, command, at)
        structlog.contextvars.bind_contextvars(kind=data.kind)
        spec = {name: value for name, value in asdict(command).items() if name != "at"}
        schedule_id, state, new = await service.create(
            pool, kinds, spec, provenance(request, principal), observers=observers
        )
        if new:
            return schedule_response(schedule_id, state, status_code=201)
        if state.owner != principal.owner or not await _same_request(pool, schedule_id, command):
            raise ProblemError(409, "this Idempotency-Key was already used with a different request body")
        return schedule_response(schedule_id, state)

    @get("/", summary="List schedules, newest first", responses=problem_responses(400, 401, 403))
    async def list_schedules(
        self,
        principal: Caller,
        pool: Pool,
        status: FromQuery[ScheduleStatus | None] = None,
        kind: KindFilter = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> SchedulePage:
        """A page of schedules and the cursor of the next one (keyset pagination, stable under
        inserts), each with its next fire. An `audit:read` key lists every owner's."""
        require_read(principal)
        owner = None if Scope.AUDIT_READ in principal.scopes else principal.owner
        try:
            after = decode_cursor(cursor) if cursor else None
        except BadCursor as error:
            raise ProblemError(400, str(error)) from None
        async with pool.connection() as conn:
            rows = await schedules.page(
                conn,
                owner=owner,
                status=status,
                kind=kind,
                after=(after.created_at, after.stream_id) if after else None,
                limit=limit + 1,
            )
        at = now()
        found = [schedule_document(sid, state, upcoming(state, at, 1)) for sid, state in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        next_cursor = encode_cursor(last[1].created_at, last[0]) if last and last[1].created_at else None
        return SchedulePage(schedules=found, next_cursor=next_cursor)

    @get(
        "/{schedule_id:uuid}",
        summary="Read a schedule, its next five fires and its cron in words",
        responses=problem_responses(400, 401, 403, 404, 503),
    )
    async def read(self, schedule_id: FromPath[uuid.UUID], principal: Caller, pool: Pool) -> Response[ScheduleDocument]:
        return schedule_response(schedule_id, await visible_schedule(pool, principal, schedule_id))

    @patch(
        "/{schedule_id:uuid}",
        before_request=require_json_body,
        summary="Change a schedule's job, cron, time zone, policies or end date",
        responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 503),
    )
    async def update(
        self,
        request: Request,
        schedule_id: FromPath[uuid.UUID],
        data: JSONBody[UpdateScheduleRequest],
        principal: Caller,
        pool: Pool,
        kinds: Kinds,
        observers: CommitObservers,
    ) -> Response[ScheduleDocument]:
        """Only the fields sent change; null clears the end date or a limit (back to the kind's)."""
        state = await owned_schedule(pool, principal, schedule_id)
        changes = data.changes().changed()
        at = now()
        kind = known_kind(kinds, state.kind)
        if "params" in changes:
            changes["params"] = checked_params(kind, changes["params"])
        changed = ScheduleSpec(**{**{f: getattr(state, f) for f in ScheduleSpec.__struct_fields__}, **changes})
        checked_limits(kind, changed, at)
        command = UpdateSchedule(at=at, **changes)
        return await _apply(request, pool, kinds, observers, principal, schedule_id, command)

    @post(
        "/{schedule_id:uuid}/pause",
        status_code=200,
        summary="Pause a schedule: its ticks create no job until it is resumed",
        responses=problem_responses(400, 401, 403, 404, 409, 503),
    )
    async def pause(
        self,
        request: Request,
        schedule_id: FromPath[uuid.UUID],
        principal: Caller,
        pool: Pool,
        kinds: Kinds,
        observers: CommitObservers,
    ) -> Response[ScheduleDocument]:
        await owned_schedule(pool, principal, schedule_id)
        return await _apply(request, pool, kinds, observers, principal, schedule_id, PauseSchedule(at=now()))

    @post(
        "/{schedule_id:uuid}/resume",
        status_code=200,
        summary="Resume a paused schedule from its next tick (the ticks passed while paused are not owed)",
        responses=problem_responses(400, 401, 403, 404, 409, 503),
    )
    async def resume(
        self,
        request: Request,
        schedule_id: FromPath[uuid.UUID],
        principal: Caller,
        pool: Pool,
        kinds: Kinds,
        observers: CommitObservers,
    ) -> Response[ScheduleDocument]:
        await owned_schedule(pool, principal, schedule_id)
        return await _apply(request, pool, kinds, observers, principal, schedule_id, ResumeSchedule(at=now()))

    @delete(
        "/{schedule_id:uuid}",
        status_code=200,
        summary="Delete a schedule: it fires no more; its history and jobs stay",
        responses=problem_responses(400, 401, 403, 404, 503),
    )
    async def remove(
        self,
        request: Request,
        schedule_id: FromPath[uuid.UUID],
        principal: Caller,
        pool: Pool,
        kinds: Kinds,
        observers: CommitObservers,
    ) -> Response[ScheduleDocument]:
        await owned_schedule(pool, principal, schedule_id)
        return await _apply(request, pool, kinds, observers, principal, schedule_id, DeleteSchedule(at=now()))

    @post(
        "/{schedule_id:uuid}/trigger",
        status_code=201,
        summary="Fire a schedule now, once, outside its cron",
        responses={
            200: ResponseSpec(
                data_container=Triggered,
                description="No job: this Idempotency-Key already created one (it is returned), "
                "or the overlap policy skipped it (`reason`)",
                generate_examples=False,
            ),
            **problem_responses(400, 401, 403, 404, 409, 503),
        },
    )
    async def trigger(
        self,
        request: Request,
        schedule_id: FromPath[uuid.UUID],
        principal: Caller,
        pool: Pool,
        kinds: Kinds,
        observers: CommitObservers,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[Triggered]:
        """Creates one job now (201), as a tick would, the overlap policy included. The same
        Idempotency-Key again creates none and answers the job it created (200)."""
        await owned_schedule(pool, principal, schedule_id)
        handled = await service.trigger(
            pool,
            kinds,
            schedule_id,
            provenance(request, principal),
            idempotency_key=idempotency_key,
            observers=observers,
        )
        if idempotency_key is not None and not handled.events:  # a repeat: its job exists already
            job_id = service.trigger_job_id(schedule_id, idempotency_key)
            async with pool.connection() as conn:
                job = await job_status.load(conn, job_id)
            body = Triggered(schedule=_document(schedule_id, handled.state), job=document(job_id, job))
            return Response(body, status_code=200)
        schedule = _document(schedule_id, handled.state)
        if handled.job is not None:
            created = document(handled.job.job_id, handled.job.state)
            headers = {"Location": f"/v1/jobs/{handled.job.job_id}"}
            return Response(Triggered(schedule=schedule, job=created), status_code=201, headers=headers)
        reason = next((e.reason for e in handled.events if isinstance(e, ScheduleTriggered)), None)
        return Response(Triggered(schedule=schedule, job=None, reason=reason), status_code=200)

    @get(
        "/{schedule_id:uuid}/jobs",
        summary="The jobs a schedule created, newest first",
        responses=problem_responses(400, 401, 403, 404, 503),
    )
    async def jobs(
        self,
        schedule_id: FromPath[uuid.UUID],
        principal: Caller,
        pool: Pool,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> ScheduleJobs:
        """A page of the jobs its ticks and triggers created, and the cursor of the next."""
        await visible_schedule(pool, principal, schedule_id)
        found, last = await service.created_jobs(pool, schedule_id, before=_version_cursor(cursor), limit=limit)
        jobs = [document(job_id, state) for job_id, state in found]
        next_cursor = str(last) if last is not None else None
        return ScheduleJobs(schedule_id=schedule_id, jobs=jobs, next_cursor=next_cursor)

    @get(
        "/{schedule_id:uuid}/events",
        summary="A schedule's whole history, with provenance and chain verification",
        responses=problem_responses(400, 401, 403, 404),
    )
    async def events(self, schedule_id: FromPath[uuid.UUID], principal: Caller, pool: Pool) -> History:
        events = await _history(pool, principal, schedule_id)
        return History(
            job_id=schedule_id,
            events=[event_document(e) for e in events],
            chain=verify([link(e) for e in events]),
        )

    @get(
        "/{schedule_id:uuid}/export",
        summary="A schedule's history as NDJSON, verifiable offline with `jobtrail verify-export`",
        media_type="application/x-ndjson",
        responses=problem_responses(400, 401, 403, 404),
    )
    async def export(self, schedule_id: FromPath[uuid.UUID], principal: Caller, pool: Pool) -> Stream:
        events = await _history(pool, principal, schedule_id)
        async with pool.connection() as conn:
            signed = await signed_proofs(conn, events)
        return Stream(
            export_lines(schedule_id, events, signed),
            media_type="application/x-ndjson",
            headers={"Content-Disposition": f'attachment; filename="schedule-{schedule_id}.ndjson"'},
        )


async def _history(pool: Pool, principal: Caller, schedule_id: uuid.UUID) -> list[RecordedEvent]:
    """The schedule's events, if this caller may read them; otherwise a 404 like a missing one."""
    require_read(principal)
    async with pool.connection() as conn:
        events = await read_stream(conn, schedule_id)
    first = events[0].event if events else None
    if not isinstance(first, ScheduleCreated) or not may_see(principal, first.owner):
        raise ScheduleNotFound()
    return events


def _document(schedule_id: uuid.UUID, state: ScheduleState) -> ScheduleDocument:
    return schedule_document(schedule_id, state, upcoming(state, now(), NEXT_FIRES))


def _version_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or not 0 < int(cursor) < 2**31:
        raise ProblemError(400, "the cursor is not one this service issued; start again without it")
    return int(cursor)


async def _apply(
    request: Request,
    pool: Pool,
    kinds: Kinds,
    observers: CommitObservers,
    principal: Caller,
    schedule_id: uuid.UUID,
    command: UpdateSchedule | PauseSchedule | ResumeSchedule | DeleteSchedule,
) -> Response[ScheduleDocument]:
    handled = await service.change(
        pool, kinds, schedule_id, command, provenance(request, principal), observers=observers
    )
    return schedule_response(schedule_id, handled.state)


async def _same_request(pool: Pool, schedule_id: uuid.UUID, command: CreateSchedule) -> bool:
    """Whether the schedule was created by this very request: its ScheduleCreated against
    what this command would record (the cron normalised, the end date in UTC), whatever
    updates followed."""
    async with pool.connection() as conn:
        created = await read_stream(conn, schedule_id, to_version=1)
    if not created or not isinstance(first := created[0].event, ScheduleCreated):
        return False
    recorded = asdict(first)
    asked = asdict(command)
    asked["cron"] = " ".join(command.cron.split())
    asked["end_at"] = command.end_at.astimezone(UTC) if command.end_at else None
    del recorded["at"], asked["at"]
    return recorded == asked
