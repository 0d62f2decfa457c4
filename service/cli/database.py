"""Subcommands that look after the database: migrations and projections."""

import argparse

from projections.drift import find_drift
from projections.rebuild import rebuild_job_status
from projections.shadow_rebuild import shadow_rebuild
from service.cli import NOT_VERIFIED
from service.cli.progress import progress_on_stderr
from service.cli.subcommand import add
from service.settings import Settings
from service.store.database import connected, resolve_database_url
from service.store.migrate import migrate


async def migrate_command(args: argparse.Namespace) -> int:
    applied = await migrate(resolve_database_url(Settings.from_env()))
    for name in applied:
        print(f"applied {name}")
    if not applied:
        print("database is up to date")
    return 0


async def rebuild_command(args: argparse.Namespace) -> int:
    async with connected(Settings.from_env()) as pool, pool.connection() as conn:
        with progress_on_stderr("folding the log", quiet=args.quiet) as progress:
            if args.shadow:
                swapped = await shadow_rebuild(conn, progress)
            else:
                rows = await rebuild_job_status(conn, progress)
    if args.shadow:
        print(
            f"job_status rebuilt in its shadow and swapped in: {swapped.rows} jobs; "
            f"{swapped.caught_up} changed during the fold and were caught up, "
            f"{swapped.refolded} more were folded again while writers waited {swapped.locked_s * 1000:.1f} ms"
        )
    else:
        print(f"job_status rebuilt from the log: {rows} jobs")
    return 0


async def verify_command(args: argparse.Namespace) -> int:
    async with connected(Settings.from_env()) as pool, pool.connection() as conn:
        drift = await find_drift(conn)
    for found in drift:
        print(f"{found.stream_id}  differs in: {', '.join(found.columns)}")
    if drift:
        print(f"drift: {len(drift)} job(s) differ from their log; `jobtrail projections rebuild` repairs them")
        return NOT_VERIFIED
    print("job_status matches a fresh fold of the log")
    return 0


def register(subparsers) -> None:
    add(
        subparsers,
        "migrate",
        migrate_command,
        "apply pending database migrations",
        "Apply the pending migrations in migrations/, in order, each exactly once.\n"
        "Safe to run from several processes at once.\n\n"
        "example:\n  DATABASE_URL=postgresql://postgres@127.0.0.1:5432/jobtrail jobtrail migrate",
    )
    projections = subparsers.add_parser(
        "projections",
        help="rebuild or verify read models",
        description="Read models derived from the log.\n\nexample:\n  jobtrail projections verify",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = projections.add_subparsers(title="actions", required=True, metavar="ACTION")
    rebuild = add(
        actions,
        "rebuild",
        rebuild_command,
        "rebuild job_status from the event log",
        "Drop every job_status row and fold it again from the events. Appends and reads\n"
        "made meanwhile wait for the whole rebuild, then apply on top.\n\n"
        "With --shadow, fold into job_status_shadow while appends and reads go on, catch\n"
        "up the jobs that changed meanwhile, then fold the last moments' changes and swap\n"
        "the two tables in one short transaction: writers and readers wait only for that.\n\n"
        "Progress goes to stderr: a bar on a terminal; otherwise one line per tenth of the\n"
        "events, like\n"
        "  folding the log: 300,000 of 1,000,000 events (30%), 250,000 events/s, 3 s left\n\n"
        "example:\n  jobtrail projections rebuild --shadow",
    )
    rebuild.add_argument("--shadow", action="store_true", help="rebuild beside the live table, then swap it in")
    rebuild.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add(
        actions,
        "verify",
        verify_command,
        "compare job_status with a fresh fold (exit 3 on drift)",
        "Fold every stream afresh and compare it with its job_status row, naming every\n"
        "job that differs and in which columns. Exits 3 when any does.\n\n"
        "example:\n  jobtrail projections verify",
    )
