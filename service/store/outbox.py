"""The outbox after the append: rows leased, marked sent or backed off, and the backlog of unsent rows.

Rows are written by the event store's append, in the statement that appends the events
that call for them (service/store/event_store.py); every other statement on `outbox`
lives here, the relay's claim of rows (with their job's kind and owner) included.

A claim is one statement that commits at once: it leases the rows by moving their
`next_attempt_at` a lease ahead, so no lock is held while the relay publishes. The
lease's end, the same for every row of a claim, is then the claim's token: a row is
backed off or handed back only while it still holds it, so a relay that overran its
lease cannot undo another's claim. Marking a row sent needs no token: sent is sent.
"""

from datetime import datetime
from uuid import UUID

from psycopg import AsyncConnection

# Oldest first, through the partial index of unsent rows; SKIP LOCKED makes concurrent
# claims take disjoint rows, and a row another claim has just leased fails its recheck.
CLAIM_UNSENT = """
UPDATE outbox o SET next_attempt_at = now() + make_interval(secs => %(lease_s)s)
  FROM job_status j
 WHERE o.id IN (
        SELECT id FROM outbox
         WHERE sent_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= now())
         ORDER BY id
         LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED)
   AND j.stream_id = o.stream_id
RETURNING o.id, o.stream_id, o.run, o.deduplication_id, o.delay_s, j.kind, j.owner, o.next_attempt_at
"""
MARK_SENT = """
UPDATE outbox o
   SET sent_at = now(), message_id = s.message_id, publish_attempts = publish_attempts + 1, next_attempt_at = NULL
  FROM unnest(%(ids)s::bigint[], %(message_ids)s::text[]) AS s (id, message_id)
 WHERE o.id = s.id AND o.sent_at IS NULL
"""
# The backoff doubles with each failed attempt (the SET reads the count before it grows).
MARK_FAILED = """
UPDATE outbox o
   SET publish_attempts = publish_attempts + 1, last_error = f.error,
       next_attempt_at = now() + make_interval(
           secs => least(%(cap_s)s, %(first_s)s * power(2, least(o.publish_attempts, 30))))
  FROM unnest(%(ids)s::bigint[], %(errors)s::text[]) AS f (id, error)
 WHERE o.id = f.id AND o.sent_at IS NULL AND o.next_attempt_at = %(leased_until)s
"""
RELEASE = """
UPDATE outbox SET next_attempt_at = NULL
 WHERE id = ANY(%(ids)s) AND sent_at IS NULL AND next_attempt_at = %(leased_until)s
"""
# The demo plays the delivery loop itself: no relay may publish what it delivered.
MARK_DELIVERED_IN_PROCESS = """
UPDATE outbox SET sent_at = now(), message_id = 'demo-in-process'
 WHERE stream_id = %(stream_id)s AND sent_at IS NULL
"""

# From the partial index of unsent rows.
BACKLOG = """
SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
  FROM outbox WHERE sent_at IS NULL
"""

Claimed = tuple[int, UUID, int, str, float, str, str]


async def claim_unsent(conn: AsyncConnection, limit: int, lease_s: float) -> tuple[list[Claimed], datetime | None]:
    """Lease up to `limit` unsent rows that are due, oldest first, for `lease_s` seconds:
    (row id, stream_id, run, deduplication id, delay_s, kind, owner) of each, and the lease's end
    (None when nothing was due). Commits at once on an autocommit connection."""
    found = await (await conn.execute(CLAIM_UNSENT, {"limit": limit, "lease_s": lease_s})).fetchall()
    rows = sorted(found)  # RETURNING keeps no order
    return [row[:7] for row in rows], rows[0][7] if rows else None


async def mark_sent(conn: AsyncConnection, sent: dict[int, str]) -> None:
    """Rows QStash accepted, by id, with the message id it gave each."""
    await conn.execute(MARK_SENT, {"ids": list(sent), "message_ids": list(sent.values())})


async def mark_failed(
    conn: AsyncConnection, failed: dict[int, str], leased_until: datetime, first_s: float, cap_s: float
) -> None:
    """Count the attempt, keep the error and leave each row unsent until its backoff ends:
    `first_s` after a first failure, doubling with each one after, at most `cap_s`."""
    params = {"ids": list(failed), "errors": list(failed.values()), "leased_until": leased_until}
    await conn.execute(MARK_FAILED, params | {"first_s": first_s, "cap_s": cap_s})


async def release(conn: AsyncConnection, ids: list[int], leased_until: datetime) -> None:
    """Hand back rows leased but not attempted: claimable again at once."""
    await conn.execute(RELEASE, {"ids": ids, "leased_until": leased_until})


async def mark_delivered_in_process(conn: AsyncConnection, stream_id: UUID) -> None:
    await conn.execute(MARK_DELIVERED_IN_PROCESS, {"stream_id": stream_id})


async def backlog(conn: AsyncConnection) -> tuple[int, float]:
    """How many rows are unsent, and the oldest one's age in seconds."""
    unsent, age = await (await conn.execute(BACKLOG)).fetchone()  # type: ignore[misc]
    return unsent, age
