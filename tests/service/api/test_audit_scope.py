"""An `audit:read` key reads every owner's jobs and changes none of them."""

import asyncio

import pytest
from litestar.testing import AsyncTestClient

from tests.service.api.conftest import COUNT, Keys, auth, create

pytestmark = pytest.mark.anyio


async def test_an_audit_only_key_lists_every_owners_jobs_while_an_owner_lists_its_own(
    client: AsyncTestClient, keys: Keys
) -> None:
    acme = {(await create(client, keys.acme))["id"] for _ in range(2)}
    globex = (await create(client, keys.globex))["id"]

    audited = await client.get("/v1/jobs", headers=auth(keys.auditor))
    owned = await client.get("/v1/jobs", headers=auth(keys.acme_read))

    assert audited.status_code == 200, audited.text
    assert {job["id"] for job in audited.json()["jobs"]} == acme | {globex}
    assert {job["owner"] for job in audited.json()["jobs"]} == {"acme", "globex"}
    assert {job["id"] for job in owned.json()["jobs"]} == acme


async def test_an_audit_only_key_filters_every_owners_jobs_by_status(client: AsyncTestClient, keys: Keys) -> None:
    cancelled = (await create(client, keys.acme))["id"]
    await create(client, keys.globex)
    assert (await client.post(f"/v1/jobs/{cancelled}/cancel", headers=auth(keys.acme))).status_code == 200

    response = await client.get("/v1/jobs", params={"status": "cancelled"}, headers=auth(keys.auditor))

    assert response.status_code == 200, response.text
    assert [job["id"] for job in response.json()["jobs"]] == [cancelled]


async def test_an_audit_only_key_reads_another_owners_job_and_its_results(client: AsyncTestClient, keys: Keys) -> None:
    job = await create(client, keys.globex)

    read = await client.get(f"/v1/jobs/{job['id']}", headers=auth(keys.auditor))
    results = await client.get(f"/v1/jobs/{job['id']}/results", headers=auth(keys.auditor))

    assert read.status_code == 200, read.text
    assert read.json() == job
    assert read.headers["x-job-version"] == "1"
    assert results.status_code == 200, results.text
    assert results.json() == {"job_id": job["id"], "batches": [], "next_after_run": None}


async def test_an_audit_only_key_is_refused_create_cancel_and_retry_naming_jobs_write(
    client: AsyncTestClient, keys: Keys
) -> None:
    job = await create(client, keys.acme)

    responses = [
        await client.post("/v1/jobs", json=COUNT, headers=auth(keys.auditor)),
        await client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(keys.auditor)),
        await client.post(f"/v1/jobs/{job['id']}/retry", headers=auth(keys.auditor)),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403]
    assert all(r.headers["content-type"] == "application/problem+json" for r in responses)
    assert all("jobs:write" in r.json()["detail"] for r in responses)
    after = (await client.get(f"/v1/jobs/{job['id']}", headers=auth(keys.acme))).json()
    assert (after["status"], after["version"]) == ("pending", 1)
    listed = (await client.get("/v1/jobs", headers=auth(keys.auditor))).json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]  # the refused create made nothing


async def test_an_auditors_read_of_an_overdue_job_times_it_out_as_the_read_not_as_the_auditor(
    client: AsyncTestClient, keys: Keys
) -> None:
    job = await create(client, keys.acme, {**COUNT, "deadline_s": 0.05})
    await asyncio.sleep(0.1)

    read = await client.get(f"/v1/jobs/{job['id']}", headers=auth(keys.auditor))
    history = (await client.get(f"/v1/jobs/{job['id']}/events", headers=auth(keys.acme))).json()["events"]

    assert (read.json()["status"], read.json()["outcome"]) == ("timeout", "deadline_passed")
    assert [e["type"] for e in history] == ["JobCreated", "JobTimedOut"]
    assert history[-1]["provenance"]["actor"] == "read"
    assert history[-1]["data"]["detected_by"] == "read"


async def test_a_key_with_neither_read_scope_may_not_read_results(client: AsyncTestClient, keys: Keys) -> None:
    job = await create(client, keys.acme_write)

    response = await client.get(f"/v1/jobs/{job['id']}/results", headers=auth(keys.acme_write))

    assert response.status_code == 403
    assert "jobs:read" in response.json()["detail"]
