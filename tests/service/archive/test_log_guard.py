"""The log stays append-only for everyone but archive_stream(), and tombstones for everyone."""

from pathlib import Path

import pytest
from psycopg import errors
from psycopg_pool import AsyncConnectionPool

from service.archive.archiver import archive_expired
from service.archive.store import DirectoryStore
from service.audit.archived import cover
from service.store import tombstones
from tests.service.archive.jobs import ONE_DAY, count, days_later, timed_out_job

pytestmark = pytest.mark.anyio

REFUSED_ON_EVENTS = [
    "DELETE FROM events WHERE stream_id = %(job)s",
    "DELETE FROM events",
    "UPDATE events SET type = 'X' WHERE stream_id = %(job)s",
    "TRUNCATE events",
    "SELECT archive_stream(%(job)s)",  # no tombstone written in this transaction
]


@pytest.mark.parametrize("statement", REFUSED_ON_EVENTS)
async def test_a_plain_statement_that_would_remove_or_edit_events_is_refused(
    pool: AsyncConnectionPool, statement: str
) -> None:
    job = await timed_out_job(pool)
    async with pool.connection() as conn:
        with pytest.raises(errors.InsufficientPrivilege, match="append-only|no tombstone"):
            await conn.execute(statement, {"job": job})
        assert await count(conn, "events", job) == 2


async def test_a_delete_in_the_name_of_another_stream_is_refused_even_with_a_tombstone(
    pool: AsyncConnectionPool,
) -> None:
    job, other = await timed_out_job(pool), await timed_out_job(pool)
    async with pool.connection() as conn:
        await cover(conn, job)  # its events leaves of the Merkle tree: its tombstone may be written
        with pytest.raises(errors.InsufficientPrivilege):
            async with conn.transaction():
                await conn.execute(
                    """INSERT INTO tombstones (stream_id, owner, kind, status, events, first_position,
                           last_position, chain_head, archive_name, archive_sha256)
                       VALUES (%(job)s, 'acme', 'demo.count', 'timeout', 2, 0, 0, '\\x00', 'x', '\\x00')""",
                    {"job": job},
                )
                await conn.execute("SELECT set_config('jobtrail.archiving', %(job)s::text, true)", {"job": job})
                await conn.execute("DELETE FROM events WHERE stream_id = %(other)s", {"other": other})
        assert await count(conn, "events", other) == 2


@pytest.mark.parametrize(
    "statement", ["UPDATE tombstones SET owner = 'x'", "DELETE FROM tombstones", "TRUNCATE tombstones CASCADE"]
)
async def test_tombstones_cannot_be_edited_or_removed(
    pool: AsyncConnectionPool, tmp_path: Path, statement: str
) -> None:
    await timed_out_job(pool)
    assert (await archive_expired(pool, DirectoryStore(tmp_path), ONE_DAY, days_later(2))).jobs == 1
    async with pool.connection() as conn:
        with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
            await conn.execute(statement)
        assert await tombstones.count_archived(conn) == 1
