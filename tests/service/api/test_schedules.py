"""Schedules over HTTP: create, read with next fires and words, list, update, pause,
resume, trigger, delete, a schedule's jobs, its verified history and export; 422s naming the field;
another owner's key answers 404 on every route."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.api.schedule_schemas import ScheduleDocument
from service.cli import main
from tests.service.api.conftest import Keys, auth

pytestmark = pytest.mark.anyio

NIGHTLY = {"kind": "demo.count", "params": {"total": 40}, "cron": "30 2 * * *", "time_zone": "Europe/Berlin"}


async def create_schedule(
    client: AsyncTestClient, key: str, body: dict[str, Any] = NIGHTLY, /, **headers: str
) -> dict[str, Any]:
    response = await client.post("/v1/schedules", json=body, headers={**auth(key), **headers})
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_created_schedule_reads_back_with_its_next_five_fires_in_its_zone_and_in_words(
    client: AsyncTestClient, keys: Keys
) -> None:
    created = await create_schedule(client, keys.acme)

    response = await client.get(f"/v1/schedules/{created['id']}", headers=auth(keys.acme))

    assert response.status_code == 200
    schedule = response.json()
    assert set(schedule) == set(ScheduleDocument.__struct_fields__)
    assert (schedule["owner"], schedule["status"], schedule["version"]) == ("acme", "active", 1)
    assert schedule["description"] == "At 02:30 every day (Europe/Berlin)"
    assert schedule["params"]["total"] == 40 and "per_batch" in schedule["params"]  # filled in by the kind's schema
    fires = schedule["next_fires"]
    assert len(fires) == 5
    for fire in fires:
        local, utc = datetime.fromisoformat(fire["local"]), datetime.fromisoformat(fire["utc"])
        assert (local.hour, local.minute) == (2, 30) and local == utc
        assert utc.utcoffset() == timedelta(0) and local.utcoffset() in (timedelta(hours=1), timedelta(hours=2))
    assert [datetime.fromisoformat(f["utc"]) for f in fires] == sorted(datetime.fromisoformat(f["utc"]) for f in fires)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * *"}, "cron"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"end_at": "2001-01-01T00:00:00Z"}, "end_at"),
        ({"kind": "no.such.kind"}, "kind"),
        ({"params": {"total": "forty"}}, "params"),
        ({"max_runs": 10**6}, "max_runs"),
    ],
)
async def test_a_bad_field_is_a_422_naming_it(
    client: AsyncTestClient, keys: Keys, change: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/schedules", json={**NIGHTLY, **change}, headers=auth(keys.acme))

    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [error["key"] for error in problem["errors"]] == [field]


async def test_an_update_with_a_bad_field_is_a_422_naming_it_and_changes_nothing(
    client: AsyncTestClient, keys: Keys
) -> None:
    created = await create_schedule(client, keys.acme)
    path = f"/v1/schedules/{created['id']}"

    response = await client.patch(path, json={"time_zone": "Nowhere/Special"}, headers=auth(keys.acme))

    assert response.status_code == 422 and response.json()["errors"][0]["key"] == "time_zone"
    assert (await client.get(path, headers=auth(keys.acme))).json()["version"] == 1


async def test_an_update_changes_only_the_fields_sent(client: AsyncTestClient, keys: Keys) -> None:
    created = await create_schedule(client, keys.acme, {**NIGHTLY, "max_runs": 5})
    path = f"/v1/schedules/{created['id']}"

    response = await client.patch(path, json={"cron": "0  9 * *  1-5", "max_runs": None}, headers=auth(keys.acme))

    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["cron"], updated["max_runs"], updated["version"]) == ("0 9 * * 1-5", None, 2)
    assert (updated["time_zone"], updated["params"]) == ("Europe/Berlin", created["params"])
    assert all(datetime.fromisoformat(f["local"]).weekday() < 5 for f in updated["next_fires"])


async def test_the_same_idempotency_key_and_body_returns_the_same_schedule_another_body_is_409(
    client: AsyncTestClient, keys: Keys
) -> None:
    first = await create_schedule(client, keys.acme, NIGHTLY, **{"Idempotency-Key": "nightly"})

    keyed = {**auth(keys.acme), "Idempotency-Key": "nightly"}
    again = await client.post("/v1/schedules", json=NIGHTLY, headers=keyed)
    other = await client.post("/v1/schedules", json={**NIGHTLY, "cron": "0 3 * * *"}, headers=keyed)
    listed = (await client.get("/v1/schedules", headers=auth(keys.acme))).json()

    assert again.status_code == 200 and again.json()["id"] == first["id"]
    assert other.status_code == 409
    assert [s["id"] for s in listed["schedules"]] == [first["id"]]


async def test_pause_stops_the_next_fires_and_resume_brings_them_back(client: AsyncTestClient, keys: Keys) -> None:
    created = await create_schedule(client, keys.acme)
    path = f"/v1/schedules/{created['id']}"

    paused = await client.post(f"{path}/pause", headers=auth(keys.acme))
    paused_again = await client.post(f"{path}/pause", headers=auth(keys.acme))
    resumed = await client.post(f"{path}/resume", headers=auth(keys.acme))

    assert paused.status_code == 200 and paused.json()["status"] == "paused" and paused.json()["next_fires"] == []
    assert paused_again.json()["version"] == paused.json()["version"]  # a repeat changes nothing
    assert resumed.json()["status"] == "active" and len(resumed.json()["next_fires"]) == 5


async def test_a_deleted_schedule_cannot_be_resumed(client: AsyncTestClient, keys: Keys) -> None:
    created = await create_schedule(client, keys.acme)
    path = f"/v1/schedules/{created['id']}"

    deleted = await client.delete(path, headers=auth(keys.acme))
    resumed = await client.post(f"{path}/resume", headers=auth(keys.acme))

    assert deleted.status_code == 200 and deleted.json()["status"] == "deleted"
    assert resumed.status_code == 409 and resumed.json()["state"] == "deleted"


async def test_trigger_creates_one_job_and_the_same_key_again_creates_none(client: AsyncTestClient, keys: Keys) -> None:
    created = await create_schedule(client, keys.acme, {**NIGHTLY, "overlap": "allow"})
    path = f"/v1/schedules/{created['id']}"
    key = {**auth(keys.acme), "Idempotency-Key": "by-hand-1"}

    first = await client.post(f"{path}/trigger", headers=key)
    again = await client.post(f"{path}/trigger", headers=key)
    jobs = (await client.get(f"{path}/jobs", headers=auth(keys.acme))).json()

    assert first.status_code == 201, first.text
    job = first.json()["job"]
    assert first.headers["location"] == f"/v1/jobs/{job['id']}"
    assert (job["owner"], job["kind"], job["status"]) == ("acme", "demo.count", "pending")
    assert again.status_code == 200 and again.json()["job"]["id"] == job["id"]
    assert [j["id"] for j in jobs["jobs"]] == [job["id"]]
    assert (await client.get(path, headers=auth(keys.acme))).json()["jobs_created"] == 1


async def test_the_jobs_route_pages_newest_first(client: AsyncTestClient, keys: Keys) -> None:
    created = await create_schedule(client, keys.acme, {**NIGHTLY, "overlap": "allow"})
    path = f"/v1/schedules/{created['id']}"
    made = [(await client.post(f"{path}/trigger", headers=auth(keys.acme))).json()["job"]["id"] for _ in range(3)]

    first = (await client.get(f"{path}/jobs", params={"limit": 2}, headers=auth(keys.acme))).json()
    rest = (
        await client.get(f"{path}/jobs", params={"limit": 2, "cursor": first["next_cursor"]}, headers=auth(keys.acme))
    ).json()

    assert [j["id"] for j in first["jobs"] + rest["jobs"]] == made[::-1]
    assert rest["next_cursor"] is None


async def test_a_trigger_under_skip_while_the_last_job_is_active_creates_none(
    client: AsyncTestClient, keys: Keys
) -> None:
    created = await create_schedule(client, keys.acme)  # overlap: skip by default
    path = f"/v1/schedules/{created['id']}"

    first = await client.post(f"{path}/trigger", headers=auth(keys.acme))
    second = await client.post(f"{path}/trigger", headers=auth(keys.acme))

    assert first.status_code == 201
    assert second.status_code == 200 and second.json()["job"] is None and second.json()["reason"] == "overlap"


async def test_a_schedules_history_verifies_its_hash_chain(client: AsyncTestClient, keys: Keys) -> None:
    created = await create_schedule(client, keys.acme)
    path = f"/v1/schedules/{created['id']}"
    await client.post(f"{path}/pause", headers=auth(keys.acme))
    await client.post(f"{path}/trigger", headers=auth(keys.acme))

    history = (await client.get(f"{path}/events", headers=auth(keys.acme))).json()

    assert [e["type"] for e in history["events"]] == ["ScheduleCreated", "SchedulePaused", "ScheduleTriggered"]
    assert history["chain"]["ok"] is True
    assert all(e["provenance"]["actor"].startswith("api-key:") for e in history["events"])


async def test_a_schedules_export_passes_verify_export_and_an_altered_line_fails_it(
    client: AsyncTestClient, keys: Keys, tmp_path: Path
) -> None:
    created = await create_schedule(client, keys.acme)
    path = f"/v1/schedules/{created['id']}"
    await client.post(f"{path}/pause", headers=auth(keys.acme))

    response = await client.get(f"{path}/export", headers=auth(keys.acme))

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = response.content.splitlines(keepends=True)
    assert [json.loads(line)["kind"] for line in lines] == ["event", "event", "head"]
    intact, altered = tmp_path / "intact.ndjson", tmp_path / "altered.ndjson"
    intact.write_bytes(b"".join(lines))
    altered.write_bytes(b"".join([lines[0].replace(b"30 2 * * *", b"30 3 * * *"), *lines[1:]]))
    # The CLI runs its own event loop, so it cannot run on this test's.
    assert await asyncio.to_thread(main, ["verify-export", str(intact)]) == 0
    assert await asyncio.to_thread(main, ["verify-export", str(altered)]) == 3


async def test_the_list_pages_filters_and_shows_each_ones_next_fire(client: AsyncTestClient, keys: Keys) -> None:
    made = [(await create_schedule(client, keys.acme))["id"] for _ in range(3)]
    await client.post(f"/v1/schedules/{made[0]}/pause", headers=auth(keys.acme))
    await create_schedule(client, keys.globex)

    first = (await client.get("/v1/schedules", params={"limit": 2}, headers=auth(keys.acme))).json()
    rest = (
        await client.get("/v1/schedules", params={"limit": 2, "cursor": first["next_cursor"]}, headers=auth(keys.acme))
    ).json()
    paused = (await client.get("/v1/schedules", params={"status": "paused"}, headers=auth(keys.acme))).json()
    every = (await client.get("/v1/schedules", headers=auth(keys.auditor))).json()

    assert [s["id"] for s in first["schedules"] + rest["schedules"]] == made[::-1]
    assert all(len(s["next_fires"]) == 1 for s in first["schedules"])
    assert [s["id"] for s in paused["schedules"]] == [made[0]]
    assert len(every["schedules"]) == 4


async def test_another_owners_key_gets_404_on_every_route_and_changes_nothing(
    client: AsyncTestClient, keys: Keys
) -> None:
    created = await create_schedule(client, keys.acme)
    path = f"/v1/schedules/{created['id']}"
    calls = [
        ("GET", path, None),
        ("PATCH", path, {"cron": "0 4 * * *"}),
        ("POST", f"{path}/pause", None),
        ("POST", f"{path}/resume", None),
        ("POST", f"{path}/trigger", None),
        ("DELETE", path, None),
        ("GET", f"{path}/jobs", None),
        ("GET", f"{path}/events", None),
        ("GET", f"{path}/export", None),
    ]
    for method, url, body in calls:
        response = await client.request(method, url, json=body, headers=auth(keys.globex))
        assert response.status_code == 404, (method, url, response.text)
        assert response.json()["detail"] == "no such schedule"
    listed = (await client.get("/v1/schedules", headers=auth(keys.globex))).json()
    assert listed["schedules"] == []
    assert (await client.get(path, headers=auth(keys.acme))).json()["version"] == 1


async def test_an_auditor_reads_a_schedule_but_cannot_change_it(client: AsyncTestClient, keys: Keys) -> None:
    created = await create_schedule(client, keys.acme)
    path = f"/v1/schedules/{created['id']}"

    read = await client.get(path, headers=auth(keys.auditor))
    events = await client.get(f"{path}/events", headers=auth(keys.auditor))
    export = await client.get(f"{path}/export", headers=auth(keys.auditor))
    pause = await client.post(f"{path}/pause", headers=auth(keys.auditor))
    created_by_reader = await client.post("/v1/schedules", json=NIGHTLY, headers=auth(keys.acme_read))

    assert read.status_code == events.status_code == export.status_code == 200
    assert pause.status_code == 403
    assert created_by_reader.status_code == 403


async def test_a_schedule_id_is_no_job_and_a_job_id_is_no_schedule(client: AsyncTestClient, keys: Keys) -> None:
    created = await create_schedule(client, keys.acme, {**NIGHTLY, "overlap": "allow"})
    job = (await client.post(f"/v1/schedules/{created['id']}/trigger", headers=auth(keys.acme))).json()["job"]

    assert (await client.get(f"/v1/jobs/{created['id']}", headers=auth(keys.acme))).status_code == 404
    assert (await client.get(f"/v1/jobs/{created['id']}/events", headers=auth(keys.acme))).status_code == 404
    assert (await client.get(f"/v1/schedules/{job['id']}", headers=auth(keys.acme))).status_code == 404
    assert (await client.get(f"/v1/schedules/{job['id']}/events", headers=auth(keys.acme))).status_code == 404


async def test_an_end_date_before_the_first_fire_is_a_422(client: AsyncTestClient, keys: Keys) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    body = {**NIGHTLY, "cron": "0 0 1 1 *", "end_at": soon}

    response = await client.post("/v1/schedules", json=body, headers=auth(keys.acme))

    assert response.status_code == 422 and response.json()["errors"][0]["key"] == "end_at"


@pytest.mark.parametrize("change", ["pause", "resume", "patch", "delete"])
async def test_every_change_through_the_api_wakes_the_keeper_that_brings_qstash_in_line(
    client: AsyncTestClient, keys: Keys, app: Litestar, change: str
) -> None:
    created = await create_schedule(client, keys.acme)
    path = f"/v1/schedules/{created['id']}"
    if change == "resume":
        await client.post(f"{path}/pause", headers=auth(keys.acme))
    woken = app.state.event_feed.schedules_changed
    woken.clear()
    if change == "patch":
        response = await client.patch(path, json={"cron": "15 3 * * *"}, headers=auth(keys.acme))
    elif change == "delete":
        response = await client.delete(path, headers=auth(keys.acme))
    else:
        response = await client.post(f"{path}/{change}", headers=auth(keys.acme))
    assert response.status_code < 300, response.text
    assert woken.is_set()
