"""The scheduled sweep archives a bounded batch of expired jobs when a retention period is set."""

from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from service.app import create_app
from service.settings import Settings
from service.store import tombstones
from tests.service.archive.jobs import cancelled_job
from tests.service.qstash.conftest import PUBLIC_URL
from tests.service.qstash.test_observers import signed_post

pytestmark = pytest.mark.anyio


async def test_a_sweep_archives_expired_jobs_into_the_archive_directory_and_reports_them(
    database_url: str, pool: AsyncConnectionPool, tmp_path
) -> None:
    old = await cancelled_job(pool, at=datetime.now(UTC) - timedelta(days=3))
    recent = await cancelled_job(pool, at=datetime.now(UTC))
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        public_url=PUBLIC_URL,
        retain_s=86400.0,
        archive_dir=tmp_path / "a",
    )
    async with AsyncTestClient(app=create_app(settings, deliveries=False)) as client:
        swept = (await signed_post(client, "/qstash/sweep", b"", "msg_sweep")).json()

    assert swept["archived"]["jobs"] == 1 and swept["archived"]["skipped"] == 0
    async with pool.connection() as conn:
        stone = await tombstones.latest(conn, old)
        assert stone is not None and await tombstones.latest(conn, recent) is None
    assert (tmp_path / "a" / stone.archive_name).is_file()
