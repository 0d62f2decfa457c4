"""The event store: append a job's (or a schedule's) new events in one statement, and keep the inbox.

An append is a single data-modifying statement that inserts the events (at the
version the caller expects), upserts the job's status row and records outbox and
inbox rows: one round trip, one atomic commit. Driver errors are translated here,
and only here, into the store's own exceptions.

Each table's statements have one owner module (tests/test_sql_owners.py holds them
there); APPEND is the one exception, since one round trip needs one statement: it writes
`events` (read by projections/log.py), `job_status` (projections/job_status.py, whose
COLUMNS it follows, and service/store/job_status.py), `outbox` (service/store/outbox.py),
`batch_results` (service/store/batch_results.py) and, for a final event, `notifications`
(service/store/notifications.py, reading `webhook_endpoints`). APPEND_SCHEDULE is its twin for a
schedule's stream: `events`, `schedules` (projections/schedules.py) and `inbox`; APPEND_CHECKPOINT
writes `events` alone, on the checkpoints' stream. The inbox is this module's own,
with the claims of delivery tokens (`delivery_tokens`) and a delivery's first look (its
token claimed, its recorded answer and the job's snapshot) included.

An append tells nobody of its commit: the command handler does, after it
(service/jobs/observers.py). No trigger on `events` or `outbox` notifies either: inside
the append's transaction, a notification would hold PostgreSQL's cluster-wide notify
lock across the commit's fsync and so serialize every append's commit
(migrations/0009_cheaper_appends.sql).
"""

import re
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec
from psycopg import AsyncConnection, errors
from psycopg.types.json import Jsonb

from domain.checkpoint import CHECKPOINT_STREAM, CheckpointIssued
from domain.events import AnyEvent
from domain.events import encoder as event_encoder
from domain.schedule.events import AnyScheduleEvent
from domain.schedule.state import ScheduleState
from domain.state import JobState
from domain.streams import StreamEvent, type_name
from projections import job_status, schedules
from projections.log import Metadata, metadata_encoder
from service.store.group_commit import GroupCommit
from service.store.job_status import state_of


class ConcurrencyConflict(Exception):
    """Another writer appended to the stream since it was read."""


class DuplicateMessage(Exception):
    """This QStash message id was already handled."""


class DuplicateIdempotencyKey(Exception):
    """The owner already created a job with this idempotency key."""


class UnstorableValue(ValueError):
    """A string PostgreSQL cannot store: one holding NUL (U+0000) or a lone surrogate."""


class OutboxMessage(msgspec.Struct, frozen=True, kw_only=True):
    run: int
    deduplication_id: str
    body: dict[str, Any]
    delay_s: float = 0.0


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """A final event's notification: its Standard Webhooks id and the body every endpoint gets."""

    webhook_id: str
    body: dict[str, Any]


class BatchItems(msgspec.Struct, frozen=True, kw_only=True):
    run: int
    items: list[Any]


class _Stored(msgspec.Struct, frozen=True):
    """An event as APPEND receives it: the type it is stored under, and its data."""

    type: str
    data: Any


class InboxEntry(msgspec.Struct, frozen=True, kw_only=True):
    message_id: str
    outcome: str
    status_code: int = 200
    response: dict[str, Any] = {}


