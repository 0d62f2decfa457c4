"""Liveness and readiness: no key needed; not ready while a migration is missing or the
database refuses writes."""

import asyncio
import time

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from tests.service.api.test_database_outage import DISCONNECT

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


TABLES = "SELECT count(*) FROM pg_class WHERE relkind = 'r'"
READ_ONLY = "ALTER DATABASE {name} SET default_transaction_read_only = {value}"


def set_read_only(admin_url: str, database_url: str, value: bool) -> None:
    """New sessions of the test database refuse writes (or take them again); open ones are
    dropped, so the pool reconnects under the new default."""
    name = str(conninfo_to_dict(database_url)["dbname"])
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL(READ_ONLY).format(name=sql.Identifier(name), value=sql.SQL("on" if value else "off")))
        conn.execute(DISCONNECT, {"name": name})


async def readiness_after_reconnect(client) -> dict:
    """/readyz once the pool's dropped connections have been replaced."""
    give_up = time.monotonic() + 10
    while (ready := (await client.get("/readyz")).json()).get("reason") == "the database does not answer":
        assert time.monotonic() < give_up
        await asyncio.sleep(0.1)
    return ready


async def test_a_database_that_answers_but_refuses_writes_is_not_ready(client, admin_url, database_url):
    """What a full disk looks like from outside: reads answer, every write fails."""
    set_read_only(admin_url, database_url, True)
    try:
        refused = await readiness_after_reconnect(client)
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert (
            refused
            == response.json()
            == {"status": "unavailable", "reason": "the database refuses writes (ReadOnlySqlTransaction)"}
        )
    finally:
        set_read_only(admin_url, database_url, False)
    assert await readiness_after_reconnect(client) == {"status": "ready"}


async def test_the_write_probe_leaves_nothing_behind(client, pool):
    async with pool.connection() as conn:
        before = await (await conn.execute(TABLES)).fetchone()
    assert (await client.get("/readyz")).status_code == 200
    async with pool.connection() as conn:
        assert await (await conn.execute(TABLES)).fetchone() == before
