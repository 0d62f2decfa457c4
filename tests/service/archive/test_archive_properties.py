"""Generated histories: an archive verifies offline to the live chain, and a restore gives
back the same chain and the same status row."""

from pathlib import Path
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace
from psycopg_pool import AsyncConnectionPool

from domain.commands import Cancel, RecordBatch, StartRun
from domain.errors import DomainError
from domain.kinds import KindConfig, create_job
from projections.export import verify_export
from projections.log import Metadata, read_stream
from service.archive.archiver import archive_job, export_bytes
from service.archive.restore import restore_job
from service.archive.store import DirectoryStore
from service.jobs.command_handler import handle
from service.store.job_status import load
from tests.projections.test_rebuild import CONFIGS, STEPS, STORABLE, T0, at
from tests.service.archive.jobs import count, expired_row, status_row

pytestmark = pytest.mark.anyio

OWNERS = st.text(STORABLE, max_size=12)
ACTORS = st.builds(Metadata, actor=st.text(STORABLE, max_size=8), request_id=st.none() | st.text(STORABLE, max_size=8))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=CONFIGS, owner=OWNERS, actor=ACTORS, steps=STEPS)
async def test_archive_verifies_offline_to_the_live_chain_and_restore_gives_back_chain_and_status(
    pool: AsyncConnectionPool, tmp_path: Path, config: KindConfig, owner: str, actor: Metadata, steps: list
) -> None:
    stream_id, clock = uuid4(), 0
    await handle(pool, stream_id, create_job("crawl", config, owner=owner, at=T0), actor)
    for command, minutes, _ in steps:
        clock += minutes
        timed = replace(command, at=at(clock))
        if hasattr(timed, "run"):
            async with pool.connection() as conn:
                timed = replace(timed, run=(await load(conn, stream_id)).next_run)
        try:
            if isinstance(timed, RecordBatch):
                await handle(pool, stream_id, StartRun(at=timed.at, run=timed.run), actor)
            await handle(pool, stream_id, timed, actor)
        except DomainError:
            continue
    async with pool.connection() as conn:
        if (await load(conn, stream_id)).status in ("pending", "processing"):
            await handle(pool, stream_id, Cancel(at=at(clock + 1)), actor)
        live = await read_stream(conn, stream_id)
        row = await status_row(conn, stream_id)
        store = DirectoryStore(tmp_path)  # shared by the examples: each job has a file of its own

        archived = await archive_job(conn, store, await expired_row(conn, stream_id))

        data = await store.read(archived.tombstone.archive_name)
        assert data is not None
        report = verify_export(data.splitlines(keepends=True))
        assert report.ok and report.events == len(live) and report.head == live[-1].hash.hex()
        assert await count(conn, "events", stream_id) == 0

    restored = await restore_job(pool, store, stream_id)

    async with pool.connection() as conn:
        again = await read_stream(conn, stream_id)
        assert restored.chain_head == again[-1].hash.hex() == live[-1].hash.hex()
        assert export_bytes(stream_id, again) == data  # byte for byte, positions included
        assert await status_row(conn, stream_id) == row
