"""SIGTERM with jobs running: `serve` stops within its graceful limit, cleanly, and no run is
lost or recorded twice.

With the local broker the job carries on after a restart (its run, lost with the broker,
is sent again at start). With a standalone broker, which outlives the service as QStash
does: a delivery that finishes within the grace is answered, so QStash lets go of it;
one whose batch outlasts the grace is cut off, and QStash's retry, reaching the restarted
service, records its run once.
"""

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from service.cli.workers import STOP_MARGIN_S
from service.settings import DEV_QSTASH_TOKEN
from tests.e2e.conftest import (
    Service,
    api_client,
    create,
    free_port,
    history,
    recorded_runs,
    runs_done,
    start_broker,
    stop_process,
    wait_for,
    wait_until_final,
)

# `jobtrail serve` gives open requests this long by default (JOBTRAIL_SHUTDOWN_GRACE_S).
GRACEFUL_LIMIT_S = 10
# The grace the cut-off test sets, and a batch well past it.
SHORT_GRACE_S = 1
SLOW_MS = 3000
# QStash's backoff (e^2.5n s) at this scale: a cut-off delivery is tried again after
# 0.06 s and 0.8 s, both while the service is down, and a third time 10 s later, after
# the restart. demo.count allows 3 retries, so that third one is the last.
BROKER_TIME_SCALE = "0.005"

RUNS_RECORDED = """
SELECT (data->>'run')::int, (metadata->>'retried')::int
  FROM events WHERE stream_id = %s AND type = 'BatchRecorded' ORDER BY version
"""
EVENT_TYPES = "SELECT type FROM events WHERE stream_id = %s ORDER BY version"
MESSAGE_OF_RUN = "SELECT message_id FROM outbox WHERE stream_id = %s AND run = %s"
ANSWER = "SELECT outcome, status_code FROM inbox WHERE message_id = %s"


def test_sigterm_with_a_job_running_stops_within_the_graceful_limit(database_url, tmp_path, key):
    service = Service(database_url, tmp_path)
    api = api_client(service, key)
    try:
        service.start()
        job = api.post(
            "/v1/jobs", json={"kind": "demo.count", "params": {"total": 200, "per_batch": 20, "slow_ms": 200}}
        ).json()
        wait_for(lambda: runs_done(api, job["id"]) >= 2, "two batches")
        code, took_s = service.terminate(GRACEFUL_LIMIT_S * 4)
        service.start()
        done = wait_until_final(api, job["id"], timeout_s=60)
        events = history(api, job["id"])
    finally:
        api.close()
        service.stop()
    assert code == 0, service.log.read_text()[-3000:]
    assert took_s < GRACEFUL_LIMIT_S, f"took {took_s:.1f} s"
    assert (done["status"], done["processed_runs"]) == ("completed", 10)
    runs = recorded_runs(events)
    assert runs == list(range(1, 11))


class Broker:
    """A standalone `jobtrail qstash-dev`: it keeps its messages while the service restarts."""

    def __init__(self, tmp: Path) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = tmp / "broker.log"
        with self.log.open("ab") as log:
            self.process = start_broker(int(self.url.rsplit(":", 1)[1]), log, BROKER_TIME_SCALE)

    def holds(self, message_id: str) -> bool:
        """Whether the broker still has the message: waiting, or between retries."""
        response = httpx.get(
            f"{self.url}/v2/messages/{message_id}", headers={"Authorization": f"Bearer {DEV_QSTASH_TOKEN}"}
        )
        assert response.status_code in (200, 404), response.text
        return response.status_code == 200

    def attempts_failed(self, message_id: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if f"{message_id} attempt" in line]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    running = Broker(tmp_path)
    try:
        yield running
    finally:
        stop_process(running.process)


def behind(broker: Broker, service: Service, **settings: str) -> Service:
    service.env.update(QSTASH_URL=broker.url, QSTASH_TOKEN=DEV_QSTASH_TOKEN, **settings)
    return service


def rows(database_url: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql, params).fetchall()


def wait_until_running(api: httpx.Client, job_id: str) -> None:
    """The first delivery has started the job: its batch is being run now."""
    wait_for(lambda: api.get(f"/v1/jobs/{job_id}").json()["status"] == "processing", "the first batch to start")


def test_a_delivery_shorter_than_the_grace_finishes_during_sigterm_and_is_not_retried(
    database_url, tmp_path, key, broker
):
    service = behind(broker, Service(database_url, tmp_path))
    api = api_client(service, key)
    try:
        service.start()
        job = create(api, params={"total": 20, "per_batch": 20, "slow_ms": 1500})["id"]  # one run
        wait_until_running(api, job)
        unrecorded_at_sigterm = runs_done(api, job) == 0
        code, took_s = service.terminate(GRACEFUL_LIMIT_S * 4)
        (message_id,) = rows(database_url, MESSAGE_OF_RUN, job, 1)[0]
        held = broker.holds(message_id)
    finally:
        api.close()
        service.stop()
    log = service.log.read_text()
    assert code == 0, log[-3000:]
    assert unrecorded_at_sigterm
    assert took_s < GRACEFUL_LIMIT_S, f"took {took_s:.1f} s"
    assert "timeout graceful shutdown exceeded" not in log
    # Recorded by the one delivery, and answered: QStash let go of the message, no retry.
    assert rows(database_url, RUNS_RECORDED, job) == [(1, 0)]
    assert rows(database_url, ANSWER, message_id) == [("recorded", 200)]
    assert rows(database_url, EVENT_TYPES, job)[-1] == ("JobCompleted",)
    assert not held
    assert broker.attempts_failed(message_id) == []


def test_a_delivery_cut_off_by_the_grace_is_retried_by_qstash_after_the_restart_and_recorded_once(
    database_url, tmp_path, key, broker
):
    """Two workers under the supervisor, the grace shortened to 1 s: the worker running the
    batch cancels it at the grace and exits; QStash's retry runs the batch again."""
    service = behind(
        broker,
        Service(database_url, tmp_path),
        JOBTRAIL_WORKERS="2",
        JOBTRAIL_SHUTDOWN_GRACE_S=str(SHORT_GRACE_S),
    )
    api = api_client(service, key)
    try:
        service.start()
        job = create(api, params={"total": 40, "per_batch": 20, "slow_ms": SLOW_MS})["id"]  # two runs
        wait_until_running(api, job)
        code, took_s = service.terminate(GRACEFUL_LIMIT_S * 4)
        (message_id,) = rows(database_url, MESSAGE_OF_RUN, job, 1)[0]
        held_for_retry = broker.holds(message_id)
        service.start()
        done = wait_until_final(api, job, timeout_s=40)
    finally:
        api.close()
        service.stop()
    log = service.log.read_text()
    assert code == 0, log[-3000:]
    assert SHORT_GRACE_S <= took_s < SHORT_GRACE_S + STOP_MARGIN_S, f"took {took_s:.1f} s"
    assert "timeout graceful shutdown exceeded" in log  # uvicorn cut the delivery off
    assert held_for_retry
    assert broker.attempts_failed(message_id), broker.log.read_text()[-3000:]
    assert (done["status"], done["processed_runs"]) == ("completed", 2)
    recorded = rows(database_url, RUNS_RECORDED, job)
    assert [run for run, _ in recorded] == [1, 2]  # each run once
    assert recorded[0][1] >= 1  # run 1 by one of QStash's retries
    types = Counter(t for (t,) in rows(database_url, EVENT_TYPES, job))
    assert (types["JobStarted"], types["BatchRecorded"], types["JobCompleted"]) == (1, 2, 1)
