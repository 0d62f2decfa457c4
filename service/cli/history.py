"""Subcommands that show histories: the demo, one job's history, and verifying an export."""

import argparse
import sys
from typing import TypeVar

from domain.errors import JobNotFound
from domain.state import JobState, progress
from projections.chain import verify
from projections.export import ExportError, read_export, verify_chain, verify_inclusion_in
from projections.log import link, read_stream
from service.cli import NOT_VERIFIED, remote
from service.cli.audit import keys_of
from service.cli.demo import DemoJob, run_demo
from service.cli.job_ids import job_id_or_prefix, resolve
from service.cli.subcommand import add, positive
from service.cli.timeline import console, inclusion_verdict, ndjson, timeline, timeline_text, verdict
from service.settings import Settings
from service.store.database import connected

T = TypeVar("T")


async def demo_command(args: argparse.Namespace) -> int:
    async with connected(Settings.from_env(), apply_migrations=True) as pool:
        jobs = await run_demo(pool, args.jobs)
        print(_status_table(jobs))
        shown = jobs[0]
        async with pool.connection() as conn:
            events = await read_stream(conn, shown.job_id)
    print(f"\nhistory of {shown.job_id} ({shown.scenario.name}):")
    print("\n".join(timeline(events)))
    print(verdict(verify([link(e) for e in events])))
    print("\nsee any job with: jobtrail history <job id> --verify")
    return 0


async def history_command(args: argparse.Namespace) -> int:
    if target := remote.target(args):
        from service.cli import remote_jobs

        return await remote_jobs.history(args, target)
    async with connected(Settings.from_env()) as pool, pool.connection() as conn:
        events = await read_stream(conn, await resolve(conn, args.job_id))
    if not events:
        raise JobNotFound()
    shown = some(events, args)
    if args.json:
        print("\n".join(ndjson(shown)))
    else:
        out = console(args.color)
        for line in timeline_text(shown):
            out.print(line)
    if not args.verify:
        return 0
    report = verify([link(e) for e in events])  # the whole chain, whatever was shown
    print(verdict(report), file=sys.stderr if args.json else sys.stdout)
    return 0 if report.ok else NOT_VERIFIED


def some(events: list[T], args: argparse.Namespace) -> list[T]:
    """The first --limit events, or the last --tail, or all."""
    if args.limit is not None:
        return events[: args.limit]
    if args.tail is not None:
        return events[-args.tail :]
    return events


async def verify_export_command(args: argparse.Namespace) -> int:
    try:
        if args.file == "-":
            export = read_export(sys.stdin.buffer)
        else:
            with open(args.file, "rb") as file:
                export = read_export(file)
    except ExportError as error:
        print(f"NOT VERIFIED: {error}")
        return NOT_VERIFIED
    report = verify_chain(export)
    print(verdict(report))
    if not args.key:
        return 0 if report.ok else NOT_VERIFIED
    proven = verify_inclusion_in(export, keys_of(args.key))
    print(inclusion_verdict(proven))
    return 0 if report.ok and proven.ok else NOT_VERIFIED


def _percent(s: JobState) -> str:
    done = progress(s)
    return "" if done is None else f"{done:.1f}%"


def _status_table(jobs: list[DemoJob]) -> str:
    header = f"{'job id':<36}  {'scenario':<24} {'status':<10} {'runs':>4} {'results':>7} {'progress':>8}  outcome"
    lines = [header, "-" * len(header)]
    for job in jobs:
        s = job.state
        lines.append(
            f"{job.job_id!s:<36}  {job.scenario.name:<24} {s.status:<10} {s.processed_runs:>4} "
            f"{s.processed_results:>7} {_percent(s):>8}  {s.outcome or ''}"
        )
    return "\n".join(lines)


def register(subparsers) -> None:
    demo = add(
        subparsers,
        "demo",
        demo_command,
        "drive synthetic jobs through their whole lifecycle",
        "Create synthetic jobs and drive them in-process through every ending: target met,\n"
        "source exhausted, max runs reached, retries exhausted, deadline passed, cancelled.\n"
        "Prints their status and one job's history with its hash chain verified.\n"
        "It plays QStash itself, so it refuses a database a running service uses: point\n"
        "DATABASE_URL (or JOBTRAIL_DATA_DIR) elsewhere, or stop the service.\n\n"
        "example:\n  jobtrail demo --jobs 12",
    )
    demo.add_argument("--jobs", type=positive, default=8, help="how many jobs (default 8)")
    history = add(
        subparsers,
        "history",
        history_command,
        "print a job's event history",
        "Print every event of a job, with provenance, as a timeline (colored on a terminal).\n"
        "With --verify, check the whole hash chain and exit 3 when it is broken; with --json,\n"
        "print NDJSON exactly as stored. --limit and --tail show only the first or last events.\n\n"
        "example:\n  jobtrail history 0b7e2c3e-5a1f-4c59-9d0e-3f7b2a1c9e44 --verify",
    )
    history.add_argument(
        "job_id", type=job_id_or_prefix, help="the job's id, or its start where no other job's begins alike"
    )
    shown = history.add_mutually_exclusive_group()
    shown.add_argument("--limit", type=positive, help="show only the first N events")
    shown.add_argument("--tail", type=positive, help="show only the last N events")
    history.add_argument("--verify", action="store_true", help="verify the hash chain")
    history.add_argument("--json", action="store_true", help="NDJSON, one event per line")
    history.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="color the timeline: auto (a terminal only; honors NO_COLOR, FORCE_COLOR), always, never",
    )
    remote.add_options(history)
    verify_export = add(
        subparsers,
        "verify-export",
        verify_export_command,
        "verify an exported history without a database",
        "Check the hash chain of a file from GET /v1/jobs/{id}/export, offline. With --key,\n"
        "also check that the key signed the file's checkpoint and that every event it proves\n"
        "is a leaf of that checkpoint's Merkle tree: the history the service signed.\n"
        "Exits 3 when the chain is broken, the file was cut short or is not an export, or a\n"
        "proof fails.\n\n"
        "example:\n  jobtrail verify-export job-0b7e2c3e.ndjson --key audit-key.pub\n"
        '  curl -s -H "Authorization: Bearer $KEY" $URL/v1/jobs/$ID/export | jobtrail verify-export -',
    )
    verify_export.add_argument("file", help="the NDJSON export; - reads standard input")
    verify_export.add_argument(
        "--key", action="append", help="a public key that signs checkpoints (base64, PEM, or a file holding one)"
    )
