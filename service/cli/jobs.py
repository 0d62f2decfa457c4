"""`jobtrail jobs`: list, show, create, cancel and retry any owner's jobs, as an operator.

Cancel and retry are the API's domain commands, decided by the same lifecycle through
`handle`; only the actor differs: each event records `cli:<user>`, the operator at the
machine. An illegal move is the domain's one-line error and exit status 1.

With a service's URL and an API key (service/cli/remote.py) the same commands, and
`watch`, call the API instead (service/cli/remote_jobs.py), as the key's owner.
"""

import argparse
import getpass
from datetime import UTC, datetime
from uuid import UUID, uuid4

import msgspec

from domain.commands import Cancel, Requeue
from domain.errors import InvalidCommand, JobNotFound
from domain.kinds import create_job
from domain.lifecycle import Status
from domain.state import JobState, progress
from projections.log import Metadata
from service.api.schemas import JobPage, document
from service.cli import remote
from service.cli.job_ids import job_id_or_prefix, resolve
from service.cli.remote import RemoteFailure
from service.cli.subcommand import add, owner_name, parse_job_id, parse_params, positive
from service.clock import now
from service.jobs.command_handler import Handled, handle
from service.jobs.kinds import InvalidParams, UnknownKind, load_kinds, lookup, requeue_deadline, validate_params
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
    if target := remote.target(args):
        from service.cli import remote_jobs

        return await remote_jobs.list_jobs(args, target)
    filters = Filters(owner=args.owner, status=args.status, kind=args.kind)
    async with connected(Settings.from_env()) as pool, pool.connection() as conn:
        jobs, more = await page(conn, filters, args.limit, None)
    if args.json:
        listed = JobPage(jobs=[document(job_id, s) for job_id, s in jobs], next_cursor=None)
        print(msgspec.json.encode(listed).decode())
        return 0
    if not jobs:
        print("no jobs match")
        return 0
    header = f"{'job id':<36}  {'owner':<14} {'kind':<16} {'status':<10} {'runs':>5} {'results':>8} {'progress':>8}"
    print(f"{header}  {'created (UTC)':<19}  outcome")
    for job_id, s in jobs:
        print(
            f"{job_id!s:<36}  {s.owner:<14} {s.kind:<16} {s.status:<10} {s.processed_runs:>5} "
            f"{s.processed_results:>8} {_percent(s):>8}  {_when(s.created_at):<19}  {s.outcome or ''}"
        )
    if more:
        print(f"(more jobs match; raise --limit above {args.limit} to see them)")
    return 0


async def show_command(args: argparse.Namespace) -> int:
    if target := remote.target(args):
        from service.cli import remote_jobs

        return await remote_jobs.show(args, target)
    async with connected(Settings.from_env()) as pool, pool.connection() as conn:
        job_id = await resolve(conn, args.job_id)
        state = await load(conn, job_id)
    if state.status is None:
        raise JobNotFound()
    if args.json:
        print(msgspec.json.encode(document(job_id, state)).decode())
        return 0
    for label, value in _fields(job_id, state):
        if value not in (None, ""):
            print(f"{label + ':':<13} {value}")
    print(f"\nits history: jobtrail history {job_id}")
    return 0


async def create_command(args: argparse.Namespace) -> int:
    """A job for --owner, checked as the API checks one; its id alone on stdout."""
    if target := remote.target(args):
        from service.cli import remote_jobs

        return await remote_jobs.create(args, target)
    if not args.owner:
        raise RemoteFailure("--owner is required on the database: whose job it is")
    if args.idempotency_key:
        raise RemoteFailure("--idempotency-key needs a service (JOBTRAIL_URL and JOBTRAIL_API_KEY)")
    try:
        kind = lookup(load_kinds(), args.kind)
        params = validate_params(kind, args.params)
    except (UnknownKind, InvalidParams) as error:
        raise InvalidCommand(str(error)) from None
    command = create_job(
        kind.name,
        kind.config,
        owner=args.owner,
        at=now(),
        params=params,
        target_results=args.target_results,
        max_runs=args.max_runs,
        deadline_s=args.deadline_s,
    )
    job_id = uuid4()
    async with connected(Settings.from_env()) as pool:
        await handle(pool, job_id, command, operator())
    print(job_id)
    return 0


async def cancel_command(args: argparse.Namespace) -> int:
    if target := remote.target(args):
        from service.cli import remote_jobs

        return await remote_jobs.cancel(args, target)
    reason = args.reason or "cancelled by operator"
    async with connected(Settings.from_env()) as pool:
        async with pool.connection() as conn:
            job_id = await resolve(conn, args.job_id)
        handled = await handle(pool, job_id, Cancel(at=now(), reason=reason), operator())
    print(_outcome(job_id, handled))
    return 0


async def retry_command(args: argparse.Namespace) -> int:
    """Requeue with the kind's deadline afresh, as the API does."""
    if target := remote.target(args):
        from service.cli import remote_jobs

        return await remote_jobs.retry(args, target)
    async with connected(Settings.from_env()) as pool:
        async with pool.connection() as conn:
            job_id = await resolve(conn, args.job_id)
            state = await load(conn, job_id)
        at = now()
        command = Requeue(at=at, deadline=requeue_deadline(load_kinds(), state.kind, at))
        handled = await handle(pool, job_id, command, operator(), known=state)
    print(_outcome(job_id, handled))
    return 0


async def watch_command(args: argparse.Namespace) -> int:
    target = remote.target(args)
    if target is None:
        raise RemoteFailure(f"jobs watch follows a job over HTTP: set {remote.URL_ENV} and {remote.KEY_ENV}")
    from service.cli import remote_jobs

    return await remote_jobs.watch(args, target)


