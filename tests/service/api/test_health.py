"""Liveness and readiness: no key needed; not ready while a migration is missing."""

import pytest

pytestmark = pytest.mark.anyio


async def test_a_live_process_with_a_current_database_is_healthy_and_ready(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


async def test_readiness_fails_while_a_migration_is_pending(client, pool):
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)")
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert "pending" in response.json()["reason"]
    assert (await client.get("/healthz")).status_code == 200  # alive all the same
