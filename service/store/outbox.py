"""The outbox after the append: a row marked sent or failed, and the backlog of unsent rows.

Rows are written by the event store's append, in the statement that appends the events
that call for them (service/store/event_store.py); every other statement on `outbox`
lives here, the relay's claim of rows (with their job's kind) included.
"""

from uuid import UUID

from psycopg import AsyncConnection

MARK_SENT = """
UPDATE outbox SET sent_at = now(), message_id = %(message_id)s, publish_attempts = publish_attempts + 1
 WHERE id = %(id)s
"""
MARK_FAILED = """
UPDATE outbox SET publish_attempts = publish_attempts + 1, last_error = %(error)s WHERE id = %(id)s
"""
# The demo plays the delivery loop itself: no relay may publish what it delivered.
MARK_DELIVERED_IN_PROCESS = """
UPDATE outbox SET sent_at = now(), message_id = 'demo-in-process'
 WHERE stream_id = %(stream_id)s AND sent_at IS NULL
"""
CLAIM_UNSENT = """
SELECT o.id, o.stream_id, o.run, o.deduplication_id, o.delay_s, j.kind
  FROM outbox o JOIN job_status j USING (stream_id)
 WHERE o.sent_at IS NULL
 ORDER BY o.id
 LIMIT %(limit)s
   FOR UPDATE OF o SKIP LOCKED
"""

# From the partial index of unsent rows.
BACKLOG = """
SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
  FROM outbox WHERE sent_at IS NULL
"""


async def claim_unsent(conn: AsyncConnection, limit: int) -> list[tuple[int, UUID, int, str, float, str]]:
    """(row id, stream_id, run, deduplication id, delay_s, kind) of up to `limit` unsent
    outbox rows, locked for the caller's transaction."""
    return await (await conn.execute(CLAIM_UNSENT, {"limit": limit})).fetchall()


async def mark_sent(conn: AsyncConnection, row_id: int, message_id: str) -> None:
    await conn.execute(MARK_SENT, {"id": row_id, "message_id": message_id})


async def mark_failed(conn: AsyncConnection, row_id: int, error: str) -> None:
    """Count the attempt and keep the row unsent, for the next round."""
    await conn.execute(MARK_FAILED, {"id": row_id, "error": error})


async def mark_delivered_in_process(conn: AsyncConnection, stream_id: UUID) -> None:
    await conn.execute(MARK_DELIVERED_IN_PROCESS, {"stream_id": stream_id})


async def backlog(conn: AsyncConnection) -> tuple[int, float]:
    """How many rows are unsent, and the oldest one's age in seconds."""
    unsent, age = await (await conn.execute(BACKLOG)).fetchone()  # type: ignore[misc]
    return unsent, age
