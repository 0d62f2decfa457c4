"""What the service logs: JSON lines with the request's context, never a key or a tenant's data."""

import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import structlog
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from service.app import create_app
from service.logs import renders_json
from service.settings import DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY, Settings, SettingsError
from tests.service.api.conftest import COUNT, Keys, auth, create
from tests.service.qstash.test_signatures import claims, sign

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}
DISTINCTIVE = ["8675309", "idem-wombat-5521", "quokka-value-3141", "kind.marmoset", "axolotl-7777", "narwhal-2718"]
FORGED_SECRET = "forgedSecretPelican0123456789abcdefghijklmnopq"
COOKIE = "cookie-ocelot-9090"
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every line the service wrote, each of which must be one JSON object."""
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


@pytest.fixture
async def debug_client(database_url: str, tmp_path: Path) -> AsyncIterator[AsyncTestClient]:
    """The app as `jobtrail serve` builds it with JOBTRAIL_LOG_FORMAT=json, JOBTRAIL_LOG_LEVEL=debug."""
    settings = Settings(database_url=database_url, data_dir=tmp_path, log_format="json", log_level="debug")
    async with AsyncTestClient(app=create_app(settings, deliveries=False)) as client:
        yield client


@pytest.fixture
def every_log(client: AsyncTestClient, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every logger at DEBUG and propagating to the root (caplog and the app's handler),
    set after the app configured logging, so that no library's line escapes the checks."""
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
        (await client.get(path, headers={**acme, "Cookie": f"session={COOKIE}"})).status_code,
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
    lines = json_lines(captured.err)
    assert any(GENERATED_ID.fullmatch(line.get("request_id", "")) for line in lines)
    everything = caplog.text + captured.out + captured.err
    for secret in (keys.acme, keys.acme.split("_", 2)[2], keys.acme_write, FORGED_SECRET, COOKIE, *DISTINCTIVE):
        assert secret not in everything


async def test_an_unexpected_error_is_a_bare_500_logged_by_method_and_path_only(
    client: AsyncTestClient,
    keys: Keys,
    pool: AsyncConnectionPool,
    every_log: None,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
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
    stderr = capsys.readouterr().err
    (line,) = [line for line in json_lines(stderr) if line["logger"] == "jobtrail.api"]
    assert line["level"] == "error" and "UndefinedTable" in line["exception"]
    assert (line["request_id"], line["job_id"]) == (response.headers["x-request-id"], job["id"])
    assert keys.acme not in stderr


async def test_every_line_of_a_delivery_is_json_carrying_its_request_job_message_and_kind(
    debug_client: AsyncTestClient, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    job = await create(debug_client, keys.acme, {"kind": "demo.count", "params": {"total": 40, "fail_every": 1}})
    body = msgspec.json.encode({"job_id": job["id"], "run": 1})
    signature = sign(claims(body, sub="http://127.0.0.1:8000/qstash/run"))
    capsys.readouterr()

    response = await debug_client.post(
        "/qstash/run",
        content=body,
        headers={
            "Content-Type": "application/json",
            "Upstash-Signature": signature,
            "Upstash-Message-Id": "msg_logged_1",
            "Upstash-Retried": "0",
            "X-Request-ID": "req-delivery-1",
            "Cookie": f"session={COOKIE}",
        },
    )
    stderr = capsys.readouterr().err

    assert response.status_code == 500  # fail_every=1: the handler fails, QStash retries
    assert response.headers["x-request-id"] == "req-delivery-1"
    delivery = [line for line in json_lines(stderr) if line.get("message_id") == "msg_logged_1"]
    assert {line["event"] for line in delivery} >= {"the batch failed; QStash will retry", "delivery answered"}
    for line in delivery:
        assert (line["request_id"], line["job_id"], line["kind"], line["run"]) == (
            "req-delivery-1",
            job["id"],
            "demo.count",
            1,
        )
        assert {"timestamp", "level", "logger"} <= set(line)
    (failed,) = [line for line in delivery if line["level"] == "warning"]
    assert failed["error"] == "TransientFailure"
    for secret in (signature, signature.split(".")[2], DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY, COOKIE):
        assert secret not in stderr
    assert "fails (fail_every=1)" not in stderr  # the handler's error text stays in the history


async def test_a_request_id_is_echoed_generated_when_missing_and_recorded_in_the_events(
    client: AsyncTestClient, keys: Keys
) -> None:
    given = await client.post("/v1/jobs", json=COUNT, headers={**auth(keys.acme), "X-Request-ID": "req-given-7"})
    generated = await client.post("/v1/jobs", json=COUNT, headers=auth(keys.acme))
    unprintable = await client.post("/v1/jobs", json=COUNT, headers={**auth(keys.acme), "X-Request-ID": "x" * 500})

    assert given.headers["x-request-id"] == "req-given-7"
    assert GENERATED_ID.fullmatch(generated.headers["x-request-id"])
    assert GENERATED_ID.fullmatch(unprintable.headers["x-request-id"])
    for response in (given, generated, unprintable):
        events = await client.get(f"/v1/jobs/{response.json()['id']}/events", headers=auth(keys.acme))
        (created,) = events.json()["events"]
        assert created["provenance"]["request_id"] == response.headers["x-request-id"]


async def test_a_status_read_writes_no_line_at_info(
    client: AsyncTestClient, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    job = await create(client, keys.acme)
    capsys.readouterr()

    response = await client.get(f"/v1/jobs/{job['id']}", headers=auth(keys.acme))

    assert response.status_code == 200
    assert capsys.readouterr().err == ""


async def test_the_console_format_shows_the_same_fields_as_text_and_json_is_the_default_off_a_terminal(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_app(Settings(database_url=database_url, data_dir=tmp_path, log_format="console"))
    with structlog.contextvars.bound_contextvars(request_id="req-console-3", job_id="job-9"):
        logging.getLogger("jobtrail.relay").warning("publishing run %s failed", 2)
    (line,) = capsys.readouterr().err.splitlines()

    assert "publishing run 2 failed" in line and "[jobtrail.relay]" in line
    assert "request_id=req-console-3" in line and "job_id=job-9" in line
    assert "\x1b[" not in line  # colors only on a terminal
    assert renders_json(Settings()) and not renders_json(Settings(log_format="console"))


def test_an_unknown_log_format_is_a_settings_error_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="JOBTRAIL_LOG_FORMAT"):
        Settings.from_env({"JOBTRAIL_LOG_FORMAT": "xml"})