# The events and the outbox rows each travel as one JSON array, unpacked by the server:
# psycopg dumps a Python list as an array parameter in Python, element by element,
# which cost more client CPU than the rest of the statement's parameters together.
# Later CTEs select FROM `appended` so that they run after it, and not at all when
# the insert fails. The status upsert is guarded by the version it replaces.
APPEND = """
WITH appended AS (
    INSERT INTO events (stream_id, version, type, data, metadata)
    SELECT %(stream_id)s, %(expected_version)s + e.n, e.event->>'type', e.event->'data', %(metadata)s
      FROM jsonb_array_elements(%(events)s::jsonb) WITH ORDINALITY AS e(event, n)
     ORDER BY e.n
    RETURNING position
), head AS (
    SELECT max(position) AS position FROM appended
), projected AS (
    INSERT INTO job_status (
        stream_id, owner, kind, status, version, processed_runs, processed_results,
        target_results, max_runs, progress, attempts, last_error, outcome,
        idempotency_key, deadline, created_at, started_at, finished_at, updated_at,
        state
    )
    SELECT
        %(stream_id)s::uuid, %(owner)s::text, %(kind)s::text, %(status)s::text,
        %(version)s::integer, %(processed_runs)s::integer,
        %(processed_results)s::bigint, %(target_results)s::bigint,
        %(max_runs)s::integer, %(progress)s::float8, %(attempts)s::integer,
        %(last_error)s::text, %(outcome)s::text, %(idempotency_key)s::text,
        %(deadline)s::timestamptz, %(created_at)s::timestamptz,
        %(started_at)s::timestamptz, %(finished_at)s::timestamptz,
        %(updated_at)s::timestamptz, %(state)s::jsonb
      FROM head
    ON CONFLICT (stream_id) DO UPDATE SET
        owner = EXCLUDED.owner,
        kind = EXCLUDED.kind,
        status = EXCLUDED.status,
        version = EXCLUDED.version,
        processed_runs = EXCLUDED.processed_runs,
        processed_results = EXCLUDED.processed_results,
        target_results = EXCLUDED.target_results,
        max_runs = EXCLUDED.max_runs,
        progress = EXCLUDED.progress,
        attempts = EXCLUDED.attempts,
        last_error = EXCLUDED.last_error,
        outcome = EXCLUDED.outcome,
        idempotency_key = EXCLUDED.idempotency_key,
        deadline = EXCLUDED.deadline,
        created_at = EXCLUDED.created_at,
        started_at = EXCLUDED.started_at,
        finished_at = EXCLUDED.finished_at,
        updated_at = EXCLUDED.updated_at,
        state = EXCLUDED.state
    WHERE job_status.version = %(expected_version)s
), queued AS (
    INSERT INTO outbox (stream_id, run, deduplication_id, body, delay_s)
    SELECT %(stream_id)s, o.run, o.deduplication_id, o.body, o.delay_s
      FROM head, jsonb_to_recordset(%(outbox)s::jsonb)
                 AS o(run integer, deduplication_id text, body jsonb, delay_s float8)
    ON CONFLICT (deduplication_id) DO NOTHING
), results AS (
    INSERT INTO batch_results (stream_id, run, items)
    SELECT %(stream_id)s, %(result_run)s, %(result_items)s::jsonb
      FROM head WHERE %(result_run)s::integer IS NOT NULL
    ON CONFLICT (stream_id, run) DO NOTHING
), received AS (
    INSERT INTO inbox (message_id, stream_id, outcome, status_code, response)
    SELECT %(inbox_message_id)s, %(stream_id)s, %(inbox_outcome)s, %(inbox_status_code)s,
           %(inbox_response)s
      FROM head WHERE %(inbox_message_id)s::text IS NOT NULL
), notified AS (
    -- A final event's notifications (service/notifications/queue.py): one for each of the
    -- owner's endpoints whose filters take the job, one for the job's own notify_url.
    INSERT INTO notifications (webhook_id, stream_id, owner, endpoint_id, url, signed_with, body)
    SELECT %(notify_id)s, %(stream_id)s, %(owner)s, w.id, w.url, 'endpoint', %(notify_body)s::jsonb
      FROM head, webhook_endpoints w
     WHERE %(notify_id)s::text IS NOT NULL AND w.owner = %(owner)s
       AND (w.kinds IS NULL OR %(kind)s::text = ANY (w.kinds))
       AND (w.statuses IS NULL OR %(status)s::text = ANY (w.statuses))
    UNION ALL
    SELECT %(notify_id)s, %(stream_id)s, %(owner)s, NULL, %(notify_url)s, 'owner', %(notify_body)s::jsonb
      FROM head WHERE %(notify_id)s::text IS NOT NULL AND %(notify_url)s::text IS NOT NULL
    ON CONFLICT DO NOTHING
)
SELECT position FROM head
"""

