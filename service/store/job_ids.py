"""Jobs whose id starts with some hex digits: what the CLI accepts in place of a whole id.

The digits bound a range of uuids (padded with 0s below, with fs above), and PostgreSQL
orders uuids byte by byte, as their hex reads, so the lookup is a short range scan of
job_status's primary key however many jobs there are.
"""

from uuid import UUID

from psycopg import AsyncConnection

STARTING_WITH = """
SELECT stream_id FROM job_status
 WHERE stream_id BETWEEN %(low)s AND %(high)s
 ORDER BY stream_id
 LIMIT %(limit)s
"""


async def starting_with(conn: AsyncConnection, digits: str, limit: int) -> list[UUID]:
    """Up to `limit` job ids beginning with `digits` (lowercase hex, at most 32)."""
    bounds = {"low": UUID(digits.ljust(32, "0")), "high": UUID(digits.ljust(32, "f")), "limit": limit}
    cursor = await conn.execute(STARTING_WITH, bounds)
    return [stream_id for (stream_id,) in await cursor.fetchall()]