def _outcome(job_id: UUID, handled: Handled) -> str:
    state = handled.state
    if not handled.events:
        return f"{job_id}: already {state.status}; nothing changed"
    return f"{job_id}: now {state.status} (version {state.version})"


def _fields(job_id: UUID, s: JobState) -> list[tuple[str, object]]:
    return [
        ("job", job_id),
        ("status", s.status),
        ("outcome", s.outcome),
        ("owner", s.owner),
        ("kind", s.kind),
        ("params", msgspec.json.encode(s.params).decode()),
        ("version", s.version),
        ("progress", _percent(s) or None),
        ("runs", f"{s.processed_runs} of at most {s.max_runs}"),
        ("results", f"{s.processed_results}{_of(s.target_results, s.expected_results)}"),
        ("next run", s.next_run if s.status in (Status.PENDING, Status.PROCESSING) else None),
        ("attempts", s.attempts or None),
        ("last error", s.last_error),
        ("requeues", f"{s.requeues} of at most {s.max_requeues}"),
        ("created", _when(s.created_at)),
        ("started", _when(s.started_at)),
        ("finished", _when(s.finished_at)),
        ("deadline", _when(s.deadline)),
    ]


def _percent(s: JobState) -> str:
    """Empty when the job's size is unknown: its runs and results are in their own columns."""
    done = progress(s)
    return "" if done is None else f"{done:.1f}%"


def _of(target: int | None, expected: int | None) -> str:
    if target:
        return f" of {target}"
    return f" of {expected} expected" if expected is not None else ""


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


ID_HELP = "the job's id, or its start where no other job's begins alike (the database only)"


def register(subparsers) -> None:
    jobs = subparsers.add_parser(
        "jobs",
        help="list, show, create, cancel, retry and watch jobs",
        description="Every owner's jobs, for operators. Cancel and retry follow the API's rules and\n"
        "record the operator (cli:<user>) on the events. With JOBTRAIL_URL and JOBTRAIL_API_KEY\n"
        "(or --url and --key) they call that service instead, as the key's owner.\n\n"
        "example:\n  jobtrail jobs list --status error",
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
    listing.add_argument("--json", action="store_true", help="one JSON document, as GET /v1/jobs answers")
    remote.add_options(listing)
    show = add(
        actions,
        "show",
        show_command,
        "show one job's status",
        "Print a job's status row: owner, kind, params, progress, limits, times, last error.\n\n"
        "example:\n  jobtrail jobs show 0b7e2c3e-5a1f-4c59-9d0e-3f7b2a1c9e44",
    )
    show.add_argument("job_id", type=job_id_or_prefix, help=ID_HELP)
    show.add_argument("--json", action="store_true", help="the JSON document GET /v1/jobs/{id} answers")
    remote.add_options(show)
    create = add(
        actions,
        "create",
        create_command,
        "create a job",
        "Create a job of a kind, its params checked against the kind's schema; prints its id.\n"
        "On the database it is --owner's; over HTTP, the key's owner's.\n\n"
        "example:\n  jobtrail jobs create --owner acme --kind demo.count --params '{\"total\": 100}'",
    )
    create.add_argument("--kind", required=True, help="the kind of job")
    create.add_argument("--params", type=parse_params, default={}, help="the job's params, a JSON object")
    create.add_argument("--owner", type=owner_name, help="whose job (the database only)")
    create.add_argument("--target-results", type=positive, help="complete once this many results are in")
    create.add_argument("--max-runs", type=positive, help="runs at most (default: the kind's)")
    create.add_argument("--deadline-s", type=float, help="seconds until it times out (default: the kind's)")
    create.add_argument("--idempotency-key", help="over HTTP: the same key again returns the same job")
    remote.add_options(create)
    cancel = add(
        actions,
        "cancel",
        cancel_command,
        "cancel a pending or processing job",
        "Cancel a job that is pending or processing; cancelling a cancelled job changes nothing.\n"
        "A final job cannot be cancelled (exit 1).\n\n"
        "example:\n  jobtrail jobs cancel 0b7e2c3e-5a1f-4c59-9d0e-3f7b2a1c9e44 --reason 'source retired'",
    )
    cancel.add_argument("job_id", type=job_id_or_prefix, help=ID_HELP)
    cancel.add_argument("--reason", help="recorded on the event (default 'cancelled by operator'; the database only)")
    remote.add_options(cancel)
    retry = add(
        actions,
        "retry",
        retry_command,
        "requeue a job that failed or timed out",
        "Requeue a job in error or timeout, up to its max_requeues; it resumes at the run after\n"
        "the last recorded one, with its kind's deadline afresh. Any other status: exit 1.\n\n"
        "example:\n  jobtrail jobs retry 0b7e2c3e-5a1f-4c59-9d0e-3f7b2a1c9e44",
    )
    retry.add_argument("job_id", type=job_id_or_prefix, help=ID_HELP)
    remote.add_options(retry)
    watch = add(
        actions,
        "watch",
        watch_command,
        "follow a job live until it ends (over HTTP)",
        "Show a job's progress live (a bar on a terminal, a line per change elsewhere) until it\n"
        "completes, fails, times out or is cancelled. Exit 0 when it completed, else 1.\n"
        "Needs JOBTRAIL_URL and JOBTRAIL_API_KEY (or --url and --key).\n\n"
        "example:\n  jobtrail jobs watch 0b7e2c3e-5a1f-4c59-9d0e-3f7b2a1c9e44",
    )
    watch.add_argument("job_id", type=parse_job_id, help="the job's id")
    remote.add_options(watch)