# A schedule's append: its events and its `schedules` row (projections/schedules.py, whose
# `params` it follows), with the inbox row of the delivery that caused it. The events'
# insert is APPEND's: the same columns, the same trigger computing the same hash chain.
APPEND_SCHEDULE = """
WITH appended AS (
    INSERT INTO events (stream_id, version, type, data, metadata)
    SELECT %(stream_id)s, %(expected_version)s + e.n, e.event->>'type', e.event->'data', %(metadata)s
      FROM jsonb_array_elements(%(events)s::jsonb) WITH ORDINALITY AS e(event, n)
     ORDER BY e.n
    RETURNING position
), head AS (
    SELECT max(position) AS position FROM appended
), projected AS (
    INSERT INTO schedules (
        stream_id, owner, kind, status, cron, time_zone, next_fire_at, last_tick,
        last_job_id, jobs_created, idempotency_key, version, created_at, updated_at, state
    )
    SELECT
        %(stream_id)s::uuid, %(owner)s::text, %(kind)s::text, %(status)s::text,
        %(cron)s::text, %(time_zone)s::text, %(next_fire_at)s::timestamptz,
        %(last_tick)s::timestamptz, %(last_job_id)s::uuid, %(jobs_created)s::integer,
        %(idempotency_key)s::text, %(version)s::integer, %(created_at)s::timestamptz,
        %(updated_at)s::timestamptz, %(state)s::jsonb
      FROM head
    ON CONFLICT (stream_id) DO UPDATE SET
        status = EXCLUDED.status,
        cron = EXCLUDED.cron,
        time_zone = EXCLUDED.time_zone,
        next_fire_at = EXCLUDED.next_fire_at,
        last_tick = EXCLUDED.last_tick,
        last_job_id = EXCLUDED.last_job_id,
        jobs_created = EXCLUDED.jobs_created,
        version = EXCLUDED.version,
        updated_at = EXCLUDED.updated_at,
        state = EXCLUDED.state
    WHERE schedules.version = %(expected_version)s
), received AS (
    INSERT INTO inbox (message_id, stream_id, outcome, status_code, response)
    SELECT %(inbox_message_id)s, %(stream_id)s, %(inbox_outcome)s, %(inbox_status_code)s,
           %(inbox_response)s
      FROM head WHERE %(inbox_message_id)s::text IS NOT NULL
)
SELECT position FROM head
"""

# An archived history put back for an investigation (service/archive/restore.py): each
# event with its archived position, stream, version, type, data, metadata and time. The
# chain trigger computes every hash again, as for any insert; the caller compares them
# with the archived ones. Position is an identity column: OVERRIDING SYSTEM VALUE gives
# an event back its own (never reused: the sequence is past it), so the restored
# history's export is the archived file, byte for byte.
RESTORE = """
INSERT INTO events (position, stream_id, version, type, data, metadata, recorded_at)
OVERRIDING SYSTEM VALUE
SELECT e.position, e.stream_id, e.version, e.type, e.data, e.metadata, e.recorded_at
  FROM jsonb_to_recordset(%(events)s::jsonb)
       AS e(position bigint, stream_id uuid, version integer, type text, data jsonb, metadata jsonb,
            recorded_at timestamptz)
 ORDER BY e.version
RETURNING version, hash
"""

# A checkpoint's append (domain/checkpoint.py): the events alone, on the checkpoints' stream.
APPEND_CHECKPOINT = """
INSERT INTO events (stream_id, version, type, data, metadata)
SELECT %(stream_id)s, %(expected_version)s + e.n, e.event->>'type', e.event->'data', %(metadata)s
  FROM jsonb_array_elements(%(events)s::jsonb) WITH ORDINALITY AS e(event, n)
 ORDER BY e.n
RETURNING position
"""

RECORD_INBOX = """
INSERT INTO inbox (message_id, stream_id, outcome, status_code, response)
VALUES (%(inbox_message_id)s, %(stream_id)s, %(inbox_outcome)s, %(inbox_status_code)s,
        %(inbox_response)s)
"""
RECORDED = "SELECT status_code, outcome, response::text FROM inbox WHERE message_id = %(message_id)s"

_CONSTRAINT_ERRORS: dict[str, type[Exception]] = {
    "events_stream_version_key": ConcurrencyConflict,
    "events_version_gap": ConcurrencyConflict,
    "inbox_pkey": DuplicateMessage,
    "job_status_idempotency_key": DuplicateIdempotencyKey,
    "schedules_idempotency_key": DuplicateIdempotencyKey,
}

