"""Archive one finished job: its export written, read back and verified, then removed
with a tombstone; and a run over the expired jobs, in bounded batches.

The order is what makes a crash at any point harmless. The file is written (atomically)
and read back and verified before anything is removed; removing is one transaction that
writes the tombstone and calls archive_stream(), which refuses unless the tombstone
still describes the stream. A crash before that commit leaves the job whole and, at
worst, a verified file that the next run writes again under the same name; a crash
after it leaves a tombstone whose file is already verified on disk.

The file also proves the history against the Merkle tree (docs/audit.md): before the
transaction the tree is grown until every event of the job is a leaf (a tombstone is
refused otherwise, since it records the leaf indexes), and with a signing key a
checkpoint that covers them is issued if none does yet; the file then carries that
checkpoint and an inclusion proof for each event, so it proves offline, with the public
key alone, that this is the history the service signed.

Each job is archived inside one transaction that first takes a per-job advisory lock,
so two runs (two hosts' sweeps) never interleave on one job: one writes the file and
buries it, the other skips the job. The transaction has no transaction id until the
tombstone is written, so holding it open over the file's write holds back no global
subscriber.
"""

import hashlib
import logging
import time
from datetime import datetime
from uuid import UUID

import msgspec
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from projections.export import ExportError, SignedProofs, export_lines, verify_export
from projections.log import RecordedEvent, latest_checkpoint, read_stream
from projections.proofs import signed_proofs
from service.archive.naming import archive_name
from service.archive.store import ArchiveStore
from service.audit.archived import LeavesPending, cover
from service.audit.checkpoints import issue
from service.audit.signing_key import AuditSigner
from service.clock import now
from service.store import job_status, tombstones
from service.store.job_status import Expired, RetentionPolicy
from service.store.tombstones import ArchiveRefused, Tombstone

logger = logging.getLogger("jobtrail.archive")

# One archiver per job at a time, across processes and hosts (held until the transaction ends).
TRY_LOCK_JOB = "SELECT pg_try_advisory_xact_lock(hashtext('jobtrail.archive'), hashtext(%(stream_id)s::text))"


class ArchiveSummary(msgspec.Struct, frozen=True, kw_only=True):
    jobs: int = 0  # archived and removed
    events: int = 0
    bytes: int = 0
    skipped: int = 0  # changed or busy while being archived: left whole, tried again next run
    seconds: float = 0.0


class Archived(msgspec.Struct, frozen=True):
    tombstone: Tombstone
    size: int


class ArchiveNotVerified(Exception):
    """The file read back from the store is not the history that was written."""


class Skipped(Exception):
    """The job was left whole this time (busy with another archiver, or changed)."""


def export_bytes(stream_id: UUID, events: list[RecordedEvent], signed: SignedProofs | None = None) -> bytes:
    """The job's export, as GET /v1/jobs/{id}/export serves it (proofs and head line included)."""
    return b"".join(export_lines(stream_id, events, signed))


def check_export(data: bytes, events: list[RecordedEvent]) -> None:
    """Offline verification of the bytes read back, and agreement with the live chain."""
    try:
        report = verify_export(data.splitlines(keepends=True))
    except ExportError as error:
        raise ArchiveNotVerified(f"the archive file does not read as an export: {error}") from None
    head = events[-1].hash.hex()
    if not report.ok:
        raise ArchiveNotVerified(f"the archive file's chain does not verify: {report.problem}")
    if report.events != len(events) or report.head != head:
        raise ArchiveNotVerified(
            f"the archive file holds {report.events} event(s) ending at {report.head},"
            f" the log {len(events)} ending at {head}"
        )


async def prove(conn: AsyncConnection, stream_id: UUID, signer: AuditSigner | None) -> None:
    """Make every event of the job a leaf and, with a key, get a checkpoint signed over them
    (outside any transaction: the tree's catch-up commits as it goes)."""
    try:
        leaves = await cover(conn, stream_id)
    except LeavesPending as pending:
        raise Skipped(str(pending)) from None
    if signer is None or not leaves:
        return
    latest = await latest_checkpoint(conn)
    if latest is None or latest[1].tree_size <= max(leaves):
        await issue(conn, signer, now(), when_grew=False)


