"""Every refusal is an RFC 9457 problem that says what was wrong, and changes nothing."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from tests.service.api.conftest import COUNT, Keys, auth, create

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}
TABLES = ("events", "job_status", "outbox", "inbox")


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


async def post_job(client: AsyncTestClient, key: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/v1/jobs", json=body, headers=auth(key))


async def test_malformed_json_is_a_400(client: AsyncTestClient, keys: Keys) -> None:
    response = await client.post("/v1/jobs", content=b'{"kind": "demo.count",', headers={**auth(keys.acme), **JSON})

    assert "not valid JSON" in problem(response, 400)["detail"]


async def test_an_unknown_field_is_a_400_naming_it(client: AsyncTestClient, keys: Keys) -> None:
    response = await post_job(client, keys.acme, {**COUNT, "colour": "blue"})

    assert "colour" in problem(response, 400)["detail"]


async def test_a_wrongly_typed_target_results_is_refused_naming_the_field(client: AsyncTestClient, keys: Keys) -> None:
    response = await post_job(client, keys.acme, {**COUNT, "target_results": "many"})

    assert response.status_code in (400, 422)
    assert "target_results" in problem(response, response.status_code)["detail"]


async def test_an_unknown_kind_is_a_422_listing_the_known_kinds(client: AsyncTestClient, keys: Keys) -> None:
    response = await post_job(client, keys.acme, {"kind": "no.such.kind", "params": {}})

    body = problem(response, 422)
    assert "no.such.kind" in body["detail"]
    assert "demo.count" in body["known_kinds"]


async def test_invalid_params_are_a_422_naming_the_param(client: AsyncTestClient, keys: Keys) -> None:
    response = await post_job(client, keys.acme, {"kind": "demo.count", "params": {"total": -1}})

    assert "params.total" in problem(response, 422)["detail"]


async def test_max_runs_above_the_kinds_limit_is_a_422(client: AsyncTestClient, keys: Keys) -> None:
    response = await post_job(client, keys.acme, {**COUNT, "max_runs": 1_000_000})

    assert "max_runs" in problem(response, 422)["detail"]


async def test_a_body_over_one_mebibyte_is_a_413(client: AsyncTestClient, keys: Keys) -> None:
    body = b'{"kind": "demo.count", "params": {"total": 1, "pad": "' + b"x" * (1024 * 1024) + b'"}}'

    response = await client.post("/v1/jobs", content=body, headers={**auth(keys.acme), **JSON})

    problem(response, 413)


async def test_a_text_plain_body_is_a_415(client: AsyncTestClient, keys: Keys) -> None:
    response = await client.post(
        "/v1/jobs", content=b"kind=demo.count", headers={**auth(keys.acme), "content-type": "text/plain"}
    )

    assert "text/plain" in problem(response, 415)["detail"]


@pytest.mark.parametrize("cursor", ["garbage", "!!!", "WzEsMl0"])
async def test_a_cursor_this_service_did_not_issue_is_a_400(client: AsyncTestClient, keys: Keys, cursor: str) -> None:
    response = await client.get("/v1/jobs", params={"cursor": cursor}, headers=auth(keys.acme))

    assert "cursor" in problem(response, 400)["detail"]


async def test_an_unknown_status_filter_is_a_400(client: AsyncTestClient, keys: Keys) -> None:
    response = await client.get("/v1/jobs", params={"status": "sleeping"}, headers=auth(keys.acme))

    assert "status" in problem(response, 400)["detail"]


async def counts(pool: AsyncConnectionPool) -> dict[str, int]:
    async with pool.connection() as conn:
        return {t: (await (await conn.execute(f"SELECT count(*) FROM {t}")).fetchone())[0] for t in TABLES}


async def test_rejected_requests_change_nothing(client: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool) -> None:
    job = await create(client, keys.acme)
    await client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(keys.acme))
    before = await counts(pool)
    assert before["events"] == 2

    acme = auth(keys.acme)
    bad: list[Callable[[], Awaitable[httpx.Response]]] = [
        lambda: client.post("/v1/jobs", content=b"{", headers={**acme, **JSON}),
        lambda: client.post("/v1/jobs", content=b"x", headers={**acme, "content-type": "text/plain"}),
        lambda: post_job(client, keys.acme, {**COUNT, "colour": "blue"}),
        lambda: post_job(client, keys.acme, {**COUNT, "target_results": "many"}),
        lambda: post_job(client, keys.acme, {**COUNT, "target_results": 0}),
        lambda: post_job(client, keys.acme, {**COUNT, "deadline_s": -1}),
        lambda: post_job(client, keys.acme, {"kind": "no.such.kind"}),
        lambda: post_job(client, keys.acme, {"kind": "demo.count", "params": {"total": -1}}),
        lambda: post_job(client, keys.acme, {"kind": "demo.count", "params": {"total": 1, "extra": 1}}),
        lambda: post_job(client, keys.acme, {**COUNT, "max_runs": 1_000_000}),
        lambda: post_job(client, keys.acme_read, COUNT),
        lambda: post_job(client, "jt_000000000000_not-a-key", COUNT),
        lambda: client.post(f"/v1/jobs/{job['id']}/retry", headers=acme),
        lambda: client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(keys.globex)),
        lambda: client.get("/v1/jobs", params={"cursor": "garbage"}, headers=acme),
    ]
    statuses = [(await request()).status_code for request in bad]

    assert all(400 <= s < 500 for s in statuses), statuses
    assert await counts(pool) == before


async def test_a_kind_filter_holding_a_nul_is_a_400_not_a_database_error(client: AsyncTestClient, keys: Keys) -> None:
    response = await client.get("/v1/jobs", params={"kind": "demo\x00count"}, headers=auth(keys.acme))

    body = problem(response, 400)
    assert "kind" in body["detail"]


@pytest.mark.parametrize(
    ("path", "query", "unknown"),
    [
        ("/v1/jobs", "owner=acme&status=pending", "`owner`"),
        ("/v1/jobs", "stauts=error&kind=x&colour=1", "`colour`, `stauts`"),
        ("/v1/kinds", "verbose", "`verbose`"),
        ("/v1/stats", "window_s=60&x=1", "`x`"),
    ],
)
async def test_an_unknown_query_parameter_is_a_400_naming_it_and_what_the_route_takes(
    client: AsyncTestClient, keys: Keys, path: str, query: str, unknown: str
) -> None:
    response = await client.get(f"{path}?{query}", headers=auth(keys.acme))

    detail = problem(response, 400)["detail"]
    assert f" {unknown} on this route: it takes " in detail


async def test_declared_query_parameters_are_taken_on_reads_and_writes(client: AsyncTestClient, keys: Keys) -> None:
    job = await create(client, keys.acme)

    listed = await client.get("/v1/jobs?status=pending&kind=demo.count&limit=5", headers=auth(keys.acme))
    at_one = await client.get(f"/v1/jobs/{job['id']}/state?version=1", headers=auth(keys.acme))
    cancelled = await client.post(f"/v1/jobs/{job['id']}/cancel?force=1", headers=auth(keys.acme))

    assert (listed.status_code, at_one.status_code) == (200, 200)
    assert "`force` on this route: it takes none" in problem(cancelled, 400)["detail"]
