"""Live routes: a job's status and the global log as Server-Sent Events.

Every message's `id:` is the global position of the event it reflects, so a client that
reconnects with `Last-Event-ID` resumes right after it: no gap, no repeat. Everything
that can be refused (key, scope, visibility, a bad Last-Event-ID) is refused before the
stream starts, as a problem document.
"""

import re
from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from psycopg_pool import AsyncConnectionPool

from domain.errors import JobNotFound
from domain.events import EVENT_TYPES
from domain.job import fold
from domain.state import is_final
from projections.export import event_line
from projections.log import RecordedEvent, job_event, job_owner, read_stream
from service.api.auth import BEARER, bearer_key, may_see, require, require_read
from service.api.dependencies import Caller, CurrentSettings, Pool
from service.api.jobs import KindFilter, missing_job
from service.api.problems import ProblemError, problem_responses
from service.api.schemas import document
from service.auth.keys import Scope
from service.live.event_feed import EventFeed
from service.live.key_recheck import KeyRecheck
from service.live.streams import Idle, LogFilter, Version, horizon, job_versions, log_events, resume_point
from service.settings import Settings

KNOWN_TYPES = sorted(str(event_type.__struct_config__.tag) for event_type in EVENT_TYPES)
POSITION = re.compile(r"[0-9]{1,18}")  # a bigint, with room to spare
KEEP_ALIVE = ServerSentEventMessage(data=None, comment="keep-alive")

LastEventId = Annotated[str | None, HeaderParameter(name="Last-Event-ID")]
_encoder = msgspec.json.Encoder()


def _last_position(last_event_id: str | None) -> int | None:
    if last_event_id is None:
        return None
    if not POSITION.fullmatch(last_event_id.strip()):
        raise ProblemError(400, "Last-Event-ID must be the id of a message this stream sent (an event position)")
    return int(last_event_id.strip())


def _feed(request: Request) -> EventFeed:
    return request.app.state.event_feed


def _key(request: Request, pool: AsyncConnectionPool, settings: Settings) -> KeyRecheck:
    """The caller's key, read again while the stream is open: revoking it ends the stream."""
    return KeyRecheck(pool, bearer_key(request), settings.sse_key_recheck_s)


async def _job_messages(updates: AsyncIterator[Version | Idle]) -> AsyncIterator[ServerSentEventMessage]:
    async for update in updates:
        if isinstance(update, Idle):
            yield KEEP_ALIVE
        else:
            body = _encoder.encode(document(update.event.stream_id, update.state))
            yield ServerSentEventMessage(data=body, id=update.event.position)


async def _log_messages(
    resume_from: int | None, events: AsyncIterator[RecordedEvent | Idle]
) -> AsyncIterator[ServerSentEventMessage]:
    if resume_from is not None:  # an id without data: the client's resume point, no event
        yield ServerSentEventMessage(data=None, id=resume_from)
    async for event in events:
        if isinstance(event, Idle):
            yield KEEP_ALIVE
        else:
            yield ServerSentEventMessage(data=event_line(event).rstrip(b"\n"), id=event.position)


class LiveController(Controller):
    path = "/v1"
    tags = ["live"]
    security = BEARER

    @get(
        "/jobs/{job_id:uuid}/watch",
        summary="The job's status document on every change, as Server-Sent Events",
        description=(
            "One message per event of the job: `data` is the status document as of that version, `id` the "
            "event's global position. Ends after a completed or cancelled status; resume with `Last-Event-ID` "
            "(204 when there is nothing left to send)."
        ),
        media_type="text/event-stream",
        responses={
            204: ResponseSpec(None, description="Resumed after the job's final event: nothing is left to send"),
            **problem_responses(400, 401, 403, 404, 410),
        },
    )
    async def watch(
        self,
        request: Request,
        job_id: FromPath[UUID],
        principal: Caller,
        pool: Pool,
        settings: CurrentSettings,
        last_event_id: LastEventId = None,
    ) -> Response:
        require_read(principal)
        async with pool.connection() as conn:
            events = await read_stream(conn, job_id)
        if not events:
            await missing_job(pool, principal, job_id)
        if (owner := job_owner(events)) is None or not may_see(principal, owner):
            raise JobNotFound()
        position = _last_position(last_event_id)
        seen = 0  # how many of the job's versions the client already has
        if position is not None:
            seen = next((e.version for e in events if e.position == position), 0)
            if not seen:
                raise ProblemError(400, f"Last-Event-ID {position} is not an event of this job")
        state = fold(map(job_event, events[:seen]))
        if is_final(state):
            return Response(None, status_code=204)  # an EventSource stops reconnecting on 204
        updates = job_versions(
            _feed(request), pool, job_id, state, events[seen:], settings.sse_keepalive_s, _key(request, pool, settings)
        )
        return ServerSentEvent(_job_messages(updates))

    @get(
        "/events/stream",
        summary="The global event log as it commits, as Server-Sent Events",
        description=(
            "One message per event, in gap-safe commit order: `data` is the event's export line, `id` its "
            "global position. Without `Last-Event-ID` the stream starts now (its first message carries only "
            "an id to resume from); `Last-Event-ID: 0` starts at the beginning of the log."
        ),
        media_type="text/event-stream",
        responses=problem_responses(400, 401, 403),
    )
    async def stream(
        self,
        request: Request,
        principal: Caller,
        pool: Pool,
        settings: CurrentSettings,
        kind: KindFilter = None,
        event_type: Annotated[str | None, QueryParameter(name="type", min_length=1, max_length=100)] = None,
        last_event_id: LastEventId = None,
    ) -> Response:
        require(principal, Scope.AUDIT_READ)
        if event_type is not None and event_type not in KNOWN_TYPES:
            raise ProblemError(400, f"unknown event type {event_type!r}; known types: {', '.join(KNOWN_TYPES)}")
        position = _last_position(last_event_id)
        async with pool.connection() as conn:
            cursor = await (horizon(conn) if position is None else resume_point(conn, position))
        if cursor is None:
            raise ProblemError(400, f"Last-Event-ID {position} names no event; resume from an id this stream sent")
        resume_from = cursor.position if position is None else None
        log_filter = LogFilter(type=event_type, kind=kind)
        events = log_events(
            _feed(request), pool, cursor, log_filter, settings.sse_keepalive_s, _key(request, pool, settings)
        )
        return ServerSentEvent(_log_messages(resume_from, events))