# A delivery's first look, in one round trip: its token claimed, its recorded answer (if a
# repeat) and the job. The claim succeeds for the first presentation of a token only: a
# racing copy's insert waits for the first to commit and then does nothing, so exactly
# one of them holds it. A token-less delivery claims nothing.
LOAD_WITH_ANSWER = """
WITH claim AS (
    INSERT INTO delivery_tokens (jti, message_id)
    SELECT %(jti)s::text, %(message_id)s::text WHERE %(jti)s::text IS NOT NULL
    ON CONFLICT (jti) DO NOTHING
    RETURNING jti
)
SELECT i.status_code, i.outcome, i.response::text, j.state::text, EXISTS (SELECT FROM claim)
  FROM (VALUES (1)) AS one (x)
  LEFT JOIN inbox i ON i.message_id = %(message_id)s
  LEFT JOIN job_status j ON j.stream_id = %(stream_id)s
"""
# A claim outlives its token: QStash's tokens verify for at most 5 minutes (and a few
# seconds of leeway, service/qstash/signature.py); the margin covers clock skew
# between this process and the database.
FORGET_SPENT_TOKENS = "DELETE FROM delivery_tokens WHERE claimed_at < now() - make_interval(secs => %(keep_s)s)"
TOKEN_CLAIM_KEPT_S = 900


def _translated(error: errors.IntegrityError) -> Exception:
    kind = _CONSTRAINT_ERRORS.get(error.diag.constraint_name or "")
    return kind(str(error.diag.message_primary)) if kind else error


def _jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=lambda v: event_encoder.encode(v).decode())


async def append(
    target: AsyncConnection | GroupCommit,
    stream_id: UUID,
    expected_version: int,
    events: Sequence[AnyEvent],
    state: JobState,
    metadata: Metadata,
    *,
    outbox: Sequence[OutboxMessage] = (),
    inbox: InboxEntry | None = None,
    results: BatchItems | None = None,
    notification: Notification | None = None,
) -> int:
    """Append `events` after `expected_version`; `state` is the fold that results.

    On a connection the statement commits alone (or with the caller's transaction); given
    the process's GroupCommit, it commits with the group it joins. Returns the global
    position of the last event appended.
    """
    if not events:
        raise ValueError("nothing to append")
    try:
        params = job_status.params(stream_id, state)
        params.update(
            **_events_params(expected_version, events, metadata),
            outbox=event_encoder.encode(outbox).decode(),
            result_run=results.run if results else None,
            result_items=event_encoder.encode(results.items).decode() if results else None,
            **_inbox_params(inbox),
            **_notification_params(notification, state),
        )
    except UnicodeEncodeError:  # a lone surrogate, which UTF-8 (and so PostgreSQL) cannot hold
        raise UnstorableValue("a string holds a lone surrogate, which cannot be stored") from None
    _refuse_nul(params["events"], params["metadata"], params["state"], params["result_items"], params["outbox"])
    rows = await _written(target, APPEND, params)
    return rows[0][0]


async def _written(target: AsyncConnection | GroupCommit, query: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run a write on a connection or in a group, its driver errors translated."""
    try:
        if isinstance(target, GroupCommit):
            return await target.run(query, params)
        return await (await target.execute(query, params)).fetchall()
    except errors.IntegrityError as error:
        raise _translated(error) from None
    except errors.DeadlockDetected:  # two processes' groups (service/store/group_commit.py) crossed
        raise ConcurrencyConflict("the write met a deadlock and was rolled back") from None


async def append_schedule(
    conn: AsyncConnection,
    stream_id: UUID,
    expected_version: int,
    events: Sequence[AnyScheduleEvent],
    state: ScheduleState,
    metadata: Metadata,
    *,
    inbox: InboxEntry | None = None,
) -> int:
    """A schedule's `append`: its events after `expected_version`, its row in `schedules`
    (`state` is the fold that results) and the inbox row, in one statement. Run inside the
    caller's transaction, it commits with whatever else that transaction appends (a fire's
    job). Returns the global position of the last event appended."""
    if not events:
        raise ValueError("nothing to append")
    try:
        params = schedules.params(stream_id, state)
        params.update(**_events_params(expected_version, events, metadata), **_inbox_params(inbox))
    except UnicodeEncodeError:
        raise UnstorableValue("a string holds a lone surrogate, which cannot be stored") from None
    _refuse_nul(params["events"], params["metadata"], params["state"])
    try:
        cursor = await conn.execute(APPEND_SCHEDULE, params)
    except errors.IntegrityError as error:
        raise _translated(error) from None
    head = await cursor.fetchone()
    assert head is not None
    return head[0]


async def append_checkpoint(
    conn: AsyncConnection, expected_version: int, event: CheckpointIssued, metadata: Metadata
) -> int:
    """Append a checkpoint to its stream after `expected_version`; ConcurrencyConflict when
    another process issued one first. Returns the event's position."""
    params = {"stream_id": CHECKPOINT_STREAM, **_events_params(expected_version, [event], metadata)}
    try:
        cursor = await conn.execute(APPEND_CHECKPOINT, params)
    except errors.IntegrityError as error:
        raise _translated(error) from None
    head = await cursor.fetchone()
    assert head is not None
    return head[0]


