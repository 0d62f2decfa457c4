"""Schedules end to end: `jobtrail serve`, its local broker firing on a scaled clock, over loopback.

The broker runs a minute in SCALED_MINUTE_S of real time, and the service derives each
fire's tick from the broker's virtual clock (service/local_broker.py), so every scaled
minute is a tick of its own.
"""

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from service.settings import DEV_QSTASH_TOKEN
from tests.e2e.conftest import (
    FINAL,
    JOBTRAIL,
    Service,
    api_client,
    free_port,
    history,
    start_broker,
    stop_process,
    wait_for,
)

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


KILLED_SCHEDULES = 20
FIRES_RECORDED = "SELECT count(*) FROM events WHERE type = 'ScheduleFired'"


def next_minute(seconds_ahead: float) -> datetime:
    """The next whole minute of the wall clock at least `seconds_ahead` away, in UTC."""
    at = datetime.now(UTC) + timedelta(seconds=seconds_ahead)
    return at.replace(second=0, microsecond=0) + MINUTE


def jobs_per_schedule(api: httpx.Client) -> dict[str, int]:
    listed = api.get("/v1/schedules", params={"limit": 100}).json()["schedules"]
    return {s["id"]: s["jobs_created"] for s in listed}


def test_kill_9_of_serve_across_a_tick_leaves_exactly_one_job_per_schedule_and_tick(database_url, tmp_path, key):
    """`kill -9` of `jobtrail serve` while the fires of a tick are being answered.

    The broker is a standalone `jobtrail qstash-dev`, so that it outlives the kill and keeps
    delivering, as QStash does; the in-process broker would die with the service and lose
    the fires in flight. That makes the ticks the service's own: its wall clock, so whole
    minutes. The test therefore creates its schedules two seconds before a real minute
    boundary (at most about a minute of waiting; the whole test stays under 75 s, which it
    asserts), while the broker, scaled, fires each schedule every 0.6 s: dozens of copies
    of each tick. The service is killed as soon as the first job of the boundary's tick is
    committed, mid-tick, and started again. A fire the kill cut off is delivered again,
    by the broker's retry or by its next copy, whichever comes first (both are the same
    tick to the service). Then: one job per (schedule, tick), each job created once, and
    every schedule has its job for the tick the kill cut short, some of them answered
    only after the restart.
    """
    started = time.monotonic()
    broker_port = free_port()
    service = Service(database_url, tmp_path)
    service.env.update(
        QSTASH_TOKEN=DEV_QSTASH_TOKEN,
        QSTASH_URL=f"http://127.0.0.1:{broker_port}",
        JOBTRAIL_SCHEDULE_CHECK_S="0.2",
    )
    with (tmp_path / "broker.log").open("ab") as log, api_client(service, key) as api:
        broker = start_broker(broker_port, log)
        try:
            service.start()
            tick = next_minute(seconds_ahead=3)  # room to create the schedules before it
            time.sleep(max(0.0, (tick - datetime.now(UTC)).total_seconds() - 2))
            made = [create_schedule(api, overlap="allow")["id"] for _ in range(KILLED_SCHEDULES)]
            assert datetime.now(UTC) < tick, "the schedules were created too late for the tick"
            with psycopg.connect(database_url, autocommit=True) as conn:  # polled closely: the kill must land mid-tick
                wait_for(lambda: conn.execute(FIRES_RECORDED).fetchone()[0] >= 1, "the first job of the tick", 15)
                service.kill()
            killed_at = datetime.now(UTC)
            service.start()
            wait_for(
                lambda: sorted(jobs_per_schedule(api).values())[:1] == [1],
                "every schedule's job for the tick after the restart",
                20,
            )
            recorded = {schedule_id: events(api, schedule_id) for schedule_id in made}
            counts = jobs_per_schedule(api)
            job_ids = [f["job_id"] for stream in recorded.values() for f in fired(stream)]
            creations = {j: sum(e["type"] == "JobCreated" for e in history(api, j)) for j in job_ids}
        finally:
            service.stop()
            stop_process(broker)
    assert time.monotonic() - started < 75

    fires_of_tick = []
    for schedule_id, stream in recorded.items():
        fires = fired(stream)
        found = ticks(fires)
        assert len(set(found)) == len(found)  # no tick twice
        assert all(f.get("job_id") for f in fires)
        assert counts[schedule_id] == len(fires)
        fires_of_tick += [
            e for e in stream if e["type"] == "ScheduleFired" and datetime.fromisoformat(e["data"]["tick"]) == tick
        ]
    assert len(fires_of_tick) == KILLED_SCHEDULES  # the tick the kill cut short: one job for each schedule
    after_kill = [e for e in fires_of_tick if datetime.fromisoformat(e["recorded_at"]) > killed_at]
    assert after_kill  # the kill did cut the tick short
    # Fires the kill cut off or refused: the broker recorded them failed, to be retried.
    assert " attempt 0 failed: " in (tmp_path / "broker.log").read_text()
    assert len(job_ids) == len(set(job_ids))  # no job for two ticks or two schedules
    assert set(creations.values()) == {1}  # each job created once
