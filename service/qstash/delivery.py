"""One QStash delivery of one run of a job, at least once, answered exactly once.

The inbox makes it idempotent: the delivery's message id is recorded with its answer
in the same statement as the events it caused, and a repeat gets that answer and
changes nothing. The handler runs outside any transaction; it must be idempotent per
(job, run), since a crash after it ran but before its batch was recorded means QStash
delivers the run again. A transient failure is recorded as DeliveryFailed but not in
the inbox, so that QStash's retry (same message id) runs the batch again.

Two ids guard a delivery. The message id is QStash's id of the message: the same on
every attempt and every redelivery of it, so it finds the answer a repeat must get.
It is not signed, though, so it cannot stop a replay: a captured request sent again,
under its own or a made-up message id, would run its batch again while its token is
valid. The token's `jti` is signed and unique per delivery attempt (a token lives 5
minutes and retries come hours apart, so each attempt is signed afresh). It cannot be
the idempotency key, since a retry must find the message's answer, or run when there is
none; but a token presented twice can only be a copy. So each delivery claims its `jti`
before anything runs, and one whose token was claimed before gets its message's recorded
answer if there is one, else a duplicate answer, with nothing run or recorded (a made-up
id must not become an inbox row that a real message could later meet). Claiming before
the handler, not with the answer, catches parallel copies and copies of a failed
attempt too, which the inbox (written with the answer, and not at all for a failure,
so that the retry runs) would not.
"""

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import msgspec
import structlog
from psycopg_pool import AsyncConnectionPool

from domain.commands import FailDelivery, FailJob, RecordBatch, StartRun
from domain.errors import JobNotFound
from domain.lifecycle import Status
from domain.state import JobState, is_overdue
from projections.log import Metadata
from service.clock import now
from service.jobs.batch import BatchContext, PermanentError
from service.jobs.command_handler import handle
from service.jobs.kinds import Kind
from service.jobs.observers import Observers
from service.store import tombstones
from service.store.event_store import (
    BatchItems,
    DuplicateMessage,
    InboxEntry,
    UnstorableValue,
    load_with_answer,
    record_inbox,
    recorded,
)

logger = logging.getLogger("jobtrail.delivery")


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    status: int
    outcome: str
    detail: dict[str, Any] = {}


async def recorded_answer(pool: AsyncConnectionPool, message_id: str) -> Answer | None:
    async with pool.connection() as conn:
        found = await recorded(conn, message_id)
    return duplicate(*found) if found else None


def duplicate(status: int, outcome: str, response: str) -> Answer:
    return Answer(status=status, outcome=outcome, detail={**msgspec.json.decode(response), "duplicate": True})


# The answer to a copy of a delivery already presented: 2xx, so that nobody retries it.
REPLAYED = Answer(status=200, outcome="replayed_token", detail={"duplicate": True})


async def first_look(
    pool: AsyncConnectionPool, observers: Observers, message_id: str, job_id: UUID, jti: str | None
) -> tuple[Answer | None, JobState]:
    """The answer already due to this delivery (or a schedule's fire), if any, and the job.
    The token's claim is a write: with a group commit it shares the commit of this
    process's concurrent writes."""
    if jti is not None and observers.group_commit is not None:
        look = await load_with_answer(observers.group_commit, message_id, job_id, jti)
    else:
        async with pool.connection() as conn:
            look = await load_with_answer(conn, message_id, job_id, jti)
    if look.recorded:
        return duplicate(*look.recorded), look.state
    if jti is not None and not look.claimed:
        logger.warning("a delivery's token was presented before: a copy, answered as a duplicate; nothing runs")
        return REPLAYED, look.state
    return None, look.state


async def settle(pool: AsyncConnectionPool, job_id: UUID | None, message_id: str, answer: Answer) -> Answer:
    """Record an answer that appended nothing (a no-op), or return the one a twin recorded."""
    entry = InboxEntry(message_id=message_id, outcome=answer.outcome, status_code=answer.status, response=answer.detail)
    try:
        async with pool.connection() as conn:
            await record_inbox(conn, job_id, entry)
    except DuplicateMessage:
        return await recorded_answer(pool, message_id) or answer
    return answer


def _why_not_now(state: JobState, run: int) -> str:
    if state.status in (Status.COMPLETED, Status.CANCELLED, Status.ERROR, Status.TIMEOUT):
        return f"job_{state.status}"
    return "stale_run" if run < state.next_run else "future_run"


