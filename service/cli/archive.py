"""`jobtrail archive run|verify|restore`: retention's archive, by hand."""

import argparse
from collections.abc import AsyncIterator
from uuid import UUID

from psycopg import AsyncConnection

from service.archive.archiver import archive_expired, expired_now
from service.archive.policy import retention_policy
from service.archive.restore import restore_job
from service.archive.store import DirectoryStore
from service.archive.verification import ArchiveMismatch, load_verified
from service.audit.signing_key import load_signer
from service.cli import NOT_VERIFIED
from service.cli.subcommand import add, parse_job_id, positive
from service.clock import now
from service.jobs.kinds import load_kinds
from service.settings import Settings
from service.store import tombstones
from service.store.database import connected
from service.store.tombstones import Tombstone


async def run_command(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    policy = retention_policy(settings, load_kinds())
    if policy is None:
        print("no retention period is set (JOBTRAIL_RETAIN_S or a kind's retain_s): every job is kept")
        return 0
    async with connected(settings) as pool:
        if args.dry_run:
            jobs = await expired_now(pool, policy, now(), args.limit, include_restored=args.include_restored)
            for job in jobs:
                print(f"{job.stream_id}  {job.owner}  {job.kind}  {job.status}  finished {job.finished_at.isoformat()}")
            print(f"would archive {len(jobs)} job(s), {sum(job.version for job in jobs)} event(s)")
            return 0
        store = DirectoryStore(settings.archive_root)
        summary = await archive_expired(
            pool,
            store,
            policy,
            now(),
            limit=args.limit,
            include_restored=args.include_restored,
            signer=load_signer(settings),
        )
    print(
        f"archived {summary.jobs} job(s), {summary.events} event(s), {summary.bytes} byte(s) into"
        f" {settings.archive_root} in {summary.seconds:.1f} s; skipped {summary.skipped} (tried again next run)"
    )
    return 0


async def _tombstones(conn: AsyncConnection, job_id: UUID | None) -> AsyncIterator[Tombstone | UUID]:
    """Every tombstone in order written, or one job's latest (its id alone when it has none)."""
    if job_id is not None:
        yield await tombstones.latest(conn, job_id) or job_id
        return
    after = 0
    while page := await tombstones.page(conn, after):
        after = page[-1][0]
        for _, stone in page:
            yield stone


async def verify_command(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    store = DirectoryStore(settings.archive_root)
    checked = failed = 0
    async with connected(settings) as pool, pool.connection() as conn:
        async for stone in _tombstones(conn, args.job_id):
            checked += 1
            if isinstance(stone, UUID):
                failed += 1
                print(f"FAILED {stone}: no tombstone (never archived)")
                continue
            try:
                await load_verified(store, stone)
            except ArchiveMismatch as error:
                failed += 1
                print(f"FAILED {stone.stream_id}: {error}")
    print(f"{checked - failed} of {checked} archive file(s) match their tombstones")
    return NOT_VERIFIED if failed else 0


async def restore_command(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    async with connected(settings) as pool:
        restored = await restore_job(pool, DirectoryStore(settings.archive_root), args.job_id)
    print(
        f"restored {restored.events} event(s) of {args.job_id}; the chain verifies to {restored.chain_head};"
        f" status {restored.status}"
    )
    return 0


def register(subparsers) -> None:
    archive = subparsers.add_parser(
        "archive",
        help="archive expired jobs into files, verify the files, restore one (retention)",
        description="Retention (docs/retention.md): finished jobs past their period are written to\n"
        "JOBTRAIL_ARCHIVE_DIR as verified NDJSON exports, then removed with a tombstone.\n\n"
        "example:\n  jobtrail archive run --dry-run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = archive.add_subparsers(title="actions", required=True, metavar="ACTION")
    run = add(
        actions,
        "run",
        run_command,
        "archive and remove the expired jobs now",
        "Archive every finished job past its retention period (JOBTRAIL_RETAIN_S,\n"
        "JOBTRAIL_RETAIN_FAILED_S, a kind's own): write its export, read it back and verify it,\n"
        "then remove the job with a tombstone. A job that changes meanwhile is skipped and\n"
        "left whole. Safe to stop at any point and to run again.\n\n"
        "example:\n  jobtrail archive run --limit 1000",
    )
    run.add_argument("--dry-run", action="store_true", help="list what would be archived; change nothing")
    run.add_argument("--limit", type=positive, help="at most this many jobs")
    run.add_argument(
        "--include-restored", action="store_true", help="also archive again jobs restored with `archive restore`"
    )
    verify = add(
        actions,
        "verify",
        verify_command,
        "check archive files against their tombstones",
        "Check archive files against their tombstones: the file's SHA-256, event count, chain\n"
        "head and positions, and its own hash chain. One line per failure; exit 3 on any\n"
        "mismatch or missing file.\n\n"
        "example:\n  jobtrail archive verify --all",
    )
    which = verify.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every tombstone's file")
    which.add_argument("job_id", nargs="?", type=parse_job_id, help="one job's latest archive")
    restore = add(
        actions,
        "restore",
        restore_command,
        "put an archived job's history back into the log",
        "Re-import an archived history for an investigation: the file is verified against its\n"
        "tombstone, each event inserted as archived (the database's hashes must equal the\n"
        "archived ones), and the job's status row folded again.\n\n"
        "example:\n  jobtrail archive restore 0b7e2c3e-5a1f-4c59-9d0e-3f7b2a1c9e44",
    )
    restore.add_argument("job_id", type=parse_job_id, help="the archived job's id")
