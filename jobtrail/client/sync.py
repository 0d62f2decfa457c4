"""`Client`: the jobtrail API over a blocking httpx client. `AsyncClient` is its asyncio twin."""

from __future__ import annotations

import builtins
import time
from collections.abc import Collection, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx

from jobtrail.client import calls, models
from jobtrail.client.calls import Call, JobId, Pager
from jobtrail.client.errors import RetryLater
from jobtrail.client.retries import DEFAULT_RETRIES, Retries
from jobtrail.client.session import http_options, refusal, request_options, stream_ended, stream_timeout
from jobtrail.client.sse import WatchPosition, timed_out

T = TypeVar("T")
P = TypeVar("P")


class Client:
    """A jobtrail service at `base_url`, called with one API key (and so as that key's owner)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retries: Retries = DEFAULT_RETRIES,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retries, self.timeout = retries, timeout
        self._http = httpx.Client(**http_options(base_url, api_key, timeout, headers), transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # jobs

    def create(
        self,
        kind: str,
        params: dict[str, Any] | None = None,
        *,
        target_results: int | None = None,
        max_runs: int | None = None,
        deadline_s: float | None = None,
        notify_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> models.Job:
        """Create a job. Without `idempotency_key` one is made up, so a retried create makes one job."""
        call = calls.create_job(
            kind,
            params,
            target_results=target_results,
            max_runs=max_runs,
            deadline_s=deadline_s,
            notify_url=notify_url,
            idempotency_key=idempotency_key,
        )
        return self._send(call)

    def get(self, job_id: JobId, *, min_version: int | None = None) -> models.Job:
        return self._send(calls.get_job(job_id, min_version))

    def list(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        page_size: int = 100,
    ) -> Iterator[models.Job]:
        """Every matching job, newest first, fetched a page at a time as the iteration goes."""
        pager = calls.list_jobs(
            status=status, kind=kind, created_after=created_after, created_before=created_before, page_size=page_size
        )
        return self._items(pager)

    def cancel(self, job_id: JobId) -> models.Job:
        return self._send(calls.cancel(job_id))

    def retry(self, job_id: JobId) -> models.Job:
        """Requeue a job in error or timeout (409 `Conflict` in any other status)."""
        return self._send(calls.retry(job_id))

    def events(self, job_id: JobId) -> models.History:
        return self._send(calls.events(job_id))

    def state(self, job_id: JobId, *, version: int | None = None, at: datetime | None = None) -> models.StateAt:
        return self._send(calls.state(job_id, version=version, at=at))

    def export(self, job_id: JobId) -> bytes:
        """The history as NDJSON, as `jobtrail verify-export` checks it."""
        return self._send(calls.export(job_id))

    def export_lines(self, job_id: JobId) -> Iterator[bytes]:
        """The export a line at a time, streamed (for a long history)."""
        call = calls.export(job_id)
        with self._http.stream(call.method, call.path, **request_options(call)) as response:
            if not response.is_success:
                response.read()
                raise refusal(response)
            for line in response.iter_lines():
                yield line.encode()

    def results(self, job_id: JobId, *, page_size: int = 100) -> Iterator[models.BatchResult]:
        """Every batch's items, in run order, a page of runs at a time."""
        return self._items(calls.results(job_id, page_size=page_size))

    def kinds(self) -> builtins.list[models.Kind]:
        return self._send(calls.kinds())

    def stats(self, *, window_s: int | None = None, stuck_after_s: float | None = None) -> models.Stats:
        return self._send(calls.stats(window_s=window_s, stuck_after_s=stuck_after_s))

    def watch(self, job_id: JobId, *, last_event_id: str | None = None) -> Iterator[models.Job]:
        """The job's status on every change, until it is completed or cancelled.

        A dropped connection is resumed with Last-Event-ID (within the retry budget): no
        status is lost or repeated. Pass `last_event_id` to resume a watch of your own."""
        return self._watch(job_id, WatchPosition(last_event_id=last_event_id), deadline=None)

    def wait(
        self, job_id: JobId, timeout: float | None = None, *, until: Collection[str] = models.ENDINGS
    ) -> models.Job:
        """Block until the job's status is one of `until` (by default: it ended), over its watch stream.

        Raises `WaitTimeout` after `timeout` seconds (checked whenever the stream sends
        something, and at least every keep-alive)."""
        deadline = time.monotonic() + timeout if timeout is not None else None
        last = None
        for job in self._watch(job_id, WatchPosition(), deadline=deadline):
            last = job
            if job.status in until:
                return job
        return self.get(job_id) if last is None else last

    # schedules

    def create_schedule(
        self,
        kind: str,
        params: dict[str, Any] | None = None,
        *,
        cron: str,
        time_zone: str | None = None,
        overlap: str | None = None,
        catch_up: str | None = None,
        end_at: datetime | None = None,
        paused: bool | None = None,
        target_results: int | None = None,
        max_runs: int | None = None,
        deadline_s: float | None = None,
        idempotency_key: str | None = None,
    ) -> models.Schedule:
        call = calls.create_schedule(
            kind,
            params,
            cron=cron,
            idempotency_key=idempotency_key,
            time_zone=time_zone,
            overlap=overlap,
            catch_up=catch_up,
            end_at=end_at,
            paused=paused,
            target_results=target_results,
            max_runs=max_runs,
            deadline_s=deadline_s,
        )
        return self._send(call)

    def get_schedule(self, schedule_id: JobId) -> models.Schedule:
        return self._send(calls.get_schedule(schedule_id))

    def list_schedules(
        self, *, status: str | None = None, kind: str | None = None, page_size: int = 100
    ) -> Iterator[models.Schedule]:
        return self._items(calls.list_schedules(status=status, kind=kind, page_size=page_size))

    def update_schedule(self, schedule_id: JobId, **changes: Any) -> models.Schedule:
        """Change only the fields given; None clears `end_at` or a limit."""
        return self._send(calls.update_schedule(schedule_id, changes))

    def pause_schedule(self, schedule_id: JobId) -> models.Schedule:
        return self._send(calls.schedule_action(schedule_id, "pause"))

    def resume_schedule(self, schedule_id: JobId) -> models.Schedule:
        return self._send(calls.schedule_action(schedule_id, "resume"))

    def delete_schedule(self, schedule_id: JobId) -> models.Schedule:
        return self._send(calls.delete_schedule(schedule_id))

    def trigger_schedule(self, schedule_id: JobId, *, idempotency_key: str | None = None) -> models.Triggered:
        """Fire it now, once; a repeat of this call (same key) creates no second job."""
        return self._send(calls.trigger_schedule(schedule_id, idempotency_key))

    def schedule_jobs(self, schedule_id: JobId, *, page_size: int = 100) -> Iterator[models.Job]:
        return self._items(calls.schedule_jobs(schedule_id, page_size=page_size))

    def schedule_events(self, schedule_id: JobId) -> models.History:
        return self._send(calls.schedule_events(schedule_id))

    def schedule_export(self, schedule_id: JobId) -> bytes:
        return self._send(calls.schedule_export(schedule_id))

    # sending

    def _send(self, call: Call[T]) -> T:
        attempts = self.retries.start(call.describe())
        while True:
            try:
                response = self._http.request(call.method, call.path, **request_options(call))
                if response.is_success:
                    return call.read(response.content)
                raise refusal(response)
            except (httpx.TransportError, RetryLater) as error:
                time.sleep(attempts.delay(error, idempotent=call.idempotent))

    def _items(self, pager: Pager[P, T]) -> Iterator[T]:
        call: Call[P] | None = pager.first
        while call is not None:
            page = self._send(call)
            yield from pager.items(page)
            following = pager.following(page)
            call = call.with_params(**following) if following else None

    def _watch(self, job_id: JobId, position: WatchPosition, deadline: float | None) -> Iterator[models.Job]:
        attempts = self.retries.start(f"GET {calls.job_path(job_id, 'watch')}")
        last: models.Job | None = None
        while True:
            call = calls.watch(job_id, position.last_event_id)
            read_s = None if deadline is None else max(0.01, deadline - time.monotonic())
            try:
                with self._http.stream(
                    call.method, call.path, headers=call.headers, timeout=stream_timeout(self.timeout, read_s)
                ) as response:
                    if response.status_code == 204:  # resumed after the final event: nothing left
                        return
                    if not response.is_success:
                        response.read()
                        raise refusal(response)
                    position.reconnected()
                    for line in response.iter_lines():
                        if deadline is not None and time.monotonic() > deadline:
                            raise timed_out(job_id, last)
                        if (job := position.line(line)) is not None:
                            attempts.reset()
                            last = job
                            yield job
                            if position.final:
                                return
                raise stream_ended()
            except (httpx.TransportError, RetryLater) as error:
                if deadline is not None and time.monotonic() >= deadline:
                    raise timed_out(job_id, last) from None
                pause = attempts.delay(error, idempotent=True)
                time.sleep(pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic())))
