"""Live status over Server-Sent Events, against a real `jobtrail serve` process.

In-process test clients buffer whole responses, so every stream here is read over
loopback as a client would; each read has a deadline, and nothing asserts a duration.
"""

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from service.auth.keys import Scope, create_key, revoke_key
from tests.e2e.conftest import Service, create, history, wait_for, wait_until_final
from tests.e2e.sse import Message, data_messages, messages, with_data
from tests.service.key_ids import key_id_of

KEEPALIVE_S = 0.3
KEY_RECHECK_S = 0.3
SHUTDOWN_S = 8  # below uvicorn's graceful timeout (10 s), which open streams must not use up

# Written straight to the log, with the wake-up our appender sends; in the same
# transaction here, so that it goes (or not) with the event's commit or rollback.
INSERT_EVENT = """
INSERT INTO events (stream_id, version, type, data)
VALUES (%(stream_id)s, %(version)s, %(type)s, %(data)s::jsonb)
RETURNING position
"""
WAKE = "SELECT pg_notify('jobtrail_events', %(stream_id)s::text)"


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[Service]:
    running = Service(database_url, tmp_path)
    running.env["JOBTRAIL_SSE_KEEPALIVE_S"] = str(KEEPALIVE_S)
    running.env["JOBTRAIL_SSE_KEY_RECHECK_S"] = str(KEY_RECHECK_S)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def make_key(database_url: str, owner: str, *scopes: Scope) -> str:
    async def make() -> str:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return await create_key(conn, owner, scopes)

    return asyncio.run(make())


def revoke(database_url: str, key: str) -> None:
    async def run() -> bool:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return await revoke_key(conn, key_id_of(key))

    assert asyncio.run(run())


def insert_event(conn: psycopg.Connection, stream_id: uuid.UUID, version: int, type_: str, **data) -> int:
    body = json.dumps({"type": type_, "at": datetime.now(UTC).isoformat(), **data})
    params = {"stream_id": stream_id, "version": version, "type": type_, "data": body}
    position = conn.execute(INSERT_EVENT, params).fetchone()[0]
    conn.execute(WAKE, params)
    return position


def insert_job_created(conn: psycopg.Connection, stream_id: uuid.UUID) -> int:
    return insert_event(conn, stream_id, 1, "JobCreated", owner="sql", kind="sql.only", max_runs=1)


def watch(api: httpx.Client, job_id: str, last_event_id: str | None = None):
    headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
    return api.stream("GET", f"/v1/jobs/{job_id}/watch", headers=headers)


def log_stream(api: httpx.Client, last_event_id: str | None = None, **filters: str):
    headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
    return api.stream("GET", "/v1/events/stream", headers=headers, params=filters)


def lines_until(stream: Iterator, done) -> list[dict]:
    """Event lines from a global stream until `done(lines)` holds."""
    lines: list[dict] = []
    for message in stream:
        lines.append({**json.loads(message.data), "id": message.id})
        if done(lines):
            return lines
    raise AssertionError(f"the stream ended early after {len(lines)} events")


def completed(lines: list[dict], *stream_ids: str) -> bool:
    finished = {line["stream_id"] for line in lines if line["type"] == "JobCompleted"}
    return finished.issuperset(stream_ids)


def test_a_job_watched_from_creation_yields_every_version_once_in_order_and_ends_completed(api):
    job = create(api, params={"total": 60, "per_batch": 20, "slow_ms": 50})
    with watch(api, job["id"]) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        received = list(data_messages(response))  # the stream ends by itself after the final status
    documents = [json.loads(m.data) for m in received]
    events = history(api, job["id"])
    assert [d["version"] for d in documents] == [e["version"] for e in events] == list(range(1, len(events) + 1))
    assert [int(m.id) for m in received] == [e["position"] for e in events]
    assert documents[0]["status"] == "pending" and documents[-1]["status"] == "completed"
    assert documents[-1] == api.get(f"/v1/jobs/{job['id']}").json()


def test_a_watch_cut_mid_job_and_resumed_with_last_event_id_misses_nothing_and_repeats_nothing(api):
    job = create(api, params={"total": 80, "per_batch": 10, "slow_ms": 100})
    with watch(api, job["id"]) as response:
        first = [m for _, m in zip(range(4), data_messages(response), strict=False)]
    with watch(api, job["id"], last_event_id=first[-1].id) as response:
        rest = list(data_messages(response))
    versions = [json.loads(m.data)["version"] for m in first + rest]
    events = history(api, job["id"])
    assert versions == list(range(1, len(events) + 1))
    assert [int(m.id) for m in first + rest] == [e["position"] for e in events]
    assert json.loads(rest[-1].data)["status"] == "completed"


