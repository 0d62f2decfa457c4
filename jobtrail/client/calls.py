"""Every route as a `Call`: what to send and how to read the answer, with no I/O.

`Client` and `AsyncClient` only differ in how they send a call; everything they agree
on (paths, query parameters, bodies, idempotency keys, which calls are safe to repeat,
how a page leads to the next) is decided here once. A call is built once per logical
call, so its Idempotency-Key is the same on every retry of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec

from jobtrail.client import models

T = TypeVar("T")
P = TypeVar("P")
JobId = uuid.UUID | str

_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    answer: type[T]  # bytes: the body as it came
    params: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    idempotent: bool = True

    def read(self, content: bytes) -> T:
        if self.answer is bytes:
            return content  # type: ignore[return-value]
        return msgspec.json.decode(content, type=self.answer)

    def with_params(self, **params: Any) -> Call[T]:
        return replace(self, params={**self.params, **_query(params)})

    def describe(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Pager(Generic[P, T]):
    """A listing: its first page's call, the items of a page, and the parameters of the next page."""

    first: Call[P]
    items: Callable[[P], list[T]]
    following: Callable[[P], dict[str, Any] | None]  # None: that was the last page


def job_path(job_id: JobId, *rest: str) -> str:
    return "/".join(("/v1/jobs", str(uuid.UUID(str(job_id))), *rest))


def schedule_path(schedule_id: JobId, *rest: str) -> str:
    return "/".join(("/v1/schedules", str(uuid.UUID(str(schedule_id))), *rest))


def _query(params: dict[str, Any]) -> dict[str, str]:
    return {name: _text(value) for name, value in params.items() if value is not None}


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _body(fields: dict[str, Any]) -> bytes:
    """A JSON body of the fields given a value (None means: the service's default)."""
    return _encoder.encode({k: v for k, v in fields.items() if v is not None})


def _key(idempotency_key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}


def create_job(
    kind: str,
    params: dict[str, Any] | None,
    *,
    target_results: int | None,
    max_runs: int | None,
    deadline_s: float | None,
    notify_url: str | None,
    idempotency_key: str | None,
) -> Call[models.Job]:
    body = _body(
        {
            "kind": kind,
            "params": params or {},
            "target_results": target_results,
            "max_runs": max_runs,
            "deadline_s": deadline_s,
            "notify_url": notify_url,
        }
    )
    return Call("POST", "/v1/jobs", models.Job, body=body, headers=_key(idempotency_key))


def get_job(job_id: JobId, min_version: int | None = None) -> Call[models.Job]:
    return Call("GET", job_path(job_id), models.Job, params=_query({"min_version": min_version}))


def list_jobs(
    *,
    status: str | None,
    kind: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    page_size: int,
) -> Pager[models.JobPage, models.Job]:
    filters = {
        "status": status,
        "kind": kind,
        "created_after": created_after,
        "created_before": created_before,
        "limit": page_size,
    }
    return Pager(Call("GET", "/v1/jobs", models.JobPage, params=_query(filters)), _jobs, _next_cursor)


def cancel(job_id: JobId) -> Call[models.Job]:
    return Call("POST", job_path(job_id, "cancel"), models.Job)  # a second cancel changes nothing


def retry(job_id: JobId) -> Call[models.Job]:
    # Asked twice, a retry's second request would meet a job already requeued: a 409.
    return Call("POST", job_path(job_id, "retry"), models.Job, idempotent=False)


def events(job_id: JobId) -> Call[models.History]:
    return Call("GET", job_path(job_id, "events"), models.History)


def state(job_id: JobId, *, version: int | None, at: datetime | None) -> Call[models.StateAt]:
    if (version is None) == (at is None):
        raise ValueError("give either version= or at=")
    return Call("GET", job_path(job_id, "state"), models.StateAt, params=_query({"version": version, "at": at}))


