"""kill -9 in the middle of a job: nothing accepted is lost, nothing is doubled.

QStash outlives our process, so here the broker runs as its own process too
(`jobtrail qstash-dev`) and only the service is killed. Deliveries that fail while it
is down are retried by the broker; the outbox re-publishes anything not marked sent.
"""

import asyncio
import subprocess
import time

import httpx
import psycopg

from projections.drift import find_drift
from service.settings import DEV_QSTASH_TOKEN
from tests.e2e.conftest import JOBTRAIL, Service, free_port, history, runs_done, wait_for, wait_until_final


def stop_process(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


# QStash's backoff (e^2.5n s: 12 s, 2.5 min, 30 min) at this scale gives a killed server
# about 20 s to come back before a run's retries run out, even on a loaded machine.
BROKER_TIME_SCALE = "0.01"


def start_broker(port: int, log) -> subprocess.Popen:
    broker = subprocess.Popen(
        [JOBTRAIL, "qstash-dev", "--port", str(port), "--time-scale", BROKER_TIME_SCALE], stdout=log, stderr=log
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v2/keys", headers={"Authorization": f"Bearer {DEV_QSTASH_TOKEN}"})
            return broker
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the broker did not start")


async def latest_run_handed_to_broker(database_url: str) -> bool:
    query = "SELECT sent_at IS NOT NULL FROM outbox ORDER BY id DESC LIMIT 1"
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        return (await (await conn.execute(query)).fetchone())[0]


async def drift(database_url: str) -> list:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        return await find_drift(conn)


def test_a_job_survives_its_server_being_killed_mid_run(database_url, tmp_path, key):
    broker_port = free_port()
    with (tmp_path / "broker.log").open("ab") as broker_log:
        broker = start_broker(broker_port, broker_log)
        service = Service(database_url, tmp_path)
        service.env.update(QSTASH_TOKEN=DEV_QSTASH_TOKEN, QSTASH_URL=f"http://127.0.0.1:{broker_port}")
        api = httpx.Client(base_url=service.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
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
    runs = [e["data"]["run"] for e in events if e["type"] == "BatchRecorded"]
    assert runs == list(range(1, 51))  # every run recorded once, in order
    assert asyncio.run(drift(database_url)) == []  # the projection equals a replay


def test_a_run_lost_with_an_in_process_broker_is_sent_again_by_the_sweeper(database_url, tmp_path, key):
    """kill -9 takes the in-process broker and its queued message with it: the job stalls
    until the sweeper sees no message in flight and re-dispatches the run."""
    service = Service(database_url, tmp_path)
    service.env["JOBTRAIL_REDISPATCH_AFTER_S"] = "1"
    api = httpx.Client(base_url=service.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    try:
        service.start()
        job = api.post(
            "/v1/jobs", json={"kind": "demo.count", "params": {"total": 200, "per_batch": 20, "slow_ms": 300}}
        ).json()
        wait_for(lambda: runs_done(api, job["id"]) >= 3, "three batches")
        wait_for(lambda: asyncio.run(latest_run_handed_to_broker(database_url)), "the next run at the broker")
        service.kill()  # the broker, holding the run's message, dies with the service
        service.start()
        done = wait_until_final(api, job["id"], timeout_s=60)
        events = history(api, job["id"])
    finally:
        api.close()
        service.stop()
    assert (done["status"], done["processed_runs"]) == ("completed", 10)
    redispatched = [e for e in events if e["type"] == "RunRedispatched"]
    assert len(redispatched) == 1 and redispatched[0]["provenance"]["actor"] == "sweeper"
    runs = [e["data"]["run"] for e in events if e["type"] == "BatchRecorded"]
    assert runs == list(range(1, 11))
    assert asyncio.run(drift(database_url)) == []
