"""Who may do what: bearer keys, scopes, and tenants that cannot see each other's jobs."""

import uuid

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from service.auth.keys import revoke_key
from tests.service.api.conftest import COUNT, Keys, auth, create
from tests.service.key_ids import key_id_of

pytestmark = pytest.mark.anyio

PUBLIC = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/schema",
    "/schema/openapi.json",
    "/schema/scalar",
    "/schema/swagger",
    "/schema/redoc",
    "/schema/oauth2-redirect.html",
    "/schema/{path:str}",
    "/swagger-ui/{file_path:path}",
}
# The dashboard's pages sign in by cookie (tests/service/dashboard checks they need it).
DASHBOARD = {
    "/",
    "/login",
    "/logout",
    "/jobs",
    "/jobs/rows",
    "/jobs/{job_id:uuid}",
    "/jobs/{job_id:uuid}/live",
    "/jobs/{job_id:uuid}/cancel",
    "/jobs/{job_id:uuid}/retry",
    "/jobs/{job_id:uuid}/export",
    "/overview",
    "/schedules",
    "/schedules/rows",
    "/schedules/{schedule_id:uuid}",
    "/schedules/{schedule_id:uuid}/jobs",
    "/schedules/{schedule_id:uuid}/pause",
    "/schedules/{schedule_id:uuid}/resume",
    "/static/{file_path:path}",
}
TENANTS_JOBS = 100


def unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_request_without_a_key_is_a_401_with_www_authenticate(client: AsyncTestClient) -> None:
    unauthorized(await client.get("/v1/jobs"))
    unauthorized(await client.get("/v1/jobs", headers={"Authorization": "Basic YWNtZTpwdw=="}))
    unauthorized(await client.get("/v1/jobs", headers={"Authorization": "Bearer "}))


async def test_an_unknown_key_is_a_401(client: AsyncTestClient, keys: Keys) -> None:
    forged = f"jt_{key_id_of(keys.acme)}_{'A' * 43}"

    unauthorized(await client.get("/v1/jobs", headers=auth(forged)))
    unauthorized(await client.get("/v1/jobs", headers=auth("not-even-shaped-like-a-key")))


async def test_a_revoked_key_is_a_401(client: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool) -> None:
    assert (await client.get("/v1/jobs", headers=auth(keys.acme))).status_code == 200
    async with pool.connection() as conn:
        assert await revoke_key(conn, key_id_of(keys.acme))

    unauthorized(await client.get("/v1/jobs", headers=auth(keys.acme)))


async def test_a_key_without_jobs_write_may_not_create_cancel_or_retry(client: AsyncTestClient, keys: Keys) -> None:
    job = await create(client, keys.acme)

    responses = [
        await client.post("/v1/jobs", json=COUNT, headers=auth(keys.acme_read)),
        await client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(keys.acme_read)),
        await client.post(f"/v1/jobs/{job['id']}/retry", headers=auth(keys.acme_read)),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403]
    assert all("jobs:write" in r.json()["detail"] for r in responses)


async def test_a_key_without_jobs_read_may_not_get_list_or_read_histories(client: AsyncTestClient, keys: Keys) -> None:
    job = await create(client, keys.acme_write)
    paths = [f"/v1/jobs/{job['id']}", "/v1/jobs", *(f"/v1/jobs/{job['id']}/{a}" for a in ("events", "state", "export"))]

    responses = [await client.get(path, headers=auth(keys.acme_write)) for path in paths]

    assert [r.status_code for r in responses] == [403] * len(paths)
    assert all("jobs:read" in r.json()["detail"] for r in responses)


async def test_another_tenants_jobs_answer_exactly_as_missing_ones_on_every_route(
    client: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    acme_jobs = [(await create(client, keys.acme))["id"] for _ in range(TENANTS_JOBS)]
    requests = [
        ("GET", ""),
        ("GET", "/events"),
        ("GET", "/state"),
        ("GET", "/export"),
        ("POST", "/cancel"),
        ("POST", "/retry"),
    ]

    def without_instance(response: httpx.Response, path: str) -> dict:
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body.pop("instance") == path
        return body

    missing = {
        (method, suffix): without_instance(
            await client.request(method, path := f"/v1/jobs/{uuid.uuid4()}{suffix}", headers=auth(keys.globex)), path
        )
        for method, suffix in requests
    }
    for job_id in acme_jobs:
        for method, suffix in requests:
            path = f"/v1/jobs/{job_id}{suffix}"
            response = await client.request(method, path, headers=auth(keys.globex))
            assert without_instance(response, path) == missing[(method, suffix)]

    listed = await client.get("/v1/jobs", headers=auth(keys.globex))
    assert listed.json() == {"jobs": [], "next_cursor": None, "archived": 0}
    async with pool.connection() as conn:
        statuses = await (await conn.execute("SELECT status, count(*) FROM job_status GROUP BY status")).fetchall()
    assert statuses == [("pending", TENANTS_JOBS)]


async def test_an_audit_key_reads_any_tenants_history_state_and_export(client: AsyncTestClient, keys: Keys) -> None:
    job = await create(client, keys.acme)

    events = await client.get(f"/v1/jobs/{job['id']}/events", headers=auth(keys.auditor))
    state = await client.get(f"/v1/jobs/{job['id']}/state", headers=auth(keys.auditor))
    export = await client.get(f"/v1/jobs/{job['id']}/export", headers=auth(keys.auditor))

    assert (events.status_code, state.status_code, export.status_code) == (200, 200, 200)
    assert [e["type"] for e in events.json()["events"]] == ["JobCreated"]
    assert state.json()["state"]["owner"] == "acme"
    assert export.text.count("\n") == 2


async def test_an_audit_key_may_not_operate_on_another_tenants_job(client: AsyncTestClient, keys: Keys) -> None:
    job = await create(client, keys.acme)

    cancel = await client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(keys.auditor))

    assert cancel.status_code == 403
    assert (await client.get(f"/v1/jobs/{job['id']}", headers=auth(keys.acme))).json()["status"] == "pending"


async def test_every_route_but_the_public_ones_needs_a_key(app: Litestar, client: AsyncTestClient) -> None:
    checked = []
    for route in app.routes:
        assert isinstance(route, HTTPRoute), route
        if route.path in PUBLIC or route.path in DASHBOARD:
            continue
        path = route.path_format.format(**{name: uuid.uuid4() for name in route.path_parameters})
        for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
            body = COUNT if method in ("POST", "PUT", "PATCH") else None
            response = await client.request(method, path, json=body)
            assert response.status_code == 401, (method, route.path, response.text)
            checked.append((method, route.path))

    assert len(checked) >= 9  # create, list, read, cancel, retry, events, state, export, kinds


async def test_the_public_routes_answer_without_a_key(client: AsyncTestClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/schema/openapi.json"):
        assert (await client.get(path)).status_code == 200, path
