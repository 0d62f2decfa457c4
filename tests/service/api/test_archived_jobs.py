"""Archived jobs over HTTP: 410 Gone with the tombstone to whoever could see the job, 404 to
anyone else; the export served from the archive store, byte for byte, once its hash matches."""

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from domain.kinds import KindConfig, create_job
from projections.export import verify_export
from projections.log import Metadata
from service.archive.store import DirectoryStore
from service.auth.keys import Scope, create_key
from service.jobs.command_handler import handle
from service.store.tombstones import Tombstone
from tests.archiving import archive
from tests.service.api.conftest import COUNT, Keys, auth, create
from tests.service.health.stats_scenario import project

pytestmark = pytest.mark.anyio

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def store(tmp_path: Path) -> DirectoryStore:
    """The app's own store: the `app` fixture's data directory, its default archive root."""
    return DirectoryStore(tmp_path / "archive")


async def archived_job(client: AsyncTestClient, pool, store: DirectoryStore, key: str) -> Tombstone:
    job = await create(client, key)
    assert (await client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(key))).status_code == 200
    return await archive(pool, store, uuid.UUID(job["id"]))


def assert_gone(response, stone: Tombstone) -> dict[str, Any]:
    assert response.status_code == 410, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    problem = response.json()
    assert problem["status"] == 410
    assert str(stone.stream_id) in problem["detail"]
    return problem["tombstone"]


def assert_no_such_job(response) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == "no such job"
    assert "tombstone" not in response.json()


async def test_its_owner_reads_410_with_the_whole_tombstone(client, pool, store, keys: Keys):
    stone = await archived_job(client, pool, store, keys.acme)

    tombstone = assert_gone(await client.get(f"/v1/jobs/{stone.stream_id}", headers=auth(keys.acme_read)), stone)

    assert tombstone == {
        "job_id": str(stone.stream_id),
        "owner": "acme",
        "kind": "demo.count",
        "status": "cancelled",
        "events": 2,
        "first_position": stone.first_position,
        "last_position": stone.last_position,
        "chain_head": stone.chain_head.hex(),
        "archive_name": stone.archive_name,
        "archive_sha256": stone.archive_sha256.hex(),
        "finished_at": tombstone["finished_at"],
        "archived_at": tombstone["archived_at"],
    }
    assert stone.finished_at is not None and stone.archived_at is not None
    assert datetime.fromisoformat(tombstone["finished_at"]) == stone.finished_at
    assert datetime.fromisoformat(tombstone["archived_at"]) == stone.archived_at


async def test_another_owner_is_told_what_a_job_that_never_existed_looks_like(client, pool, store, keys: Keys):
    stone = await archived_job(client, pool, store, keys.acme)
    paths = ["", "/events", "/state?version=1", "/results", "/export", "/watch"]

    for path in paths:
        archived = await client.get(f"/v1/jobs/{stone.stream_id}{path}", headers=auth(keys.globex))
        never = await client.get(f"/v1/jobs/{uuid.uuid4()}{path}", headers=auth(keys.globex))
        assert_no_such_job(archived)
        assert archived.json()["detail"] == never.json()["detail"], path
    for command in ("cancel", "retry"):
        assert_no_such_job(await client.post(f"/v1/jobs/{stone.stream_id}/{command}", headers=auth(keys.globex)))


async def test_every_route_that_reads_the_live_job_answers_410_to_its_owner_and_to_an_auditor(
    client, pool, store, keys: Keys
):
    stone = await archived_job(client, pool, store, keys.acme)
    paths = ["", "/events", "/state?version=1", "/state?at=2020-01-01T00:00:00Z", "/results", "/watch"]

    for key in (keys.acme, keys.auditor):
        for path in paths:
            response = await client.get(f"/v1/jobs/{stone.stream_id}{path}", headers=auth(key))
            assert assert_gone(response, stone)["job_id"] == str(stone.stream_id), path


async def test_a_command_on_an_archived_job_is_410_to_its_owner_and_404_to_an_auditor_who_does_not_operate(
    client, pool, store, keys: Keys
):
    stone = await archived_job(client, pool, store, keys.acme)
    async with pool.connection() as conn:
        operating_auditor = await create_key(conn, "audit", (Scope.AUDIT_READ, Scope.JOBS_WRITE))

    for command in ("cancel", "retry"):
        path = f"/v1/jobs/{stone.stream_id}/{command}"
        assert_gone(await client.post(path, headers=auth(keys.acme_write)), stone)
        assert_no_such_job(await client.post(path, headers=auth(operating_auditor)))
    async with pool.connection() as conn:
        assert (await (await conn.execute("SELECT count(*) FROM events")).fetchone())[0] == 0


async def test_the_idempotency_key_of_an_archived_job_never_makes_it_again(client, pool, store, keys: Keys):
    headers = {**auth(keys.acme), "Idempotency-Key": "nightly-2026-01-01"}
    first = await client.post("/v1/jobs", json=COUNT, headers=headers)
    await client.post(f"/v1/jobs/{first.json()['id']}/cancel", headers=auth(keys.acme))
    stone = await archive(pool, store, uuid.UUID(first.json()["id"]))

    again = await client.post("/v1/jobs", json=COUNT, headers=headers)

    assert first.status_code == 201
    assert_gone(again, stone)
    async with pool.connection() as conn:
        assert (await (await conn.execute("SELECT count(*) FROM events")).fetchone())[0] == 0


