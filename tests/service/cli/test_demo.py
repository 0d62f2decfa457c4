"""`jobtrail demo` drives its jobs itself: it refuses a database a running service uses."""

import asyncio
import time

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import Settings
from service.store.serving import SERVICE_APPLICATION_NAME, service_sessions
from tests.service.cli.run import run

DEADLINE_S = 60.0
JOBS = "SELECT count(*) FROM events"


def count(database_url: str, query: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query).fetchone()[0]


def test_the_demo_refuses_a_database_a_service_uses_and_writes_nothing(cli_database, capsys):
    with psycopg.connect(cli_database, application_name=SERVICE_APPLICATION_NAME):
        code, out, err = run(capsys, "demo", "--jobs", "2")
    assert (code, out) == (1, "")
    assert "a jobtrail service is using this database" in err and "DATABASE_URL" in err
    assert count(cli_database, JOBS) == 0


def test_other_sessions_on_the_database_do_not_stop_the_demo(cli_database, capsys):
    with psycopg.connect(cli_database, application_name="a jobtrail service's neighbour"):
        code, out, _ = run(capsys, "demo", "--jobs", "2")
    assert code == 0 and "source exhausted" in out
    assert count(cli_database, "SELECT count(DISTINCT stream_id) FROM events") == 2


async def sessions_become(database_url: str, wanted) -> int:
    """The service's sessions once `wanted(count)` holds (its pool and feed connect in the background)."""
    deadline = time.monotonic() + DEADLINE_S
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        while not wanted(found := await service_sessions(conn)) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    return found


@pytest.mark.anyio
async def test_a_running_service_names_its_sessions_and_they_go_with_it(database_url, tmp_path):
    settings = Settings(database_url=database_url, data_dir=tmp_path)
    async with AsyncTestClient(app=create_app(settings, deliveries=False)):
        assert await sessions_become(database_url, lambda n: n >= 2) >= 2  # its pool and its feed
    assert await sessions_become(database_url, lambda n: n == 0) == 0
