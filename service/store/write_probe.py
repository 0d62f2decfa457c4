"""Whether the database takes writes: the readiness probe's question, asked honestly.

`SELECT 1` is not enough. On a full disk PostgreSQL still answers reads and even commits
an UPDATE that fits in its page (the current WAL segment has room), while every append
fails with "could not extend file": the service's writes insert, and an insert needs a
new page sooner or later. So the probe does what fails there: in a transaction that is
always rolled back, it creates a table and inserts one row, which makes PostgreSQL
write a new page to a new file. A new table is needed because an existing one reuses
the space its rolled-back rows leave, and would stop asking the disk. It costs about a
millisecond and a dozen catalog rows for autovacuum, locks nothing another session
uses, leaves nothing behind, and needs no privilege beyond the migrations' own. A
database that refuses writes for another reason (read-only, a standby) fails it too.
"""

from psycopg import AsyncConnection, Error

PROBE = (
    "CREATE TABLE jobtrail_write_probe (written integer)",
    "INSERT INTO jobtrail_write_probe VALUES (1)",
)


async def write_refused(conn: AsyncConnection) -> str | None:
    """Why the database refuses writes, or None when it takes them.

    An error the server answers with is its refusal; one that costs the connection
    (the server shutting down, the link lost) is raised, as any other outage.
    """
    try:
        async with conn.transaction(force_rollback=True):
            for statement in PROBE:
                await conn.execute(statement)
    except Error as error:
        if error.sqlstate is None or conn.broken:
            raise
        return f"the database refuses writes ({type(error).__name__})"
    return None
