"""The sweeper, run on a QStash schedule: time out overdue jobs, rescue stalled ones.

Both go through `handle`, so each change is decided against a version: a sweep can
never overwrite a completion, and two sweeps racing change a job once. A job is
stalled when it is active, has not moved for `stall_after_s`, its last outbox row
was sent that long ago too, and QStash no longer holds that message (it was lost, e.g.
with a broker that died). Its current run is then sent again, a bounded number of
times (the kind's `max_redispatches`); after that the deadline takes over. The process
that runs the local broker, which starts empty, runs the rescue at start with the
broker's start as its threshold (service/local_broker.py). A sweep also forgets the
claims of delivery tokens too old to verify (service/qstash/delivery.py).

When a retention period is set anywhere (globally or on a kind), a sweep also archives
expired jobs (service/archive): a bounded batch, at most ARCHIVE_JOBS jobs and about
ARCHIVE_BUDGET_S seconds (it starts no job after that), so that a backlog is worked off
over several sweeps and the sweep's answer to QStash never waits long. Its time is in
the report and the log.
"""

import logging
from datetime import timedelta
from uuid import UUID

import msgspec
from psycopg_pool import AsyncConnectionPool
from qstash import AsyncQStash

from domain.commands import AnyCommand, Redispatch, TimeOut
from domain.errors import JobNotFound
from projections.log import Metadata
from service.archive.archiver import ArchiveNotVerified, ArchiveSummary, archive_expired
from service.archive.store import ArchiveStore
from service.audit.signing_key import AuditSigner
from service.clock import now
from service.jobs.command_handler import handle
from service.jobs.observers import STANDALONE, Observers
from service.qstash.message_state import held
from service.store import job_status
from service.store.event_store import forget_spent_tokens
from service.store.job_status import RetentionPolicy

SWEEPER = Metadata(actor="sweeper")
ARCHIVE_JOBS = 200
ARCHIVE_BUDGET_S = 10.0

logger = logging.getLogger("jobtrail.sweeper")
archive_logger = logging.getLogger("jobtrail.archive")


class Retention(msgspec.Struct, frozen=True):
    """What a sweep archives by, and where to."""

    policy: RetentionPolicy
    store: ArchiveStore
    signer: AuditSigner | None = None  # signs the checkpoint an archive file's proofs need


class SweepReport(msgspec.Struct, frozen=True, omit_defaults=True):
    timed_out: int
    redispatched: int
    archived: ArchiveSummary | None = None  # None: no retention period is set


async def sweep(
    pool: AsyncConnectionPool,
    client: AsyncQStash | None,
    stall_after_s: float,
    limit: int = 1000,
    observers: Observers = STANDALONE,
    retention: Retention | None = None,
) -> SweepReport:
    timed_out = await time_out_overdue(pool, limit, observers)
    redispatched = await rescue_stalled(pool, client, stall_after_s, limit, observers) if client else 0
    async with pool.connection() as conn:
        await forget_spent_tokens(conn)
    archived = await archive_some(pool, retention) if retention else None
    return SweepReport(timed_out=timed_out, redispatched=redispatched, archived=archived)


async def archive_some(pool: AsyncConnectionPool, retention: Retention) -> ArchiveSummary:
    """A broken archive store is logged, not raised: the sweep's other work stands."""
    try:
        summary = await archive_expired(
            pool,
            retention.store,
            retention.policy,
            now(),
            limit=ARCHIVE_JOBS,
            budget_s=ARCHIVE_BUDGET_S,
            signer=retention.signer,
        )
    except (OSError, ArchiveNotVerified) as error:
        archive_logger.error("sweep could not archive (nothing was removed): %s", error)
        return ArchiveSummary()
    if summary.jobs or summary.skipped:
        archive_logger.info(
            "sweep archived %d job(s), %d event(s), %d byte(s) in %.2f s; skipped %d",
            summary.jobs,
            summary.events,
            summary.bytes,
            summary.seconds,
            summary.skipped,
        )
    return summary


async def time_out_overdue(pool: AsyncConnectionPool, limit: int, observers: Observers) -> int:
    async with pool.connection() as conn:
        overdue = await job_status.overdue(conn, now(), limit)
    timed_out = 0
    for stream_id in overdue:
        timed_out += await act(pool, stream_id, TimeOut(at=now(), detected_by="sweeper"), observers)
    return timed_out


async def rescue_stalled(
    pool: AsyncConnectionPool, client: AsyncQStash, stall_after_s: float, limit: int, observers: Observers
) -> int:
    before = now() - timedelta(seconds=stall_after_s)
    async with pool.connection() as conn:
        rows = await job_status.stalled(conn, before, limit)
    rescued = 0
    for stream_id, version, run, message_id in rows:
        if message_id and await in_flight(client, message_id):
            continue
        rescued += await act(pool, stream_id, Redispatch(at=now(), run=run, seen_version=version), observers)
    return rescued


async def act(pool: AsyncConnectionPool, stream_id: UUID, command: AnyCommand, observers: Observers) -> bool:
    """Apply one of the sweep's commands; whether the job changed. A job found gone since
    the sweep listed it (archived meanwhile) is skipped: the sweep goes on with the others."""
    try:
        return bool((await handle(pool, stream_id, command, SWEEPER, observers=observers)).events)
    except JobNotFound:
        logger.info("the sweep skips a job no longer in the database (archived)", extra={"job_id": str(stream_id)})
        return False


async def in_flight(client: AsyncQStash, message_id: str) -> bool:
    """Whether QStash still holds the message (waiting, or between retries)."""
    return await held(client, message_id)
