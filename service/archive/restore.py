"""Put an archived history back into the log, for an investigation.

The file is checked against its tombstone first. Its events go back with everything
their hashes cover exactly as archived (and their positions); the database chains them
again, and each hash must come out as archived, or nothing is restored. The job's status
row is then folded from the restored stream, in the same transaction. Batch results,
inbox and outbox rows are not in an export and stay gone. The tombstone stays: the
stream now has a tombstone and events again, which retention leaves alone unless asked
(`jobtrail archive run --include-restored`), and a new archive gets a file of its own.
"""

from uuid import UUID

import msgspec
from psycopg_pool import AsyncConnectionPool

from projections import job_status
from projections.log import read_stream
from projections.replay import replay_streams
from service.archive.store import ArchiveStore
from service.archive.verification import load_verified
from service.store import tombstones
from service.store.event_store import restore as insert_restored


class RestoreRefused(Exception):
    """The job cannot be restored; the message says why."""


class Restored(msgspec.Struct, frozen=True):
    events: int
    chain_head: str
    status: str | None


async def restore_job(pool: AsyncConnectionPool, store: ArchiveStore, stream_id: UUID) -> Restored:
    async with pool.connection() as conn:
        stone = await tombstones.latest(conn, stream_id)
        if stone is None:
            raise RestoreRefused(f"job {stream_id} was never archived")
        history = await load_verified(store, stone)
        async with conn.transaction():
            if await read_stream(conn, stream_id, to_version=1):
                raise RestoreRefused(f"job {stream_id} has events in the log already (restored before?)")
            chained = await insert_restored(conn, history.events)
            archived = [(event.version, bytes.fromhex(event.hash)) for event in history.events]
            if sorted(chained) != archived:
                raise RestoreRefused(f"job {stream_id}: the database chained the events to other hashes than archived")
            states = await replay_streams(conn, [stream_id])
            await job_status.write_rows(conn, job_status.TABLE, states)
    state = states.get(stream_id)
    return Restored(len(chained), stone.chain_head.hex(), state.status if state else None)