def test_resuming_a_watch_after_the_final_event_answers_204_so_clients_stop_reconnecting(api):
    job = create(api, params={"total": 10})
    wait_until_final(api, job["id"])
    last = history(api, job["id"])[-1]
    with watch(api, job["id"], last_event_id=str(last["position"])) as response:
        assert response.status_code == 204


def test_the_global_stream_resumed_with_last_event_id_delivers_every_event_once(api):
    before = create(api, params={"total": 10})
    wait_until_final(api, before["id"])
    with log_stream(api) as response:
        stream = messages(response)
        assert next(stream).data is None  # starts now: a bare id to resume from, no event
        jobs = [create(api, params={"total": 30, "per_batch": 10, "slow_ms": 50}) for _ in range(2)]
        first = lines_until(with_data(stream), lambda lines: len(lines) == 5)
    with log_stream(api, last_event_id=first[-1]["id"]) as response:
        rest = lines_until(data_messages(response), lambda lines: completed(first + lines, *(j["id"] for j in jobs)))
    received = [line["position"] for line in first + rest]
    expected = {e["position"] for job in jobs for e in history(api, job["id"])}
    # "Now" is gap-safe: events of transactions newer than the oldest still open one (in
    # the whole cluster) come too, so a busy server may replay a little of `before`.
    earlier = {e["position"] for e in history(api, before["id"])}
    assert len(received) == len(set(received))
    assert expected <= set(received) <= expected | earlier
    assert [int(line["id"]) for line in first + rest] == received


def test_a_rolled_back_append_never_reaches_a_client_while_the_committed_one_after_it_does(api, database_url):
    job = create(api, params={"total": 1000, "per_batch": 10, "slow_ms": 3000})
    wait_for(lambda: api.get(f"/v1/jobs/{job['id']}").json()["status"] == "processing", "the job to start")
    version = api.get(f"/v1/jobs/{job['id']}").json()["version"]
    with log_stream(api) as global_response, watch(api, job["id"]) as watch_response:
        global_stream = messages(global_response)
        next(global_stream)  # the stream is open from here on
        with psycopg.connect(database_url) as conn:  # a transaction, rolled back on leaving
            insert_event(conn, uuid.UUID(job["id"]), version + 1, "JobCompleted", reason="target_met")
            conn.rollback()
        assert api.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
        documents = [json.loads(m.data) for m in data_messages(watch_response)]
        lines = lines_until(
            with_data(global_stream), lambda lines: any(line["type"] == "JobCancelled" for line in lines)
        )
    assert documents[-1]["status"] == "cancelled"
    assert all(d["outcome"] != "target_met" for d in documents)
    assert [d["version"] for d in documents] == list(range(1, len(documents) + 1))
    assert "JobCompleted" not in [line["type"] for line in lines]


def test_a_slow_transaction_that_commits_after_a_faster_one_is_still_delivered_and_first(api, database_url):
    slow_stream, fast_stream, later_stream = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with log_stream(api) as response:
        stream = messages(response)
        next(stream)
        with psycopg.connect(database_url) as slow, psycopg.connect(database_url, autocommit=True) as fast:
            slow_position = insert_job_created(slow, slow_stream)  # open: its position is taken, not committed
            fast_position = insert_job_created(fast, fast_stream)  # committed at once, after it
            time.sleep(0.5)  # room for a reader that orders by position alone to run ahead
            slow.commit()
        lines = lines_until(with_data(stream), lambda lines: len(lines) == 2)
    assert slow_position < fast_position
    assert [line["stream_id"] for line in lines] == [str(slow_stream), str(fast_stream)]
    with log_stream(api, last_event_id=lines[-1]["id"]) as response:
        with psycopg.connect(database_url, autocommit=True) as conn:
            later_position = insert_job_created(conn, later_stream)
        after = lines_until(data_messages(response), lambda lines: True)
    assert [line["position"] for line in after] == [later_position]


