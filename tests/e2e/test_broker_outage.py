"""A real `jobtrail serve` against a standalone `jobtrail qstash-dev` that is not there at start,
or restarts: the service starts and serves regardless, and the sweep schedule comes back
by itself once the broker answers."""

import httpx

from service.qstash.schedule_keeper import SWEEP_SCHEDULE_ID
from service.settings import DEV_QSTASH_TOKEN
from tests.e2e.conftest import Service, create, free_port, start_broker, stop_process, wait_for, wait_until_final

CHECK_S = "0.2"
QSTASH_CRON = "CRON_TZ=Europe/Berlin 0 9 * * 1-5"


def service_with_broker_at(database_url: str, tmp_path, broker_port: int) -> Service:
    service = Service(database_url, tmp_path)
    service.env.update(
        QSTASH_TOKEN=DEV_QSTASH_TOKEN,
        QSTASH_URL=f"http://127.0.0.1:{broker_port}",
        JOBTRAIL_SCHEDULE_CHECK_S=CHECK_S,
    )
    return service


def broker_state(service: Service) -> str:
    return httpx.get(f"{service.base_url}/readyz", timeout=5).json()["broker"]["state"]


def sweep_schedule(broker_port: int) -> dict | None:
    response = httpx.get(
        f"http://127.0.0.1:{broker_port}/v2/schedules/{SWEEP_SCHEDULE_ID}",
        headers={"Authorization": f"Bearer {DEV_QSTASH_TOKEN}"},
        timeout=5,
    )
    return response.json() if response.status_code == 200 else None


def swept(broker_port: int) -> bool:
    """The schedule has delivered a sweep that the service answered with a success."""
    schedule = sweep_schedule(broker_port)
    return schedule is not None and "SUCCESS" in (schedule.get("lastScheduleStates") or {}).values()


def test_serve_starts_and_takes_jobs_while_qstash_is_unreachable_and_catches_up_when_it_answers(
    database_url, tmp_path, key
):
    broker_port = free_port()
    service = service_with_broker_at(database_url, tmp_path, broker_port)
    api = httpx.Client(base_url=service.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    broker = None
    try:
        service.start()  # ready: no broker is needed for that
        wait_for(lambda: broker_state(service) == "down", "readiness to report the broker down")
        job = create(api, params={"total": 40, "per_batch": 20})
        assert api.get(f"/v1/jobs/{job['id']}").json()["status"] == "pending"
        with (tmp_path / "broker.log").open("ab") as log:
            broker = start_broker(broker_port, log)
        wait_for(lambda: broker_state(service) == "up", "readiness to report the broker up")
        wait_for(lambda: swept(broker_port), "a sweep from the schedule created once the broker answered")
        done = wait_until_final(api, job["id"], timeout_s=60)
    finally:
        api.close()
        service.stop()
        if broker:
            stop_process(broker)
    assert (done["status"], done["processed_runs"]) == ("completed", 2)


def test_a_restarted_standalone_broker_gets_the_sweep_schedule_back(database_url, tmp_path):
    broker_port = free_port()
    service = service_with_broker_at(database_url, tmp_path, broker_port)
    with (tmp_path / "broker.log").open("ab") as log:
        broker = start_broker(broker_port, log)
        try:
            service.start()
            wait_for(lambda: swept(broker_port), "a sweep")
            stop_process(broker)  # its schedules were in memory only
            wait_for(lambda: broker_state(service) == "down", "readiness to report the broker down")
            broker = start_broker(broker_port, log)
            wait_for(lambda: swept(broker_port), "a sweep from the restarted broker")
            assert broker_state(service) == "up"
        finally:
            service.stop()
            stop_process(broker)


def broker_schedule(broker_port: int, schedule_id: str) -> tuple[str, str, bool] | None:
    """What the broker holds for a schedule: (destination, cron, paused), or None."""
    response = httpx.get(
        f"http://127.0.0.1:{broker_port}/v2/schedules/{schedule_id}",
        headers={"Authorization": f"Bearer {DEV_QSTASH_TOKEN}"},
        timeout=5,
    )
    found = response.json() if response.status_code == 200 else None
    return (found["destination"], found["cron"], bool(found.get("isPaused"))) if found else None


def test_a_restarted_standalone_broker_gets_every_schedule_back_paused_or_not(database_url, tmp_path, key):
    broker_port = free_port()
    service = service_with_broker_at(database_url, tmp_path, broker_port)
    api = httpx.Client(base_url=service.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    body = {"kind": "demo.count", "params": {"total": 3}, "cron": "0 9 * * 1-5", "time_zone": "Europe/Berlin"}
    with (tmp_path / "broker.log").open("ab") as log:
        broker = start_broker(broker_port, log)
        try:
            service.start()
            running = api.post("/v1/schedules", json=body).raise_for_status().json()["id"]
            paused = api.post("/v1/schedules", json={**body, "paused": True}).raise_for_status().json()["id"]
            expected = {
                schedule_id: (f"{service.base_url}/qstash/schedules/{schedule_id}/fire", QSTASH_CRON, is_paused)
                for schedule_id, is_paused in ((running, False), (paused, True))
            }

            def held() -> bool:
                return all(broker_schedule(broker_port, sid) == want for sid, want in expected.items())

            wait_for(held, "the broker to hold both schedules")
            stop_process(broker)  # its schedules were in memory only
            broker = start_broker(broker_port, log)  # a new process: it starts with no schedule
            # (not asserted: the keeper's next check may already have put them back)
            wait_for(held, "the keeper to put both schedules back, the paused one paused")
        finally:
            api.close()
            service.stop()
            stop_process(broker)