async def test_a_job_with_events_again_after_its_archive_is_served_as_any_other(client, pool, store, keys: Keys):
    stone = await archived_job(client, pool, store, keys.acme)
    command = create_job("demo.count", KindConfig(), owner="acme", at=datetime.now(UTC))
    await handle(pool, stone.stream_id, command, Metadata(actor="restore"))

    response = await client.get(f"/v1/jobs/{stone.stream_id}", headers=auth(keys.acme))

    assert response.status_code == 200
    assert response.json()["status"] == "pending"


async def test_the_export_of_an_archived_job_is_its_archive_file_byte_for_byte(client, pool, store, keys: Keys):
    job = await create(client, keys.acme)
    await client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(keys.acme))
    live_export = await client.get(f"/v1/jobs/{job['id']}/export", headers=auth(keys.acme))
    stone = await archive(pool, store, uuid.UUID(job["id"]))
    stored = store.path_of(stone.archive_name).read_bytes()

    for key in (keys.acme, keys.auditor):
        response = await client.get(f"/v1/jobs/{stone.stream_id}/export", headers=auth(key))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        assert response.content == stored == live_export.content
    report = verify_export(response.content.splitlines(keepends=True))
    assert (report.ok, report.events, report.head) == (True, 2, stone.chain_head.hex())


async def test_an_archive_file_that_does_not_match_its_tombstone_is_refused_never_served(
    client, pool, store, keys: Keys
):
    stone = await archived_job(client, pool, store, keys.acme)
    path = store.path_of(stone.archive_name)
    altered = path.read_bytes().replace(b"cancelled by owner", b"completed by owner")
    path.write_bytes(altered)

    response = await client.get(f"/v1/jobs/{stone.stream_id}/export", headers=auth(keys.acme))

    assert response.status_code == 500
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    detail = response.json()["detail"]
    assert stone.archive_name in detail and "does not match its tombstone" in detail
    assert hashlib.sha256(altered).hexdigest() in detail and stone.archive_sha256.hex() in detail
    assert b"owner" not in response.content.replace(b"tombstone", b"")


async def test_an_archive_file_the_store_no_longer_has_is_410_with_the_tombstone(client, pool, store, keys: Keys):
    stone = await archived_job(client, pool, store, keys.acme)
    store.path_of(stone.archive_name).unlink()

    response = await client.get(f"/v1/jobs/{stone.stream_id}/export", headers=auth(keys.acme))

    assert assert_gone(response, stone)["archive_sha256"] == stone.archive_sha256.hex()


async def test_the_job_list_counts_the_archived_jobs_of_its_caller_on_its_first_page(client, pool, store, keys):
    for _ in range(2):
        await archived_job(client, pool, store, keys.acme)
    await archived_job(client, pool, store, keys.globex)
    await create(client, keys.acme)
    await create(client, keys.acme)

    first = (await client.get("/v1/jobs", params={"limit": 1}, headers=auth(keys.acme))).json()
    second = (
        await client.get("/v1/jobs", params={"limit": 1, "cursor": first["next_cursor"]}, headers=auth(keys.acme))
    ).json()
    every_owner = (await client.get("/v1/jobs", headers=auth(keys.auditor))).json()
    globex = (await client.get("/v1/jobs", params={"status": "pending"}, headers=auth(keys.globex))).json()

    assert (len(first["jobs"]), first["archived"]) == (1, 2)
    assert (len(second["jobs"]), second["archived"]) == (1, None)
    assert (len(every_owner["jobs"]), every_owner["archived"]) == (2, 3)
    assert (globex["jobs"], globex["archived"]) == ([], 1)


async def test_stats_count_the_callers_archived_jobs_metrics_every_owners_and_the_windows_no_longer_count_them(
    client, pool, store, keys: Keys
):
    seen = await create(client, keys.acme)
    await client.post(f"/v1/jobs/{seen['id']}/cancel", headers=auth(keys.acme))
    async with pool.connection() as conn:
        await project(conn)  # the stats view has its row before it is archived
    await archive(pool, store, uuid.UUID(seen["id"]))
    await archived_job(client, pool, store, keys.acme)
    await archived_job(client, pool, store, keys.globex)
    await create(client, keys.acme)
    async with pool.connection() as conn:
        await project(conn)

    acme = (await client.get("/v1/stats", headers=auth(keys.acme))).json()
    every_owner = (await client.get("/v1/stats", headers=auth(keys.auditor))).json()
    metrics = (await client.get("/metrics")).text

    assert (acme["archived"], acme["jobs"]["total"], acme["finished"]["total"]) == (2, 1, 0)
    assert (every_owner["archived"], every_owner["jobs"]["total"]) == (3, 1)
    assert "jobtrail_jobs_archived 3.0" in metrics.splitlines()
