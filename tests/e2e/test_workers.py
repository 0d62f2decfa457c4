"""`jobtrail serve --workers 2`: two processes on one socket, one local broker in the supervisor.

Every duty beside the HTTP routes runs in both workers (relay, schedule keeper, stats
runner, live-stream listener, self-probe); these tests check that, shared, each run
is still published once, delivered once and recorded once, the statistics count each
job once, and a watch served by one worker sees what the other one did. A worker that
is killed is replaced while the other keeps answering; SIGTERM stops the lot, and the
next start re-sends the runs its broker took with it.
"""

import json
import os
import signal
import time
from pathlib import Path

import httpx
import psycopg

from tests.e2e.conftest import (
    Service,
    api_client,
    create,
    drift,
    history,
    recorded_runs,
    runs_done,
    wait_for,
    wait_until_final,
)
from tests.e2e.processes import alive, children, command_line
from tests.e2e.sse import data_messages

WORKERS = 2
JOBS = 50
RUNS = 4
# A worker stops within uvicorn's graceful limit (10 s); the supervisor adds little.
GRACEFUL_LIMIT_S = 10

OUTBOX = """
SELECT count(*), count(*) FILTER (WHERE sent_at IS NOT NULL AND publish_attempts = 1),
       count(DISTINCT message_id)
  FROM outbox
"""
# Each outbox row's message delivered and answered once: one inbox row per message id.
DELIVERED = "SELECT count(*) FROM outbox o JOIN inbox i USING (message_id)"
INBOX = "SELECT count(*) FROM inbox"


def workers_of(service: Service) -> list[int]:
    """The pids of the supervisor's worker processes (spawned interpreters), alive now."""
    assert service.process is not None
    return [pid for pid in children(service.process.pid) if "spawn_main" in command_line(pid)]


def with_workers(database_url: str, tmp_path: Path, count: int = WORKERS) -> Service:
    service = Service(database_url, tmp_path)
    service.env["JOBTRAIL_WORKERS"] = str(count)
    return service


def query(database_url: str, sql: str) -> tuple:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return row


def test_two_workers_share_every_duty_and_each_run_is_sent_and_recorded_once(database_url, tmp_path, key, auditor):
    service = with_workers(database_url, tmp_path)
    api = api_client(service, key)
    try:
        service.start()
        assert len(workers_of(service)) == WORKERS
        body = {"params": {"total": 20 * RUNS, "per_batch": 20}}
        watched = create(api, params={"total": 20 * RUNS, "per_batch": 20, "slow_ms": 100})
        with api.stream("GET", f"/v1/jobs/{watched['id']}/watch") as response:
            jobs = [create(api, **body)["id"] for _ in range(JOBS - 1)]
            seen = [json.loads(message.data) for message in data_messages(response)]
        done = [wait_until_final(api, job, timeout_s=60) for job in [watched["id"], *jobs]]
        histories = [history(api, job) for job in [watched["id"], *jobs]]
        wait_for(lambda: finished_in_stats(service, auditor) == JOBS, "the stats projection to count every job")
        ready = httpx.get(f"{service.base_url}/readyz").json()
    finally:
        api.close()
        service.stop()
    assert [(job["status"], job["processed_runs"]) for job in done] == [("completed", RUNS)] * JOBS
    for events in histories:
        assert recorded_runs(events) == list(range(1, RUNS + 1))
    rows, sent_once, message_ids = query(database_url, OUTBOX)
    assert rows == JOBS * RUNS and sent_once == rows and message_ids == rows
    assert query(database_url, DELIVERED) == (rows,) == query(database_url, INBOX)
    assert [d["version"] for d in seen] == [e["version"] for e in histories[0]]  # the watch saw every step once
    assert seen[-1]["status"] == "completed"
    assert drift(database_url) == []
    assert ready["deliveries"]["state"] == "ok"


def finished_in_stats(service: Service, auditor: str) -> int:
    stats = httpx.get(f"{service.base_url}/v1/stats", headers={"Authorization": f"Bearer {auditor}"}).json()
    return stats["jobs"]["by_status"].get("completed", 0)


