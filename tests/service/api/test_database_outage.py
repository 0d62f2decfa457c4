"""While PostgreSQL refuses connections, requests answer 503 with Retry-After, quickly,
with one log line for the whole outage; when it is back, the service is too."""

import asyncio
import json
import time
from pathlib import Path

import psycopg
import pytest
from litestar.testing import AsyncTestClient
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from service.app import create_app
from service.settings import Settings
from tests.service.api.conftest import Keys, auth, create

pytestmark = pytest.mark.anyio

REFUSE = "ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}"
DISCONNECT = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %(name)s AND pid <> pg_backend_pid()"
)


def set_outage(admin_url: str, database_url: str, *, down: bool) -> None:
    """Refuse new connections to the test database and drop its open ones (or allow them again)."""
    name = str(conninfo_to_dict(database_url)["dbname"])
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL(REFUSE).format(name=sql.Identifier(name), allow=sql.SQL("false" if down else "true")))
        if down:
            conn.execute(DISCONNECT, {"name": name})


async def test_an_outage_answers_503_with_retry_after_logs_once_and_heals_itself(
    admin_url: str, database_url: str, tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path, database_wait_s=0.5)
    async with AsyncTestClient(app=create_app(settings, deliveries=False)) as client:
        job = await create(client, keys.acme)
        capsys.readouterr()
        set_outage(admin_url, database_url, down=True)
        try:
            answers = [await client.get(f"/v1/jobs/{job['id']}", headers=auth(keys.acme)) for _ in range(5)]
            logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
            assert {response.status_code for response in answers} == {503}
            assert all(response.headers["retry-after"] == "5" for response in answers)
            assert answers[-1].headers["content-type"].startswith("application/problem+json")
            assert answers[-1].json()["detail"] == "the database is unavailable; retry shortly"
            told = [line["event"] for line in logged if line["level"] in ("warning", "error")]
            assert len(told) == 1 and told[0].startswith("the database is unavailable ("), told
            assert not any("exception" in line for line in logged)
        finally:
            set_outage(admin_url, database_url, down=False)
        give_up = time.monotonic() + 30  # the pool reconnects with a backoff of its own
        while (response := await client.get(f"/v1/jobs/{job['id']}", headers=auth(keys.acme))).status_code != 200:
            assert time.monotonic() < give_up, response.text
            await asyncio.sleep(0.2)
        assert response.json()["id"] == job["id"]
