"""Notification rows after they are queued: leased and published by the relay, completed by
QStash's callbacks, and read back per job. Every statement on `notifications` but the
append's (service/store/event_store.py) lives here; claims lease rows like the outbox's
(service/store/outbox.py), so any number of relays share the work.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb


class Claimed(msgspec.Struct, frozen=True):
    id: int
    webhook_id: str
    owner: str | None
    endpoint_id: UUID | None
    url: str
    signed_with: str
    body: str  # the JSON text, published as is (the signature covers these bytes)


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """One notification as `GET /v1/jobs/{id}/notifications` shows it."""

    webhook_id: str
    endpoint_id: UUID | None
    url: str
    status: str  # pending, retrying, delivered, failed
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
    dlq_id: str | None


CLAIM_UNSENT = """
UPDATE notifications n SET next_attempt_at = now() + make_interval(secs => %(lease_s)s)
 WHERE n.id IN (
        SELECT id FROM notifications
         WHERE sent_at IS NULL AND failed_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= now())
         ORDER BY id
         LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED)
RETURNING n.id, n.webhook_id, n.owner, n.endpoint_id, n.url, n.signed_with, n.body::text, n.next_attempt_at
"""
MARK_SENT = """
UPDATE notifications SET sent_at = now(), message_id = %(message_id)s, publish_attempts = publish_attempts + 1,
       next_attempt_at = NULL
 WHERE id = %(id)s AND sent_at IS NULL
"""
MARK_UNPUBLISHED = """
UPDATE notifications
   SET publish_attempts = publish_attempts + 1, last_error = %(error)s,
       next_attempt_at = now() + make_interval(secs => least(60, power(2, least(publish_attempts, 6))))
 WHERE id = %(id)s AND sent_at IS NULL AND next_attempt_at = %(leased_until)s
"""
# Refused at send time (the target now resolves where it may not go, or its endpoint is gone).
MARK_REFUSED = """
UPDATE notifications SET failed_at = now(), last_error = %(error)s, next_attempt_at = NULL
 WHERE id = %(id)s AND sent_at IS NULL
"""
# QStash's callbacks may come more than once and out of order: attempts only grow, and
# the first success or failure stays.
RECORD_ATTEMPT = """
UPDATE notifications
   SET attempts = greatest(attempts, %(attempt)s), last_status = %(status)s,
       delivered_at = CASE WHEN %(status)s BETWEEN 200 AND 299 THEN coalesce(delivered_at, now()) ELSE delivered_at END
 WHERE message_id = %(message_id)s
"""
RECORD_FAILURE = """
UPDATE notifications
   SET attempts = greatest(attempts, %(attempt)s), last_status = coalesce(%(status)s, last_status),
       failed_at = CASE WHEN delivered_at IS NULL THEN coalesce(failed_at, now()) END,
       dlq_id = coalesce(dlq_id, %(dlq_id)s)
 WHERE message_id = %(message_id)s
"""
OF_JOB = """
SELECT webhook_id, endpoint_id, url, attempts, last_status, last_error, created_at, sent_at,
       delivered_at, failed_at, dlq_id
  FROM notifications WHERE stream_id = %(stream_id)s ORDER BY id
"""
QUEUE_ALERT = """
INSERT INTO notifications (webhook_id, url, signed_with, body)
VALUES (%(webhook_id)s, %(url)s, 'alert', %(body)s)
ON CONFLICT DO NOTHING
"""


async def claim_unsent(conn: AsyncConnection, limit: int, lease_s: float) -> tuple[list[Claimed], datetime | None]:
    found = await (await conn.execute(CLAIM_UNSENT, {"limit": limit, "lease_s": lease_s})).fetchall()
    rows = sorted(found)
    return [Claimed(*row[:7]) for row in rows], rows[0][7] if rows else None


async def mark_sent(conn: AsyncConnection, row_id: int, message_id: str) -> None:
    await conn.execute(MARK_SENT, {"id": row_id, "message_id": message_id})


async def mark_unpublished(conn: AsyncConnection, row_id: int, error: str, leased_until: datetime) -> None:
    """QStash did not take it: tried again after a backoff (2 s doubling, at most 60 s)."""
    await conn.execute(MARK_UNPUBLISHED, {"id": row_id, "error": error, "leased_until": leased_until})


async def mark_refused(conn: AsyncConnection, row_id: int, error: str) -> None:
    await conn.execute(MARK_REFUSED, {"id": row_id, "error": error})


async def record_attempt(conn: AsyncConnection, message_id: str, attempt: int, status: int) -> bool:
    params = {"message_id": message_id, "attempt": attempt, "status": status}
    return (await conn.execute(RECORD_ATTEMPT, params)).rowcount == 1


async def record_failure(
    conn: AsyncConnection, message_id: str, attempt: int, status: int | None, dlq_id: str | None
) -> bool:
    params = {"message_id": message_id, "attempt": attempt, "status": status, "dlq_id": dlq_id}
    return (await conn.execute(RECORD_FAILURE, params)).rowcount == 1


def _status(attempts: int, delivered: datetime | None, failed: datetime | None) -> str:
    if delivered is not None:
        return "delivered"
    if failed is not None:
        return "failed"
    return "retrying" if attempts else "pending"


async def of_job(conn: AsyncConnection, stream_id: UUID) -> list[Delivery]:
    rows = await (await conn.execute(OF_JOB, {"stream_id": stream_id})).fetchall()
    return [
        Delivery(
            webhook_id=r[0],
            endpoint_id=r[1],
            url=r[2],
            status=_status(r[3], r[8], r[9]),
            attempts=r[3],
            last_status=r[4],
            last_error=r[5],
            created_at=r[6],
            sent_at=r[7],
            delivered_at=r[8],
            failed_at=r[9],
            dlq_id=r[10],
        )
        for r in rows
    ]


async def queue_alert(conn: AsyncConnection, webhook_id: str, url: str, body: dict[str, Any]) -> None:
    await conn.execute(QUEUE_ALERT, {"webhook_id": webhook_id, "url": url, "body": Jsonb(body)})
