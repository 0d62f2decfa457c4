"""Archive a finished job in a test as retention does: its export written to a store, then
its tombstone written and the job removed, in one transaction (service/store/tombstones.py)."""

import hashlib
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from projections.export import export_lines
from projections.log import read_stream
from service.archive.store import ArchiveStore
from service.audit.archived import cover
from service.store import tombstones
from service.store.job_status import load
from service.store.tombstones import Tombstone


def archive_name(owner: str, job_id: UUID) -> str:
    return f"test/{owner}/{job_id}.ndjson"


async def archive(pool: AsyncConnectionPool, store: ArchiveStore, job_id: UUID) -> Tombstone:
    """The job's tombstone, as stored (`archived_at` set)."""
    async with pool.connection() as conn:
        await cover(conn, job_id)  # a tombstone is refused until the job's events are leaves of the tree
        events = await read_stream(conn, job_id)
        state = await load(conn, job_id)
    data = b"".join(export_lines(job_id, events))
    name = archive_name(state.owner, job_id)
    await store.write(name, data)
    stone = Tombstone(
        stream_id=job_id,
        owner=state.owner,
        kind=state.kind,
        status=str(state.status),
        events=len(events),
        first_position=events[0].position,
        last_position=events[-1].position,
        chain_head=events[-1].hash,
        archive_name=name,
        archive_sha256=hashlib.sha256(data).digest(),
        finished_at=state.finished_at,
    )
    async with pool.connection() as conn:
        async with conn.transaction():
            await tombstones.bury(conn, stone)
        stored = await tombstones.latest(conn, job_id)
    assert stored is not None
    return stored
