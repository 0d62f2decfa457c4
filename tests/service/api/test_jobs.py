"""Jobs over HTTP: create, read, list and page, cancel, retry, and the kinds on offer."""

import asyncio
import time
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from service.api.schemas import JobDocument
from service.jobs.demo_count import CONFIG as DEMO_COUNT
from tests.service.api.conftest import COUNT, Keys, auth, concurrently, create

pytestmark = pytest.mark.anyio

DEFAULT_PARAMS = {"total": 40, "per_batch": 20, "slow_ms": 0, "fail_every": 0, "fail_permanently_at": None}


async def ids_of_every_page(client: AsyncTestClient, key: str, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/jobs", params=params, headers=auth(key))
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([job["id"] for job in body["jobs"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_creating_a_job_answers_201_with_its_location_version_and_filled_in_params(
    client: AsyncTestClient, keys: Keys
) -> None:
    response = await client.post("/v1/jobs", json=COUNT, headers=auth(keys.acme))

    assert response.status_code == 201
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert response.headers["x-job-version"] == "1"
    assert set(job) == set(JobDocument.__struct_fields__)
    assert job["owner"] == "acme"
    assert job["kind"] == "demo.count"
    assert job["status"] == "pending"
    assert job["version"] == 1
    assert job["max_runs"] == DEMO_COUNT.max_runs
    assert job["params"] == DEFAULT_PARAMS
    assert job["created_at"] is not None and job["deadline"] is not None


async def test_reading_a_job_answers_every_documented_field_as_created(client: AsyncTestClient, keys: Keys) -> None:
    job = await create(client, keys.acme, {**COUNT, "target_results": 30, "max_runs": 5})

    response = await client.get(f"/v1/jobs/{job['id']}", headers=auth(keys.acme))

    assert response.status_code == 200
    assert response.headers["x-job-version"] == "1"
    assert response.json() == job
    assert (job["target_results"], job["max_runs"], job["progress"]) == (30, 5, 0.0)


async def test_min_version_beyond_the_current_one_answers_the_current_document_after_waiting(
    client: AsyncTestClient, keys: Keys
) -> None:
    job = await create(client, keys.acme)

    response = await client.get(f"/v1/jobs/{job['id']}", params={"min_version": 3}, headers=auth(keys.acme))

    assert response.status_code == 200
    assert response.json() == job


async def test_min_version_answers_as_soon_as_a_concurrent_command_reaches_it(
    client: AsyncTestClient, keys: Keys
) -> None:
    job = await create(client, keys.acme)
    path = f"/v1/jobs/{job['id']}"

    def cancel_a_moment_later(sync):
        time.sleep(0.2)
        return sync.post(f"{path}/cancel", headers=auth(keys.acme))

    waited, cancelled = await concurrently(
        client, [lambda sync: sync.get(path, params={"min_version": 2}, headers=auth(keys.acme)), cancel_a_moment_later]
    )

    assert cancelled.status_code == 200
    assert waited.status_code == 200
    assert (waited.json()["version"], waited.json()["status"]) == (2, "cancelled")


async def test_listing_filters_by_status_kind_and_creation_time(client: AsyncTestClient, keys: Keys) -> None:
    oldest, middle, newest = [await create(client, keys.acme) for _ in range(3)]
    await client.post(f"/v1/jobs/{middle['id']}/cancel", headers=auth(keys.acme))

    async def listed(**params: Any) -> list[str]:
        response = await client.get("/v1/jobs", params=params, headers=auth(keys.acme))
        assert response.status_code == 200, response.text
        return [job["id"] for job in response.json()["jobs"]]

    assert await listed() == [newest["id"], middle["id"], oldest["id"]]
    assert await listed(status="cancelled") == [middle["id"]]
    assert await listed(status="pending") == [newest["id"], oldest["id"]]
    assert await listed(kind="demo.count") == [newest["id"], middle["id"], oldest["id"]]
    assert await listed(kind="other.kind") == []
    assert await listed(created_after=middle["created_at"]) == [newest["id"]]
    assert await listed(created_before=middle["created_at"]) == [oldest["id"]]
    assert await listed(created_after=oldest["created_at"], created_before=newest["created_at"]) == [middle["id"]]


async def test_pages_of_ten_cover_twenty_five_jobs_exactly_once_newest_first(
    client: AsyncTestClient, keys: Keys
) -> None:
    created = [(await create(client, keys.acme))["id"] for _ in range(25)]

    pages = await ids_of_every_page(client, keys.acme, limit=10)

    assert [len(p) for p in pages] == [10, 10, 5]
    assert [job_id for p in pages for job_id in p] == created[::-1]


async def test_jobs_created_between_page_fetches_neither_repeat_nor_skip_older_ones(
    client: AsyncTestClient, keys: Keys
) -> None:
    created = [(await create(client, keys.acme))["id"] for _ in range(12)]
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/v1/jobs", params=params, headers=auth(keys.acme))).json()
        seen += [job["id"] for job in body["jobs"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        await create(client, keys.acme)  # newer than every row still to come

    assert seen == created[::-1]


async def test_cancelling_answers_the_cancelled_job_and_cancelling_again_changes_nothing(
    client: AsyncTestClient, keys: Keys
) -> None:
    job = await create(client, keys.acme)

    first = await client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(keys.acme))
    second = await client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(keys.acme))

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["status"] == "cancelled"
    assert first.json()["version"] == 2
    assert second.json() == first.json()


async def test_retrying_a_cancelled_job_is_a_conflict_naming_its_state(client: AsyncTestClient, keys: Keys) -> None:
    job = await create(client, keys.acme)
    await client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(keys.acme))

    response = await client.post(f"/v1/jobs/{job['id']}/retry", headers=auth(keys.acme))

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["state"] == "cancelled"
    assert "cancelled" in problem["detail"]


async def test_a_job_read_past_its_deadline_times_out_and_a_retry_requeues_it(
    client: AsyncTestClient, keys: Keys
) -> None:
    job = await create(client, keys.acme, {**COUNT, "deadline_s": 0.05})
    await asyncio.sleep(0.1)

    read = await client.get(f"/v1/jobs/{job['id']}", headers=auth(keys.acme))
    retried = await client.post(f"/v1/jobs/{job['id']}/retry", headers=auth(keys.acme))

    assert (read.json()["status"], read.json()["outcome"]) == ("timeout", "deadline_passed")
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["requeues"]) == ("pending", 1)
    assert retried.json()["version"] == 3


async def test_kinds_lists_demo_count_with_its_limits_and_params_schema(client: AsyncTestClient, keys: Keys) -> None:
    response = await client.get("/v1/kinds", headers=auth(keys.acme))

    assert response.status_code == 200
    (kind,) = [k for k in response.json() if k["name"] == "demo.count"]
    assert kind["max_runs"] == DEMO_COUNT.max_runs
    assert (kind["parallelism"], kind["rate"], kind["period_s"], kind["flow_scope"]) == (None, None, 1, "kind")
    schema = kind["params_schema"]
    assert schema["required"] == ["total"]
    assert {"total", "per_batch", "slow_ms", "fail_every", "fail_permanently_at"} <= set(schema["properties"])
