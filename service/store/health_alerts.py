"""The one row recording the verdict last announced to operators, read and written under its lock."""

from psycopg import AsyncConnection

from service.notifications.debounce import AlertRecord

# FOR UPDATE: checks from every process queue here, so each sees the last one's decision.
LOCK = "SELECT announced, candidate, candidate_since FROM health_alerts FOR UPDATE"
SAVE = """
UPDATE health_alerts
   SET announced = %(announced)s, candidate = %(candidate)s, candidate_since = %(candidate_since)s,
       announced_at = CASE WHEN %(announcing)s THEN now() ELSE announced_at END
"""


async def locked(conn: AsyncConnection) -> AlertRecord:
    """The record, locked until the caller's transaction ends."""
    row = await (await conn.execute(LOCK)).fetchone()
    assert row is not None, "migration 0019 inserts the row"
    return AlertRecord(announced=row[0], candidate=row[1], candidate_since=row[2])


async def save(conn: AsyncConnection, record: AlertRecord, *, announcing: bool) -> None:
    params = {
        "announced": record.announced,
        "candidate": record.candidate,
        "candidate_since": record.candidate_since,
        "announcing": announcing,
    }
    await conn.execute(SAVE, params)
