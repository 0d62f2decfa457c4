"""Subcommands that look after the database: migrations and projections."""

import argparse

from projections.drift import find_drift
from projections.rebuild import rebuild_job_status
from service.cli.subcommand import add
from service.database import connected, resolve_database_url
from service.migrate import migrate
from service.settings import Settings


async def migrate_command(args: argparse.Namespace) -> int:
    applied = await migrate(resolve_database_url(Settings.from_env()))
    for name in applied:
        print(f"applied {name}")
    if not applied:
        print("database is up to date")
    return 0


async def rebuild_command(args: argparse.Namespace) -> int:
    async with connected(Settings.from_env()) as pool, pool.connection() as conn:
        rows = await rebuild_job_status(conn)
    print(f"job_status rebuilt from the log: {rows} jobs")
    return 0


async def verify_command(args: argparse.Namespace) -> int:
    async with connected(Settings.from_env()) as pool, pool.connection() as conn:
        drift = await find_drift(conn)
    for found in drift:
        print(f"{found.stream_id}  differs in: {', '.join(found.columns)}")
    if drift:
        print(f"drift: {len(drift)} job(s) differ from their log; `jobtrail projections rebuild` repairs them")
        return 1
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
    add(
        actions,
        "rebuild",
        rebuild_command,
        "rebuild job_status from the event log",
        "Drop every job_status row and fold it again from the events.\n"
        "Appends made meanwhile wait and then apply on top.\n\nexample:\n  jobtrail projections rebuild",
    )
    add(
        actions,
        "verify",
        verify_command,
        "compare job_status with a fresh fold (exit 1 on drift)",
        "Fold every stream afresh and compare it with its job_status row, naming every\n"
        "job that differs and in which columns. Exits 1 when any does.\n\n"
        "example:\n  jobtrail projections verify",
    )