def _events_params(expected_version: int, events: Sequence[StreamEvent], metadata: Metadata) -> dict[str, Any]:
    """The events (each under its permanent tag) and their provenance, as both appends take them."""
    return {
        "expected_version": expected_version,
        "events": event_encoder.encode([_Stored(type=type_name(event), data=event) for event in events]).decode(),
        "metadata": metadata_encoder.encode(metadata).decode(),
    }


# JSON's escape for NUL, preceded by an even run of backslashes (so not "\\u0000" text).
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _refuse_nul(*texts: str | None) -> None:
    """Check before sending: the driver's error would come mid-statement and say less."""
    for text in texts:
        if text and "u0000" in text and _NUL_ESCAPE.search(text):
            raise UnstorableValue("a string contains the NUL character (U+0000), which cannot be stored")


async def restore(conn: AsyncConnection, events: Sequence[Any]) -> list[tuple[int, bytes]]:
    """Insert archived events as they were (structs with position, stream_id, version,
    type, data, metadata, recorded_at); returns (version, hash) as the database chained them."""
    try:
        cursor = await conn.execute(RESTORE, {"events": event_encoder.encode(events).decode()})
    except errors.IntegrityError as error:
        raise _translated(error) from None
    return await cursor.fetchall()


async def record_inbox(conn: AsyncConnection, stream_id: UUID | None, entry: InboxEntry) -> None:
    """Record a delivery that appended nothing (a duplicate answer or a no-op)."""
    try:
        await conn.execute(RECORD_INBOX, {"stream_id": stream_id, **_inbox_params(entry)})
    except errors.IntegrityError as error:
        raise _translated(error) from None


async def recorded(conn: AsyncConnection, message_id: str) -> tuple[int, str, str] | None:
    """The answer recorded for this message: status code, outcome, response JSON."""
    return await (await conn.execute(RECORDED, {"message_id": message_id})).fetchone()


def _notification_params(notification: Notification | None, state: JobState) -> dict[str, Any]:
    if notification is None:
        return dict.fromkeys(("notify_id", "notify_body", "notify_url"))
    return {
        "notify_id": notification.webhook_id,
        "notify_body": event_encoder.encode(notification.body).decode(),
        "notify_url": state.notify_url,
    }


def _inbox_params(entry: InboxEntry | None) -> dict[str, Any]:
    if entry is None:
        return dict.fromkeys(("inbox_message_id", "inbox_outcome", "inbox_status_code", "inbox_response"))
    return {
        "inbox_message_id": entry.message_id,
        "inbox_outcome": entry.outcome,
        "inbox_status_code": entry.status_code,
        "inbox_response": _jsonb(entry.response),
    }


class FirstLook(msgspec.Struct, frozen=True):
    """What a delivery finds before it acts."""

    recorded: tuple[int, str, str] | None  # the answer to this message id: status, outcome, response JSON
    state: JobState
    claimed: bool  # this delivery presented its token first (False too when it has none)


async def load_with_answer(
    target: AsyncConnection | GroupCommit, message_id: str, stream_id: UUID, jti: str | None
) -> FirstLook:
    """Claim the delivery's token and read the inbox's answer to its message and the job,
    in one statement (in the process's group commit, when given one)."""
    params = {"message_id": message_id, "stream_id": stream_id, "jti": jti}
    ((status, outcome, response, state, claimed),) = await _written(target, LOAD_WITH_ANSWER, params)
    return FirstLook(((status, outcome, response) if status is not None else None), state_of(state), claimed)


async def forget_spent_tokens(conn: AsyncConnection, keep_s: float = TOKEN_CLAIM_KEPT_S) -> int:
    """Drop the claims of tokens that can no longer verify; how many went."""
    return (await conn.execute(FORGET_SPENT_TOKENS, {"keep_s": keep_s})).rowcount