def test_the_global_stream_filters_by_event_type_and_by_the_jobs_kind(api, database_url):
    with log_stream(api, type="JobCompleted") as by_type, log_stream(api, kind="demo.count") as by_kind:
        typed_stream, kinded_stream = messages(by_type), messages(by_kind)
        next(typed_stream), next(kinded_stream)
        with psycopg.connect(database_url, autocommit=True) as conn:
            insert_job_created(conn, uuid.uuid4())  # of no registered kind, before the jobs
        jobs = [create(api, params={"total": 20, "per_batch": 10}) for _ in range(2)]
        ids = [j["id"] for j in jobs]
        typed = lines_until(with_data(typed_stream), lambda lines: completed(lines, *ids))
        kinded = lines_until(with_data(kinded_stream), lambda lines: completed(lines, *ids))
    assert {line["type"] for line in typed} == {"JobCompleted"}
    assert {line["stream_id"] for line in kinded} == set(ids)
    assert sorted(line["position"] for line in kinded) == sorted(e["position"] for i in ids for e in history(api, i))


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_refusals_are_problems_before_any_stream_starts(service, api, key, database_url):
    job = create(api, params={"total": 10})
    other = create(api, params={"total": 10})
    other_position = str(history(api, other["id"])[0]["position"])
    stranger = make_key(database_url, "stranger", Scope.JOBS_READ, Scope.JOBS_WRITE)
    writer = make_key(database_url, "e2e", Scope.JOBS_WRITE)
    reader = make_key(database_url, "e2e", Scope.JOBS_READ)
    watch_url, log_url = f"/v1/jobs/{job['id']}/watch", "/v1/events/stream"
    cases = [
        (watch_url, {}, {}, 401),
        (log_url, {}, {}, 401),
        (watch_url, auth("jt_000000000000_not-a-key"), {}, 401),
        (watch_url, auth(writer), {}, 403),
        (log_url, auth(reader), {}, 403),
        (watch_url, auth(stranger), {}, 404),  # another owner's job looks like no job
        (f"/v1/jobs/{uuid.uuid4()}/watch", auth(key), {}, 404),
        (watch_url, {**auth(key), "Last-Event-ID": "abc"}, {}, 400),
        (watch_url, {**auth(key), "Last-Event-ID": other_position}, {}, 400),  # another job's event
        (log_url, {**auth(key), "Last-Event-ID": "-1"}, {}, 400),
        (log_url, {**auth(key), "Last-Event-ID": "999999999"}, {}, 400),  # no such event
        (log_url, auth(key), {"type": "JobExploded"}, 400),
        (log_url, auth(key), {"kind": ""}, 400),
    ]
    for url, headers, params, status in cases:
        with httpx.stream("GET", f"{service.base_url}{url}", headers=headers, params=params, timeout=10) as response:
            answered = response.status_code
            body = response.read() if answered != 200 else b"(a stream)"
        assert (url, params, headers.get("Last-Event-ID"), answered) == (
            url,
            params,
            headers.get("Last-Event-ID"),
            status,
        )
        assert response.headers["content-type"] == "application/problem+json"
        assert json.loads(body)["status"] == status
    unknown_type = api.get(log_url, params={"type": "JobExploded"}).json()
    assert "JobCompleted" in unknown_type["detail"]


def test_revoking_a_key_ends_its_open_streams_which_send_nothing_committed_after(service, api, database_url):
    auditor = make_key(database_url, "audit", Scope.AUDIT_READ)
    watched = uuid.uuid4()
    with psycopg.connect(database_url, autocommit=True) as conn:
        insert_job_created(conn, watched)
    client = httpx.Client(base_url=service.base_url, headers=auth(auditor), timeout=10)
    with client, log_stream(client) as logging, watch(client, str(watched)) as watching:
        logged, watched_messages = messages(logging), messages(watching)
        assert next(logged).data is None  # the resume mark: the stream is open
        assert json.loads(next(with_data(watched_messages)).data)["version"] == 1
        revoke(database_url, auditor)
        time.sleep(5 * KEY_RECHECK_S)  # past the recheck
        jobs = [create(api, params={"total": 10}) for _ in range(2)]
        with psycopg.connect(database_url, autocommit=True) as conn:
            cancelled = insert_event(conn, watched, 2, "JobCancelled")
        after = list(with_data(logged)) + list(with_data(watched_messages))  # both end: a read timeout would raise
    committed_after = {e["position"] for job in jobs for e in history(api, job["id"])} | {cancelled}
    assert not {int(m.id) for m in after} & committed_after
    for url in ("/v1/events/stream", f"/v1/jobs/{watched}/watch"):
        assert httpx.get(f"{service.base_url}{url}", headers=auth(auditor), timeout=10).status_code == 401


def test_a_keep_alive_comment_arrives_on_an_idle_stream(api):
    with log_stream(api) as response:
        stream = messages(response)
        assert next(stream).data is None  # the resume mark
        assert next(stream) == Message(comment="keep-alive")


def test_the_server_stops_promptly_with_streams_open(service, api):
    job = create(api, params={"total": 10, "fail_permanently_at": 1})
    assert wait_until_final(api, job["id"])["status"] == "error"  # requeueable: its watch stays open
    with watch(api, job["id"]) as watching, log_stream(api) as logging:
        watched, logged = messages(watching), messages(logging)
        assert next(logged).data is None
        statuses = (json.loads(m.data)["status"] for m in with_data(watched))
        assert "error" in statuses  # read up to the error document; the watch stays open
        service.process.terminate()
        service.process.wait(SHUTDOWN_S)  # raises if it waits out uvicorn's 10 s graceful timeout
        list(watched), list(logged)  # both read to their end: a cut connection would raise instead
    assert "graceful shutdown exceeded" not in service.log.read_text()