async def deliver_run(
    pool: AsyncConnectionPool,
    kinds: Mapping[str, Kind],
    observers: Observers,
    *,
    message_id: str,
    retried: int,
    job_id: UUID,
    run: int,
    jti: str | None = None,
) -> Answer:
    structlog.contextvars.bind_contextvars(job_id=str(job_id), message_id=message_id, run=run)
    answer, state = await first_look(pool, observers, message_id, job_id, jti)
    if answer is not None:
        return answer
    if state.kind:
        structlog.contextvars.bind_contextvars(kind=state.kind)
    if state.status is None:
        return await _no_such_job(pool, job_id, message_id)
    metadata = Metadata(actor="qstash", message_id=message_id, retried=retried)
    if state.status is Status.PENDING or is_overdue(state, now()):  # start it, or time it out
        started = await handle(pool, job_id, StartRun(at=now(), run=run), metadata, known=state, observers=observers)
        state = started.state
    if state.status is not Status.PROCESSING or state.next_run != run:
        return await settle(pool, job_id, message_id, Answer(status=200, outcome=_why_not_now(state, run)))
    kind = kinds.get(state.kind)
    try:
        if kind is None:
            raise PermanentError(f"kind '{state.kind}' is not registered in this service")
        batch, duration_ms = await _run_batch(kind, job_id, run, retried, state)
    except PermanentError as error:
        command: FailJob | RecordBatch = FailJob(
            at=now(), reason="permanent_error", error=_printable(str(error)), run=run
        )
        failed = Answer(status=200, outcome="failed_permanently")
        logger.warning("the batch failed permanently; the job fails (see `jobtrail history`)")
        return await _append(pool, observers, job_id, command, metadata, message_id, failed, known=state)
    except Exception as error:  # transient: QStash retries the same message
        failure = FailDelivery(at=now(), run=run, attempt=retried + 1, error=_describe(error))
        # The type only: a handler's error text may quote URLs or data (it is in the history).
        logger.warning(
            "the batch failed; QStash will retry", extra={"error": type(error).__name__, "attempt": retried + 1}
        )
        await handle(pool, job_id, failure, metadata, known=state, observers=observers)
        return Answer(status=500, outcome="handler_failed", detail={"error": failure.error})
    command = RecordBatch(
        at=now(),
        run=run,
        results=len(batch.items),
        has_more=batch.has_more,
        cursor=batch.next_cursor,
        duration_ms=duration_ms,
        total=batch.total,
        remaining=batch.remaining,
    )
    items = BatchItems(run=run, items=batch.items)
    answer = Answer(status=200, outcome="recorded", detail={"run": run, "results": len(batch.items)})
    try:
        return await _append(pool, observers, job_id, command, metadata, message_id, answer, results=items, known=state)
    except UnstorableValue as error:  # the handler's output can never be stored: retrying will not help
        command = FailJob(at=now(), reason="permanent_error", error=f"the batch cannot be stored: {error}", run=run)
        failed = Answer(status=200, outcome="failed_permanently")
        return await _append(pool, observers, job_id, command, metadata, message_id, failed)


async def _run_batch(kind: Kind, job_id: UUID, run: int, retried: int, state: JobState):
    context = BatchContext(
        job_id=job_id, kind=kind.name, run=run, attempt=retried, params=state.params, batch_size=kind.config.batch_size
    )
    started = time.perf_counter()
    async with asyncio.timeout(kind.config.batch_timeout_s):  # no extra task, cancellation kept
        batch = await kind.run_batch(context, state.cursor)
    if any(size is not None and size < 0 for size in (batch.total, batch.remaining)):
        raise PermanentError(f"the handler reported a negative size (total={batch.total}, remaining={batch.remaining})")
    return batch, int((time.perf_counter() - started) * 1000)


async def _append(
    pool,
    observers: Observers,
    job_id,
    command,
    metadata,
    message_id,
    answer: Answer,
    results=None,
    known: JobState | None = None,
) -> Answer:
    entry = InboxEntry(message_id=message_id, outcome=answer.outcome, status_code=answer.status, response=answer.detail)
    try:
        handled = await handle(
            pool, job_id, command, metadata, inbox=entry, results=results, known=known, observers=observers
        )
    except DuplicateMessage:
        return await recorded_answer(pool, message_id) or answer
    if not handled.events:  # the job moved on meanwhile (cancelled, timed out, a twin recorded the run)
        noop = Answer(status=200, outcome=_why_not_now(handled.state, command.run or 0))
        return await settle(pool, job_id, message_id, noop)
    return answer


def _describe(error: Exception) -> str:
    if isinstance(error, TimeoutError):
        return "the batch took longer than the kind's batch timeout"
    return _printable(f"{type(error).__name__}: {error}"[:1000])


def _printable(text: str) -> str:
    """Error texts are stored: NUL, which PostgreSQL cannot store, is spelled out."""
    return text.replace("\x00", "\\x00")


async def fail_after_retries(
    pool: AsyncConnectionPool,
    observers: Observers,
    *,
    message_id: str,
    job_id: UUID,
    run: int,
    dlq_id: str | None,
    last_status: int | None,
    jti: str | None = None,
) -> Answer:
    """QStash gave up on a run: the job fails, with the DLQ id for the operator."""
    structlog.contextvars.bind_contextvars(job_id=str(job_id), message_id=message_id, run=run)
    if (answer := (await first_look(pool, observers, message_id, job_id, jti))[0]) is not None:
        return answer
    error = f"QStash gave up delivering run {run}; last status {last_status}"
    command = FailJob(at=now(), reason="retries_exhausted", error=error, dlq_id=dlq_id, run=run)
    metadata = Metadata(actor="qstash-failure-callback", message_id=message_id)
    logger.warning("QStash gave up on a run; the job fails", extra={"dlq_id": dlq_id, "last_status": last_status})
    try:
        job_failed = Answer(status=200, outcome="job_failed")
        return await _append(pool, observers, job_id, command, metadata, message_id, job_failed)
    except JobNotFound:
        return await _no_such_job(pool, job_id, message_id)


async def _no_such_job(pool: AsyncConnectionPool, job_id: UUID, message_id: str) -> Answer:
    """A delivery for a job the database does not hold: a no-op, recorded. An archived job's
    (a late delivery, or a failure callback after the job was archived) is expected, not a fault."""
    async with pool.connection() as conn:
        archived = await tombstones.gone(conn, job_id) is not None
    if not archived:
        return await settle(pool, None, message_id, Answer(status=200, outcome="unknown_job"))
    logger.info("a delivery for an archived job: nothing to do")
    return await settle(pool, job_id, message_id, Answer(status=200, outcome="archived"))
