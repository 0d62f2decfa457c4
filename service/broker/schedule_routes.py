"""Schedules (§5): create or overwrite from a raw destination, list, get, delete, pause, resume.

A schedule with `Upstash-Queue-Name` puts each message it fires on that queue.

The create route shares its prefix with `/{id}/pause|resume`, and Litestar's path
parameters cannot tell them apart, so POST and PATCH decide on the raw path.
"""

import re

import msgspec
from litestar import Request, Response, delete, get, patch, post
from litestar.params import FromPath

from service.broker.cron import InvalidCron
from service.broker.destination import destination, is_url, target_after
from service.broker.edge import caller_ip, raw_headers
from service.broker.errors import BadRequest, NotFound
from service.broker.headers import parse_spec
from service.broker.queues import valid_name
from service.broker.records import Schedule
from service.broker.views import schedule_view

PREFIX = "/v2/schedules/"
_SCHEDULE_ID = re.compile(r"[A-Za-z0-9._-]+")
_TOGGLE = re.compile(r"([A-Za-z0-9._-]+)/(pause|resume)")


@post(PREFIX + "{rest:path}", status_code=200)
async def create_or_toggle(request: Request, rest: FromPath[str]) -> Response:
    toggle = _TOGGLE.fullmatch(target_after(request.scope, PREFIX))
    if toggle is not None:
        return _toggle(request, toggle.group(1), paused=toggle.group(2) == "pause")
    url, query_config = destination(request.scope, PREFIX, url_groups=True)
    if not is_url(url):
        raise BadRequest("schedules to a URL group are not supported by the local broker")
    headers = [*raw_headers(request), *query_config.items()]
    first = {name.lower(): value for name, value in reversed(headers)}
    cron = first.get("upstash-cron")
    if not cron:
        raise BadRequest("Upstash-Cron header is required")
    schedule_id = first.get("upstash-schedule-id")
    if schedule_id is not None and not _SCHEDULE_ID.fullmatch(schedule_id):
        raise BadRequest("invalid schedule id: only alphanumerics, '.', '_' and '-' are allowed")
    spec = parse_spec(url, headers, await request.body())
    # Deduplication applies to creating the schedule, never to the messages it produces.
    queue = first.get("upstash-queue-name")
    spec = msgspec.structs.replace(
        spec,
        not_before=None,
        deduplication_id=None,
        content_based_deduplication=False,
        queue=valid_name(queue) if queue is not None else None,
    )
    try:
        schedule = request.app.state.broker.scheduler.save(schedule_id, cron, spec, caller_ip(request))
    except InvalidCron as error:
        raise BadRequest(str(error)) from None
    return Response({"scheduleId": schedule.schedule_id}, status_code=200)


@patch(PREFIX + "{rest:path}", status_code=200)
async def toggle(request: Request, rest: FromPath[str]) -> Response:
    match = _TOGGLE.fullmatch(target_after(request.scope, PREFIX))
    if match is None:
        raise NotFound("not found")
    return _toggle(request, match.group(1), paused=match.group(2) == "pause")


@get("/v2/schedules")
async def list_schedules(request: Request) -> list[dict]:
    return [schedule_view(schedule) for schedule in request.app.state.broker.store.schedules.values()]


@get(PREFIX + "{rest:path}")
async def get_schedule(request: Request, rest: FromPath[str]) -> dict:
    return schedule_view(_schedule(request, target_after(request.scope, PREFIX)))


@delete(PREFIX + "{rest:path}", status_code=200)
async def delete_schedule(request: Request, rest: FromPath[str]) -> Response:
    schedule_id = target_after(request.scope, PREFIX)
    if request.app.state.broker.store.schedules.pop(schedule_id, None) is None:
        raise NotFound(f"schedule {schedule_id} not found")
    return Response(b"", status_code=200)


def _toggle(request: Request, schedule_id: str, *, paused: bool) -> Response:
    _schedule(request, schedule_id).paused = paused
    return Response(b"", status_code=200)


def _schedule(request: Request, schedule_id: str) -> Schedule:
    schedule = request.app.state.broker.store.schedules.get(schedule_id)
    if schedule is None:
        raise NotFound(f"schedule {schedule_id} not found")
    return schedule
