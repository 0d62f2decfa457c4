"""kill -9 in the middle of a job: nothing accepted is lost, nothing is doubled.

QStash outlives our process, so in the first test the broker runs as its own process
too (`jobtrail qstash-dev`) and only the service is killed. Deliveries that fail while it
is down are retried by the broker; the outbox re-publishes anything not marked sent. In
the second the in-process broker dies with the service.
"""

import asyncio
import time

import psycopg

from service.settings import DEV_QSTASH_TOKEN
from tests.e2e.conftest import (
    Service,
    api_client,
    drift,
    free_port,
    history,
    recorded_runs,
    runs_done,
    start_broker,
    stop_process,
    wait_for,
    wait_until_final,
)


async def every_latest_run_handed_to_broker(database_url: str) -> bool:
    query = """
    SELECT bool_and(sent_at IS NOT NULL)
      FROM (SELECT DISTINCT ON (stream_id) sent_at FROM outbox ORDER BY stream_id, id DESC) latest
    """
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        return (await (await conn.execute(query)).fetchone())[0]


def test_a_job_survives_its_server_being_killed_mid_run(database_url, tmp_path, key):
    broker_port = free_port()
    with (tmp_path / "broker.log").open("ab") as broker_log:
        broker = start_broker(broker_port, broker_log)
        service = Service(database_url, tmp_path)
        service.env.update(QSTASH_TOKEN=DEV_QSTASH_TOKEN, QSTASH_URL=f"http://127.0.0.1:{broker_port}")
        api = api_client(service, key)
        try:
            service.start()
            job = api.post(
                "/v1/jobs", json={"kind": "demo.count", "params": {"total": 1000, "per_batch": 20, "slow_ms": 30}}
            ).json()
            wait_for(lambda: runs_done(api, job["id"]) >= 10, "ten batches")
            service.kill()
            time.sleep(0.5)  # deliveries fail meanwhile; the broker retries them
            service.start()
            done = wait_until_final(api, job["id"], timeout_s=60)
            events = history(api, job["id"])
        finally:
            api.close()
            service.stop()
            stop_process(broker)
    assert (done["status"], done["outcome"], done["processed_runs"]) == ("completed", "exhausted", 50)
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    runs = recorded_runs(events)
    assert runs == list(range(1, 51))  # every run recorded once, in order
    assert drift(database_url) == []  # the projection equals a replay


def test_runs_lost_with_an_in_process_broker_are_sent_again_at_start(database_url, tmp_path, key):
    """kill -9 takes the in-process broker and the runs it held with it. The restarted process
    knows its broker starts empty and re-sends every run that was in flight at once, under
    each job's version check, rather than after JOBTRAIL_REDISPATCH_AFTER_S (default 300 s)."""
    service = Service(database_url, tmp_path)
    assert "JOBTRAIL_REDISPATCH_AFTER_S" not in service.env
    api = api_client(service, key)
    body = {"kind": "demo.count", "params": {"total": 200, "per_batch": 20, "slow_ms": 300}}
    try:
        service.start()
        jobs = [api.post("/v1/jobs", json=body).json()["id"] for _ in range(3)]
        wait_for(lambda: all(runs_done(api, job) >= 3 for job in jobs), "three batches of each job")
        wait_for(lambda: asyncio.run(every_latest_run_handed_to_broker(database_url)), "the next runs at the broker")
        service.kill()  # the broker, holding the runs' messages, dies with the service
        service.start()
        done = [wait_until_final(api, job, timeout_s=30) for job in jobs]
        histories = [history(api, job) for job in jobs]
    finally:
        api.close()
        service.stop()
    assert [(job["status"], job["processed_runs"]) for job in done] == [("completed", 10)] * 3
    redispatched = [[e for e in events if e["type"] == "RunRedispatched"] for events in histories]
    assert 1 <= sum(map(len, redispatched)) <= 3  # at most once a job: a run just queued went out as usual
    assert all(e["provenance"]["actor"] == "sweeper" for e in sum(redispatched, []))
    for events in histories:
        runs = recorded_runs(events)
        assert runs == list(range(1, 11))
    assert drift(database_url) == []
