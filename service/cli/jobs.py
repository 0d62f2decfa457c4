"""`jobtrail jobs`: list, show, cancel and retry any owner's jobs, as an operator.

Cancel and retry are the API's domain commands, decided by the same lifecycle through
`handle`; only the actor differs: each event records `cli:<user>`, the operator at the
machine. An illegal move is the domain's one-line error and exit status 1.
"""

import argparse
import getpass
from datetime import UTC, datetime
from uuid import UUID

import msgspec

from domain.commands import Cancel, Requeue
from domain.errors import JobNotFound
from domain.lifecycle import Status
from domain.state import JobState, progress
from projections.log import Metadata
from service.cli.subcommand import add, parse_job_id, positive
from service.clock import now
from service.jobs.command_handler import Handled, handle
from service.jobs.kinds import load_kinds, requeue_deadline
from service.settings import Settings
from service.store.database import connected
from service.store.job_status import Filters, load, page


def operator() -> Metadata:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name in the environment nor the password database
        user = "unknown"
    return Metadata(actor=f"cli:{user}")


async def list_command(args: argparse.Namespace) -> int:
    filters = Filters(owner=args.owner, status=args.status, kind=args.kind)
    async with connected(Settings.from_env()) as pool, pool.connection() as conn:
        jobs, more = await page(conn, filters, args.limit, None)
    if not jobs:
        print("no jobs match")
        return 0
    header = f"{'job id':<36}  {'owner':<14} {'kind':<16} {'status':<10} {'runs':>5} {'results':>8} {'progress':>8}"
    print(f"{header}  {'created (UTC)':<19}  outcome")
    for job_id, s in jobs:
        print(
            f"{job_id!s:<36}  {s.owner:<14} {s.kind:<16} {s.status:<10} {s.processed_runs:>5} "
            f"{s.processed_results:>8} {progress(s):>7.1f}%  {_when(s.created_at):<19}  {s.outcome or ''}"
        )
    if more:
        print(f"(more jobs match; raise --limit above {args.limit} to see them)")
    return 0


async def show_command(args: argparse.Namespace) -> int:
    async with connected(Settings.from_env()) as pool, pool.connection() as conn:
        state = await load(conn, args.job_id)
    if state.status is None:
        raise JobNotFound()
    for label, value in _fields(args.job_id, state):
        if value not in (None, ""):
            print(f"{label + ':':<13} {value}")
    print(f"\nits history: jobtrail history {args.job_id}")
    return 0


async def cancel_command(args: argparse.Namespace) -> int:
    async with connected(Settings.from_env()) as pool:
        handled = await handle(pool, args.job_id, Cancel(at=now(), reason=args.reason), operator())
    print(_outcome(args.job_id, handled))
    return 0


async def retry_command(args: argparse.Namespace) -> int:
    """Requeue with the kind's deadline afresh, as the API does."""
    async with connected(Settings.from_env()) as pool:
        async with pool.connection() as conn:
            state = await load(conn, args.job_id)
        at = now()
        command = Requeue(at=at, deadline=requeue_deadline(load_kinds(), state.kind, at))
        handled = await handle(pool, args.job_id, command, operator(), known=state)
    print(_outcome(args.job_id, handled))
    return 0


def _outcome(job_id: UUID, handled: Handled) -> str:
    state = handled.state
    if not handled.events:
        return f"{job_id}: already {state.status}; nothing changed"
    return f"{job_id}: now {state.status} (version {state.version})"


def _fields(job_id: UUID, s: JobState) -> list[tuple[str, object]]:
    target = f" of {s.target_results}" if s.target_results else ""
    return [
        ("job", job_id),
        ("status", s.status),
        ("outcome", s.outcome),
        ("owner", s.owner),
        ("kind", s.kind),
        ("params", msgspec.json.encode(s.params).decode()),
        ("version", s.version),
        ("progress", f"{progress(s):.1f}%"),
        ("runs", f"{s.processed_runs} of at most {s.max_runs}"),
        ("results", f"{s.processed_results}{target}"),
        ("next run", s.next_run if s.status in (Status.PENDING, Status.PROCESSING) else None),
        ("attempts", s.attempts or None),
        ("last error", s.last_error),
        ("requeues", f"{s.requeues} of at most {s.max_requeues}"),
        ("created", _when(s.created_at)),
        ("started", _when(s.started_at)),
        ("finished", _when(s.finished_at)),
        ("deadline", _when(s.deadline)),
    ]


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def register(subparsers) -> None:
    jobs = subparsers.add_parser(
        "jobs",
        help="list, show, cancel and retry jobs (operators)",
        description="Every owner's jobs, for operators. Cancel and retry follow the API's rules and\n"
        "record the operator (cli:<user>) on the events.\n\nexample:\n  jobtrail jobs list --status error",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = jobs.add_subparsers(title="actions", required=True, metavar="ACTION")
    listing = add(
        actions,
        "list",
        list_command,
        "list jobs, newest first",
        "List jobs of every owner, newest first, with their status and progress.\n\n"
        "example:\n  jobtrail jobs list --status error --kind demo.count --limit 20",
    )
    listing.add_argument("--status", choices=[str(s) for s in Status], help="only jobs in this status")
    listing.add_argument("--kind", help="only jobs of this kind")
    listing.add_argument("--owner", help="only this owner's jobs")
    listing.add_argument("--limit", type=positive, default=50, help="at most this many (default 50)")
    show = add(
        actions,
        "show",
        show_command,
        "show one job's status",
        "Print a job's status row: owner, kind, params, progress, limits, times, last error.\n\n"
        "example:\n  jobtrail jobs show 0b7e2c3e-5a1f-4c59-9d0e-3f7b2a1c9e44",
    )
    show.add_argument("job_id", type=parse_job_id, help="the job's id")
    cancel = add(
        actions,
        "cancel",
        cancel_command,
        "cancel a pending or processing job",
        "Cancel a job that is pending or processing; cancelling a cancelled job changes nothing.\n"
        "A final job cannot be cancelled (exit 1).\n\n"
        "example:\n  jobtrail jobs cancel 0b7e2c3e-5a1f-4c59-9d0e-3f7b2a1c9e44 --reason 'source retired'",
    )
    cancel.add_argument("job_id", type=parse_job_id, help="the job's id")
    cancel.add_argument("--reason", default="cancelled by operator", help="recorded on the event")
    retry = add(
        actions,
        "retry",
        retry_command,
        "requeue a job that failed or timed out",
        "Requeue a job in error or timeout, up to its max_requeues; it resumes at the run after\n"
        "the last recorded one, with its kind's deadline afresh. Any other status: exit 1.\n\n"
        "example:\n  jobtrail jobs retry 0b7e2c3e-5a1f-4c59-9d0e-3f7b2a1c9e44",
    )
    retry.add_argument("job_id", type=parse_job_id, help="the job's id")
