"""What the service logs: never a key or a tenant's data; an unexpected error by method and path."""

import logging
from collections.abc import Iterator

import pytest
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from tests.service.api.conftest import COUNT, Keys, auth, create

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}
DISTINCTIVE = ["8675309", "idem-wombat-5521", "quokka-value-3141", "kind.marmoset", "axolotl-7777", "narwhal-2718"]
FORGED_SECRET = "forgedSecretPelican0123456789abcdefghijklmnopq"


@pytest.fixture
def every_log(client: AsyncTestClient, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every logger at DEBUG and propagating to caplog, set after the app configured logging.

    caplog is where log records are checked: the app's own console handler writes from a
    queue thread to the stderr of the moment it was built, which capsys cannot promise.
    """
    caplog.set_level(logging.DEBUG)
    loggers = [logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger)]
    saved = [(logger, logger.level, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    yield
    for logger, level, propagate in saved:
        logger.setLevel(level)
        logger.propagate = propagate


async def test_keys_and_request_bodies_never_reach_the_logs_or_the_output(
    client: AsyncTestClient,
    keys: Keys,
    every_log: None,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    acme = auth(keys.acme)
    body = {"kind": "demo.count", "params": {"total": 8675309}}
    job = await create(client, keys.acme, body, **{"Idempotency-Key": "idem-wombat-5521"})
    path = f"/v1/jobs/{job['id']}"
    statuses = [
        (await client.post("/v1/jobs", json=body, headers={**acme, "Idempotency-Key": "idem-wombat-5521"})).status_code,
        (await client.get(path, headers=acme)).status_code,
        (await client.get("/v1/jobs", headers=acme)).status_code,
        (await client.get(f"{path}/events", headers=acme)).status_code,
        (await client.get(f"{path}/export", headers=acme)).status_code,
        (await client.post(f"{path}/cancel", headers=acme)).status_code,
        (await client.post(f"{path}/retry", headers=acme)).status_code,
        (await client.post("/v1/jobs", json={**COUNT, "zanzibar": "quokka-value-3141"}, headers=acme)).status_code,
        (await client.post("/v1/jobs", json={"kind": "kind.marmoset"}, headers=acme)).status_code,
        (await client.post("/v1/jobs", content=b'{"kind": "axolotl-7777"', headers={**acme, **JSON})).status_code,
        (await client.post("/v1/jobs", json={**COUNT, "params": {"total": "narwhal-2718"}}, headers=acme)).status_code,
        (await client.get("/v1/jobs", headers=auth(f"jt_{'0' * 12}_{FORGED_SECRET}"))).status_code,
        (await client.get(path, headers=auth(keys.acme_write))).status_code,
    ]
    captured = capsys.readouterr()

    assert statuses == [200, 200, 200, 200, 200, 200, 409, 400, 422, 400, 422, 401, 403]
    assert "HTTP Request" in caplog.text  # the capture saw the requests go by
    everything = caplog.text + captured.out + captured.err
    for secret in (keys.acme, keys.acme.split("_", 2)[2], keys.acme_write, FORGED_SECRET, *DISTINCTIVE):
        assert secret not in everything


async def test_an_unexpected_error_is_a_bare_500_logged_by_method_and_path_only(
    client: AsyncTestClient,
    keys: Keys,
    pool: AsyncConnectionPool,
    every_log: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = await create(client, keys.acme)
    async with pool.connection() as conn:
        await conn.execute("ALTER TABLE job_status RENAME TO job_status_elsewhere")
    caplog.clear()

    response = await client.get(f"/v1/jobs/{job['id']}", headers=auth(keys.acme))

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) == {"title", "status", "detail", "instance"}
    assert body["detail"] == "an unexpected error occurred; it has been logged"
    for internal in ("job_status", "psycopg", "relation", "SELECT", "Traceback", "UndefinedTable"):
        assert internal not in response.text
    (logged,) = [r for r in caplog.records if r.name == "jobtrail.api"]
    assert logged.levelno == logging.ERROR
    assert logged.getMessage() == f"unhandled error on GET /v1/jobs/{job['id']}"
    assert keys.acme not in caplog.text
