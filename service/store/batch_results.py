"""The items each batch produced, kept per (job, run) for GET /v1/jobs/{id}/results.

The event store's append writes them, in the statement that records the batch
(service/store/event_store.py); every other statement on `batch_results` is here.
"""

from uuid import UUID

from psycopg import AsyncConnection

PAGE = """
SELECT run, items::text, recorded_at FROM batch_results
 WHERE stream_id = %(stream_id)s AND run > %(after_run)s
 ORDER BY run LIMIT %(limit)s
"""


async def page(conn: AsyncConnection, stream_id: UUID, after_run: int, limit: int) -> list[tuple]:
    """(run, items JSON, recorded_at) of up to `limit` runs after `after_run`, in run order."""
    params = {"stream_id": stream_id, "after_run": after_run, "limit": limit}
    return await (await conn.execute(PAGE, params)).fetchall()
