"""With QStash unreachable the service starts all the same: ready, reading and accepting jobs
(their runs wait in the outbox), and /readyz and the verdict say the broker is down."""

import socket
from pathlib import Path

import anyio
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from service.app import create_app
from service.settings import DEV_QSTASH_TOKEN, Settings
from tests.service.api.conftest import Keys, auth, create

pytestmark = pytest.mark.anyio


def closed_port() -> int:
    """A loopback port nothing listens on: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Litestar:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        qstash_token=DEV_QSTASH_TOKEN,
        qstash_url=f"http://127.0.0.1:{closed_port()}",
    )
    return create_app(settings)


async def readiness_once_checked(client: AsyncTestClient) -> dict:
    with anyio.fail_after(10):
        while (ready := (await client.get("/readyz")).json())["broker"]["state"] == "unknown":
            await anyio.sleep(0.02)
    return ready


async def test_the_service_starts_reads_and_accepts_jobs_while_qstash_does_not_answer(
    client: AsyncTestClient, keys: Keys, pool: AsyncConnectionPool
) -> None:
    ready = await readiness_once_checked(client)
    job = await create(client, keys.acme)
    read = await client.get(f"/v1/jobs/{job['id']}", headers=auth(keys.acme))
    stats = (await client.get("/v1/stats", headers=auth(keys.acme))).json()
    async with pool.connection() as conn:
        unsent = await (await conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL")).fetchone()
    assert ready["status"] == "ready"
    assert (ready["broker"]["state"], ready["broker"]["error"]) == ("down", "ConnectError")
    assert read.status_code == 200 and read.json()["status"] == "pending"
    assert unsent == (1,)  # the run waits in the outbox
    assert stats["verdict"] == "degraded" and stats["broker"]["state"] == "down"
    assert any(reason.startswith("broker down") for reason in stats["reasons"])
