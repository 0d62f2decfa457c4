"""What the client retries and for how long, and how it reads a Retry-After and a problem."""

from datetime import UTC, datetime

import httpx
import pytest

from jobtrail.client import Conflict, InvalidRequest, Retries, ServiceUnavailable, TransportError
from jobtrail.client.errors import problem_error, retry_after_s
from jobtrail.client.sse import MessageReader, WatchPosition

UNAVAILABLE = b'{"title": "Service Unavailable", "status": 503, "detail": "the database is unavailable"}'


def unavailable(retry_after: str | None = None) -> ServiceUnavailable:
    headers = {"retry-after": retry_after} if retry_after else {}
    error = problem_error(503, "Service Unavailable", UNAVAILABLE, headers)
    assert isinstance(error, ServiceUnavailable)
    return error


def test_a_503_waits_at_least_its_retry_after_and_the_attempts_run_out():
    attempts = Retries(attempts=3, budget_s=60).start("GET /v1/jobs")
    assert attempts.delay(unavailable("2"), idempotent=True) >= 2
    assert attempts.delay(unavailable("2"), idempotent=True) >= 2
    with pytest.raises(ServiceUnavailable):
        attempts.delay(unavailable("2"), idempotent=True)


def test_a_retry_after_past_the_budget_gives_up_at_once():
    with pytest.raises(ServiceUnavailable):
        Retries(attempts=5, budget_s=3).start("GET /v1/jobs").delay(unavailable("5"), idempotent=True)


def test_a_dropped_connection_is_retried_only_for_a_call_safe_to_repeat():
    dropped = httpx.ReadError("connection reset")
    assert Retries().start("POST /v1/jobs").delay(dropped, idempotent=True) <= 0.25
    with pytest.raises(TransportError):
        Retries().start("POST /v1/jobs/x/retry").delay(dropped, idempotent=False)
    assert Retries().start("POST /v1/jobs/x/retry").delay(httpx.ConnectError("refused"), idempotent=False) >= 0


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_s("7") == 7.0
    assert retry_after_s("Tue, 01 Jan 2030 12:00:30 GMT", now) == 30.0
    assert retry_after_s("soon") is None and retry_after_s(None) is None


def test_a_problem_keeps_its_extension_members_and_a_non_problem_body_still_raises_by_status():
    conflict = problem_error(409, "Conflict", b'{"title": "Conflict", "status": 409, "detail": "no", "state": "x"}', {})
    invalid = problem_error(
        422, "Unprocessable", b'{"title": "t", "status": 422, "detail": "d", "errors": [{"key": "cron"}]}', {}
    )
    proxy_page = problem_error(502, "Bad Gateway", b"<html>bad gateway</html>", {})
    assert isinstance(conflict, Conflict) and conflict.state == "x" and conflict.extensions == {"state": "x"}
    assert isinstance(invalid, InvalidRequest) and [e.key for e in invalid.errors] == ["cron"]
    assert proxy_page.status == 502 and "bad gateway" in proxy_page.detail


def test_the_watch_reader_frames_messages_skips_keep_alives_and_remembers_the_last_id():
    position = WatchPosition()
    document = '{"id": "0b7e2c3e-5a1f-4c59-9d0e-3f7b2a1c9e44", "owner": "o", "kind": "k", "status": "completed"}'
    lines = [": keep-alive", "", "id: 41", f"data: {document}", ""]
    jobs = [job for line in lines if (job := position.line(line)) is not None]
    assert [job.status for job in jobs] == ["completed"] and position.last_event_id == "41" and position.final
    reader = MessageReader()
    assert [reader.line(line) for line in ("data: a", "data: b")] == [None, None]
    assert reader.line("").data == "a\nb"
