"""Idempotency-Key: one job per owner and key, however many times and however concurrently."""

from collections import Counter

import pytest
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from tests.service.api.conftest import COUNT, Keys, auth, concurrently

pytestmark = pytest.mark.anyio

RACERS = 20


async def job_created_events(pool: AsyncConnectionPool) -> int:
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT count(*) FROM events WHERE type = 'JobCreated'")).fetchone()
    return row[0]


async def test_concurrent_identical_posts_with_one_key_create_exactly_one_job(
    client: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    headers = {**auth(keys.acme), "Idempotency-Key": "order-1001"}

    responses = await concurrently(client, [lambda sync: sync.post("/v1/jobs", json=COUNT, headers=headers)] * RACERS)

    assert Counter(r.status_code for r in responses) == {201: 1, 200: RACERS - 1}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await job_created_events(pool) == 1


async def test_repeating_a_post_with_its_key_answers_the_same_job_with_200(client: AsyncTestClient, keys: Keys) -> None:
    headers = {**auth(keys.acme), "Idempotency-Key": "order-1002"}

    first = await client.post("/v1/jobs", json=COUNT, headers=headers)
    again = await client.post("/v1/jobs", json=COUNT, headers=headers)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()


async def test_the_same_key_with_a_different_body_is_a_409(
    client: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    headers = {**auth(keys.acme), "Idempotency-Key": "order-1003"}
    await client.post("/v1/jobs", json=COUNT, headers=headers)

    response = await client.post("/v1/jobs", json={**COUNT, "params": {"total": 41}}, headers=headers)

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in response.json()["detail"]
    assert await job_created_events(pool) == 1


async def test_the_same_key_from_another_owner_creates_a_separate_job(
    client: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    acme = await client.post("/v1/jobs", json=COUNT, headers={**auth(keys.acme), "Idempotency-Key": "order-1004"})
    globex = await client.post("/v1/jobs", json=COUNT, headers={**auth(keys.globex), "Idempotency-Key": "order-1004"})

    assert (acme.status_code, globex.status_code) == (201, 201)
    assert acme.json()["id"] != globex.json()["id"]
    assert (acme.json()["owner"], globex.json()["owner"]) == ("acme", "globex")
    assert await job_created_events(pool) == 2
