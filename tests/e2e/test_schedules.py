"""Schedules end to end: `jobtrail serve`, its local broker firing on a scaled clock, over loopback.

The broker runs a minute in SCALED_MINUTE_S of real time, and the service derives each
fire's tick from the broker's virtual clock (service/local_broker.py), so every scaled
minute is a tick of its own.
"""

import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import FINAL, JOBTRAIL, Service, api_client, history, wait_for

TIME_SCALE = 0.005
SCALED_MINUTE_S = 60 * TIME_SCALE  # 0.3 s
MINUTE = timedelta(minutes=1)


@pytest.fixture
def service(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Service]:
    running = Service(database_url, tmp_path, getattr(request, "param", ""))
    running.env["JOBTRAIL_BROKER_TIME_SCALE"] = str(TIME_SCALE)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def api(service: Service, key: str) -> Iterator[httpx.Client]:
    with api_client(service, key) as client:
        yield client


def create_schedule(api: httpx.Client, **body) -> dict:
    answer = api.post("/v1/schedules", json={"kind": "demo.count", "params": {"total": 3}, "cron": "* * * * *", **body})
    assert answer.status_code == 201, answer.text
    return answer.json()


def schedule(api: httpx.Client, schedule_id: str) -> dict:
    return api.get(f"/v1/schedules/{schedule_id}").json()


def events(api: httpx.Client, schedule_id: str) -> list[dict]:
    return api.get(f"/v1/schedules/{schedule_id}/events").json()["events"]


def fired(events: list[dict]) -> list[dict]:
    return [e["data"] for e in events if e["type"] == "ScheduleFired"]


def ticks(fires: list[dict]) -> list[datetime]:
    return [datetime.fromisoformat(f["tick"]) for f in fires]


def wait_for_jobs(api: httpx.Client, schedule_id: str, count: int, timeout_s: float = 12) -> None:
    wait_for(lambda: schedule(api, schedule_id)["jobs_created"] >= count, f"{count} jobs", timeout_s)


def consecutive(moments: list[datetime]) -> bool:
    return all(later - earlier == MINUTE for earlier, later in zip(moments, moments[1:], strict=False))


@pytest.mark.parametrize("service", ["duplicate,shuffle"], indirect=True)
def test_every_scaled_minute_is_one_tick_with_one_job_despite_duplicated_and_shuffled_fires(api):
    created = create_schedule(api, overlap="allow")
    wait_for_jobs(api, created["id"], 20)
    api.post(f"/v1/schedules/{created['id']}/pause").raise_for_status()
    fires = fired(events(api, created["id"]))
    jobs = api.get(f"/v1/schedules/{created['id']}/jobs", params={"limit": 100}).json()["jobs"]
    found = ticks(fires)
    assert len(found) >= 20 and len(set(found)) == len(found)  # no tick twice
    assert all(f.get("job_id") for f in fires)  # every tick made its job
    # None skipped. The first fire's count stands apart: the broker's clock, ahead of the
    # service's, has run past ticks since the schedule was created (on the service's clock).
    assert consecutive(found) and all(f["missed"] == 0 for f in fires[1:])
    assert schedule(api, created["id"])["jobs_created"] == len(found) == len({j["id"] for j in jobs})


def test_pause_stops_the_jobs_and_resume_starts_them_again_without_catching_up(api, service, tmp_path):
    created = create_schedule(api, overlap="allow")
    schedule_id = created["id"]
    wait_for_jobs(api, schedule_id, 3)
    api.post(f"/v1/schedules/{schedule_id}/pause").raise_for_status()
    paused_with = schedule(api, schedule_id)["jobs_created"]
    time.sleep(6 * SCALED_MINUTE_S)
    assert schedule(api, schedule_id)["jobs_created"] == paused_with  # a fire in flight made none
    api.post(f"/v1/schedules/{schedule_id}/resume").raise_for_status()
    wait_for_jobs(api, schedule_id, paused_with + 3)
    api.post(f"/v1/schedules/{schedule_id}/pause").raise_for_status()

    recorded = events(api, schedule_id)
    types = [e["type"] for e in recorded]
    paused_at, resumed_at = types.index("SchedulePaused"), types.index("ScheduleResumed")
    assert "ScheduleFired" not in types[paused_at:resumed_at]
    before, after = ticks(fired(recorded[:paused_at])), ticks(fired(recorded[resumed_at:]))
    assert consecutive(before) and consecutive(after)
    assert after[0] - before[-1] >= 6 * MINUTE  # the ticks passed while paused made no job
    assert len(before) + len(after) == schedule(api, schedule_id)["jobs_created"]

    # The schedule's hash chain: through the API, the CLI, and an export verified offline.
    assert api.get(f"/v1/schedules/{schedule_id}/events").json()["chain"]["ok"] is True
    env = service.env
    shown = subprocess.run([JOBTRAIL, "history", schedule_id, "--verify"], env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    export = tmp_path / "schedule.ndjson"
    answer = api.get(f"/v1/schedules/{schedule_id}/export")
    assert answer.status_code == 200, answer.text
    export.write_bytes(answer.content)
    verified = subprocess.run([JOBTRAIL, "verify-export", str(export)], env=env, capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_overlap_skip_creates_no_job_while_the_previous_one_runs(api):
    # One run of ~5 scaled minutes: the ticks meanwhile find the job active.
    created = create_schedule(api, overlap="skip", params={"total": 3, "slow_ms": int(5 * SCALED_MINUTE_S * 1000)})
    schedule_id = created["id"]
    wait_for_jobs(api, schedule_id, 2)
    api.post(f"/v1/schedules/{schedule_id}/pause").raise_for_status()
    fires = fired(events(api, schedule_id))
    skipped = [f for f in fires if f.get("reason") == "overlap"]
    assert len(skipped) >= 2  # ticks came and went while the first job ran
    first, second = [f["job_id"] for f in fires if f.get("job_id")][:2]
    ended = next(e for e in history(api, first) if e["type"] in {"JobCompleted", "JobFailed"})
    began = history(api, second)[0]
    assert began["recorded_at"] >= ended["recorded_at"]  # the second job came after the first ended
    assert api.get(f"/v1/jobs/{first}").json()["status"] in FINAL