def export(job_id: JobId) -> Call[bytes]:
    return Call("GET", job_path(job_id, "export"), bytes)


def results(job_id: JobId, *, page_size: int) -> Pager[models.ResultsPage, models.BatchResult]:
    first = Call("GET", job_path(job_id, "results"), models.ResultsPage, params=_query({"limit": page_size}))
    return Pager(first, lambda page: page.batches, _next_run)


def kinds() -> Call[list[models.Kind]]:
    return Call("GET", "/v1/kinds", list[models.Kind])


def stats(*, window_s: int | None, stuck_after_s: float | None) -> Call[models.Stats]:
    return Call("GET", "/v1/stats", models.Stats, params=_query({"window_s": window_s, "stuck_after_s": stuck_after_s}))


def watch(job_id: JobId, last_event_id: str | None) -> Call[bytes]:
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    return Call("GET", job_path(job_id, "watch"), bytes, headers=headers)


def create_schedule(
    kind: str, params: dict[str, Any] | None, *, cron: str, idempotency_key: str | None, **options: Any
) -> Call[models.Schedule]:
    """`options`: time_zone, overlap, catch_up, end_at, paused, target_results, max_runs, deadline_s."""
    body = _body({"kind": kind, "params": params or {}, "cron": cron, **options})
    return Call("POST", "/v1/schedules", models.Schedule, body=body, headers=_key(idempotency_key))


def get_schedule(schedule_id: JobId) -> Call[models.Schedule]:
    return Call("GET", schedule_path(schedule_id), models.Schedule)


def list_schedules(
    *, status: str | None, kind: str | None, page_size: int
) -> Pager[models.SchedulePage, models.Schedule]:
    params = _query({"status": status, "kind": kind, "limit": page_size})
    return Pager(Call("GET", "/v1/schedules", models.SchedulePage, params=params), _schedules, _next_cursor)


def update_schedule(schedule_id: JobId, changes: dict[str, Any]) -> Call[models.Schedule]:
    """Only the fields named change; a None is sent as null, which clears `end_at` or a limit."""
    return Call("PATCH", schedule_path(schedule_id), models.Schedule, body=_encoder.encode(changes))


def schedule_action(schedule_id: JobId, action: str) -> Call[models.Schedule]:
    """pause or resume (a repeat changes nothing)."""
    return Call("POST", schedule_path(schedule_id, action), models.Schedule)


def delete_schedule(schedule_id: JobId) -> Call[models.Schedule]:
    return Call("DELETE", schedule_path(schedule_id), models.Schedule)


def trigger_schedule(schedule_id: JobId, idempotency_key: str | None) -> Call[models.Triggered]:
    return Call("POST", schedule_path(schedule_id, "trigger"), models.Triggered, headers=_key(idempotency_key))


def schedule_jobs(schedule_id: JobId, *, page_size: int) -> Pager[models.ScheduleJobs, models.Job]:
    first = Call("GET", schedule_path(schedule_id, "jobs"), models.ScheduleJobs, params=_query({"limit": page_size}))
    return Pager(first, _jobs, _next_cursor)


def schedule_events(schedule_id: JobId) -> Call[models.History]:
    return Call("GET", schedule_path(schedule_id, "events"), models.History)


def schedule_export(schedule_id: JobId) -> Call[bytes]:
    return Call("GET", schedule_path(schedule_id, "export"), bytes)


def _jobs(page: models.JobPage | models.ScheduleJobs) -> list[models.Job]:
    return page.jobs


def _schedules(page: models.SchedulePage) -> list[models.Schedule]:
    return page.schedules


def _next_cursor(page: models.JobPage | models.SchedulePage | models.ScheduleJobs) -> dict[str, Any] | None:
    return {"cursor": page.next_cursor} if page.next_cursor else None


def _next_run(page: models.ResultsPage) -> dict[str, Any] | None:
    return {"after_run": page.next_after_run} if page.next_after_run is not None else None
