"""Audit routes: the history with provenance, the state at any point, a verifiable export."""

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from projections.export import verify_export
from service.cli import main
from tests.service.api.conftest import Keys, auth, create
from tests.service.key_ids import key_id_of

pytestmark = pytest.mark.anyio


async def created_then_cancelled(client: AsyncTestClient, key: str) -> str:
    job = await create(client, key)
    await asyncio.sleep(0.01)  # a gap between the two events' instants
    cancelled = await client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(key))
    assert cancelled.status_code == 200
    return job["id"]


async def history(client: AsyncTestClient, key: str, job_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/jobs/{job_id}/events", headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()


async def test_events_show_every_event_with_provenance_hashes_and_a_verified_chain(
    client: AsyncTestClient, keys: Keys
) -> None:
    job_id = await created_then_cancelled(client, keys.acme)

    body = await history(client, keys.acme, job_id)

    first, second = body["events"]
    assert [(e["version"], e["type"]) for e in body["events"]] == [(1, "JobCreated"), (2, "JobCancelled")]
    assert first["position"] < second["position"]
    assert first["data"]["params"]["total"] == 40
    assert second["data"]["reason"] == "cancelled by owner"
    assert {e["provenance"]["actor"] for e in body["events"]} == {f"api-key:{key_id_of(keys.acme)}"}
    assert first["prev_hash"] is None
    assert second["prev_hash"] == first["hash"]
    assert body["chain"]["ok"] is True
    assert body["chain"]["events"] == 2
    assert body["chain"]["head"] == second["hash"]


async def test_state_at_version_one_is_the_pending_job(client: AsyncTestClient, keys: Keys) -> None:
    job_id = await created_then_cancelled(client, keys.acme)

    response = await client.get(f"/v1/jobs/{job_id}/state", params={"version": 1}, headers=auth(keys.acme))

    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert response.json()["state"]["status"] == "pending"


async def test_state_at_an_instant_between_two_commands_is_the_state_then(client: AsyncTestClient, keys: Keys) -> None:
    job_id = await created_then_cancelled(client, keys.acme)
    events = (await history(client, keys.acme, job_id))["events"]
    created, cancelled = (datetime.fromisoformat(e["recorded_at"]) for e in events)
    between = created + (cancelled - created) / 2

    async def state_at(instant: datetime) -> dict[str, Any]:
        params = {"at": instant.isoformat().replace("+00:00", "Z")}
        response = await client.get(f"/v1/jobs/{job_id}/state", params=params, headers=auth(keys.acme))
        assert response.status_code == 200, response.text
        return response.json()

    assert (await state_at(between))["state"]["status"] == "pending"
    assert (await state_at(cancelled))["state"]["status"] == "cancelled"
    assert (await state_at(cancelled))["version"] == 2


async def test_state_refuses_an_instant_without_a_time_zone_and_both_bounds_at_once(
    client: AsyncTestClient, keys: Keys
) -> None:
    job = await create(client, keys.acme)
    path = f"/v1/jobs/{job['id']}/state"

    naive = await client.get(path, params={"at": "2026-01-01T12:00:00"}, headers=auth(keys.acme))
    both = await client.get(path, params={"at": "2026-01-01T12:00:00Z", "version": 1}, headers=auth(keys.acme))

    assert (naive.status_code, both.status_code) == (400, 400)
    assert naive.headers["content-type"] == both.headers["content-type"] == "application/problem+json"
    assert "time zone" in naive.json()["detail"]
    assert "either" in both.json()["detail"]


async def test_state_at_a_version_past_the_last_is_a_422_naming_the_last(client: AsyncTestClient, keys: Keys) -> None:
    job_id = await created_then_cancelled(client, keys.acme)
    path = f"/v1/jobs/{job_id}/state"

    last = await client.get(path, params={"version": 2}, headers=auth(keys.acme))
    past = await client.get(path, params={"version": 3}, headers=auth(keys.acme))

    assert last.status_code == 200 and last.json()["version"] == 2
    assert past.status_code == 422 and past.headers["content-type"] == "application/problem+json"
    assert past.json()["detail"] == "version 3 is past the job's last version, 2"


async def test_an_export_verifies_and_one_altered_value_breaks_it(
    client: AsyncTestClient, keys: Keys, tmp_path: Path
) -> None:
    job_id = await created_then_cancelled(client, keys.acme)
    response = await client.get(f"/v1/jobs/{job_id}/export", headers=auth(keys.acme))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = response.content.splitlines(keepends=True)
    assert len(lines) == 3
    assert b'"total": 40' in lines[0]
    altered = [lines[0].replace(b'"total": 40', b'"total": 41'), *lines[1:]]
    intact_file, altered_file = tmp_path / "intact.ndjson", tmp_path / "altered.ndjson"
    intact_file.write_bytes(b"".join(lines))
    altered_file.write_bytes(b"".join(altered))

    assert verify_export(lines).ok is True
    report = verify_export(altered)
    assert report.ok is False
    assert report.first_bad_version == 1
    # The CLI runs its own event loop, so it cannot run on this test's.
    assert await asyncio.to_thread(main, ["verify-export", str(intact_file)]) == 0
    assert await asyncio.to_thread(main, ["verify-export", str(altered_file)]) == 3