async def archive_job(
    conn: AsyncConnection, store: ArchiveStore, job: Expired, signer: AuditSigner | None = None
) -> Archived:
    """Archive and remove one job; `conn` must be idle (in autocommit), the transaction is ours.

    Raises Skipped when the job is left whole (nothing removed), ArchiveNotVerified when the
    store does not give back what was written (nothing removed either)."""
    await prove(conn, job.stream_id, signer)
    async with conn.transaction():
        locked = await (await conn.execute(TRY_LOCK_JOB, {"stream_id": job.stream_id})).fetchone()
        if not locked or not locked[0]:
            raise Skipped("another archive run holds this job")
        events = await read_stream(conn, job.stream_id)
        if not events:
            raise Skipped("the job has no events any more")
        generation = await tombstones.archived_before(conn, job.stream_id)
        name = archive_name(job.stream_id, job.owner, job.finished_at, generation)
        data = export_bytes(job.stream_id, events, await signed_proofs(conn, events))
        await store.write(name, data)
        read_back = await store.read(name)
        if read_back != data:
            raise ArchiveNotVerified(f"{name}: the store gave back other bytes than were written")
        check_export(read_back, events)
        stone = Tombstone(
            stream_id=job.stream_id,
            owner=job.owner,
            kind=job.kind,
            status=job.status,
            events=len(events),
            first_position=events[0].position,
            last_position=events[-1].position,
            chain_head=events[-1].hash,
            archive_name=name,
            archive_sha256=hashlib.sha256(read_back).digest(),
            finished_at=job.finished_at,
        )
        try:
            await tombstones.bury(conn, stone)
        except ArchiveRefused as refused:
            raise Skipped(str(refused)) from None
    return Archived(stone, len(data))


async def archive_expired(
    pool: AsyncConnectionPool,
    store: ArchiveStore,
    policy: RetentionPolicy,
    now: datetime,
    *,
    limit: int | None = None,
    batch: int = 100,
    budget_s: float | None = None,
    include_restored: bool = False,
    signer: AuditSigner | None = None,
) -> ArchiveSummary:
    """Archive expired jobs, a batch at a time, until none is left, `limit` jobs were
    taken, or `budget_s` seconds have gone by (checked between jobs). A job that cannot
    be archived now is skipped for the rest of the run, and counted."""
    started = time.monotonic()
    jobs = events = size = 0
    skipped: list[UUID] = []
    async with pool.connection() as conn:
        while limit is None or jobs + len(skipped) < limit:
            take = batch if limit is None else min(batch, limit - jobs - len(skipped))
            found = await job_status.expired(conn, policy, now, take, skip=skipped, include_restored=include_restored)
            if not found:
                break
            for job in found:
                if budget_s is not None and time.monotonic() - started >= budget_s:
                    return _summary(jobs, events, size, skipped, started)
                try:
                    archived = await archive_job(conn, store, job, signer)
                except Skipped as reason:
                    skipped.append(job.stream_id)
                    logger.warning("archive: job %s skipped this run: %s", job.stream_id, reason)
                    continue
                jobs += 1
                events += archived.tombstone.events
                size += archived.size
    return _summary(jobs, events, size, skipped, started)


def _summary(jobs: int, events: int, size: int, skipped: list[UUID], started: float) -> ArchiveSummary:
    return ArchiveSummary(
        jobs=jobs, events=events, bytes=size, skipped=len(skipped), seconds=time.monotonic() - started
    )


async def expired_now(
    pool: AsyncConnectionPool, policy: RetentionPolicy, now: datetime, limit: int | None, *, include_restored: bool
) -> list[Expired]:
    """What a run would take (a dry run): the expired jobs, up to `limit`."""
    async with pool.connection() as conn:
        return await job_status.expired(conn, policy, now, limit or 2**31 - 1, include_restored=include_restored)