def test_a_killed_worker_is_replaced_while_the_other_keeps_answering(database_url, tmp_path, key):
    service = with_workers(database_url, tmp_path)
    try:
        service.start()
        before = workers_of(service)
        os.kill(before[0], signal.SIGKILL)
        answers = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # A new connection each time: the kernel gives it to a worker that is alive.
            answers.append(httpx.get(f"{service.base_url}/healthz", timeout=5).status_code)
            now = workers_of(service)
            if len(now) == WORKERS and before[0] not in now:
                if httpx.get(f"{service.base_url}/readyz", timeout=5).status_code == 200:
                    break
            time.sleep(0.05)
        after = workers_of(service)
        api = api_client(service, key)
        job = wait_until_final(api, create(api, params={"total": 60, "per_batch": 20})["id"])
        api.close()
    finally:
        service.stop()
    assert set(answers) == {200}
    assert len(after) == WORKERS and before[0] not in after and before[1] in after
    assert job["status"] == "completed"
    assert f"(pid {before[0]}) ended (killed by SIGKILL)" in service.log.read_text()


def test_sigterm_stops_every_worker_and_the_next_start_resends_what_the_broker_held(database_url, tmp_path, key):
    """The supervisor's broker dies with it; the next `serve` re-sends the runs it held, each once."""
    service = with_workers(database_url, tmp_path)
    api = api_client(service, key)
    slow = {"total": 200, "per_batch": 20, "slow_ms": 200}
    try:
        service.start()
        workers = workers_of(service)
        jobs = [create(api, params=slow)["id"] for _ in range(4)]
        wait_for(lambda: all(runs_done(api, job) >= 2 for job in jobs), "two batches of each job")
        code, took_s = service.terminate(GRACEFUL_LIMIT_S * 3)
        left = [pid for pid in workers if alive(pid)]
        service.start()
        done = [wait_until_final(api, job, timeout_s=60) for job in jobs]
        histories = [history(api, job) for job in jobs]
    finally:
        api.close()
        service.stop()
    assert code == 0, service.log.read_text()[-3000:]
    assert took_s < GRACEFUL_LIMIT_S, f"took {took_s:.1f} s"
    assert left == []
    assert [(job["status"], job["processed_runs"]) for job in done] == [("completed", 10)] * 4
    for events in histories:
        assert recorded_runs(events) == list(range(1, 11))
    redispatched = [[e for e in events if e["type"] == "RunRedispatched"] for events in histories]
    assert 1 <= sum(map(len, redispatched)) and all(len(r) <= 1 for r in redispatched)
    assert "lost with an earlier local broker" in service.log.read_text()
    assert drift(database_url) == []


def test_workers_bound_request_heads_and_end_live_streams_when_stopping(database_url, tmp_path, key):
    """The one process's HTTP server in every worker: 431 past the head's bound, and open
    live streams ended at SIGTERM rather than waited for until the graceful limit."""
    service = with_workers(database_url, tmp_path)
    api = api_client(service, key)
    try:
        service.start()
        huge = [httpx.get(f"{service.base_url}/healthz", headers={"X-Huge": "a" * 70_000}) for _ in range(4)]
        job = create(api, params={"total": 10, "fail_permanently_at": 1})
        assert wait_until_final(api, job["id"])["status"] == "error"  # requeueable: its watch stays open
        with api.stream("GET", f"/v1/jobs/{job['id']}/watch") as watching:
            statuses = (json.loads(m.data)["status"] for m in data_messages(watching))
            assert "error" in statuses  # read up to the error document; the watch stays open
            assert service.process is not None
            started = time.monotonic()
            service.process.terminate()
            code = service.process.wait(GRACEFUL_LIMIT_S * 3)
            took_s = time.monotonic() - started
            list(statuses)  # read to its end: a cut connection would raise instead
    finally:
        api.close()
        service.stop()
    assert [response.status_code for response in huge] == [431] * 4
    assert code == 0 and took_s < GRACEFUL_LIMIT_S - 2, f"took {took_s:.1f} s"
    assert "graceful shutdown exceeded" not in service.log.read_text()
