"""`jobtrail schedules`: list, show, create, pause, resume, trigger and delete any owner's
schedules, as an operator.

Every change is the API's domain command, decided by the schedule's lifecycle through the
same handler; only the actor differs (`cli:<user>` on the events). `create` names the owner
the schedule's jobs belong to, and checks kind, params and limits as the API does. A
refused command is the domain's one-line error and exit status 1.
"""

import argparse
import uuid
from datetime import UTC, datetime

import msgspec

from domain.errors import InvalidCommand
from domain.schedule.commands import (
    AnyScheduleCommand,
    CreateSchedule,
    DeleteSchedule,
    PauseSchedule,
    ResumeSchedule,
    TriggerSchedule,
)
from domain.schedule.cron import describe
from domain.schedule.errors import InvalidSchedule, ScheduleNotFound
from domain.schedule.jobs import job_command
from domain.schedule.lifecycle import ScheduleStatus
from domain.schedule.policies import CatchUp, Overlap
from domain.schedule.state import ScheduleState, upcoming
from projections import schedules
from service.cli import remote
from service.cli.jobs import operator
from service.cli.remote import RemoteFailure
from service.cli.subcommand import add, owner_name, parse_params, positive
from service.clock import now
from service.jobs.kinds import InvalidParams, UnknownKind, load_kinds, lookup, validate_params
from service.schedules.command_handler import ScheduleHandled, handle
from service.settings import Settings
from service.store.database import connected

NEXT_FIRES = 5


def parse_schedule_id(text: str) -> uuid.UUID:
    """An argument type: a schedule's id."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a schedule id (a UUID)") from None


def parse_end(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO 8601 time (e.g. 2030-01-01T00:00:00Z)") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"'{text}' needs a UTC offset (e.g. 2030-01-01T00:00:00Z)")
    return moment


async def list_command(args: argparse.Namespace) -> int:
    if target := remote.target(args):
        from service.cli import remote_schedules

        return await remote_schedules.list_schedules(args, target)
    async with connected(Settings.from_env()) as pool, pool.connection() as conn:
        rows = await schedules.page(conn, owner=args.owner, status=args.status, kind=args.kind, limit=args.limit + 1)
    if not rows:
        print("no schedules match")
        return 0
    at = now()
    print(f"{'schedule id':<36}  {'owner':<14} {'kind':<16} {'status':<8} {'jobs':>5}  {'next fire (UTC)':<19}  cron")
    for schedule_id, s in rows[: args.limit]:
        fires = upcoming(s, at, 1)
        following = _when(fires[0].utc) if fires else ""
        print(
            f"{schedule_id!s:<36}  {s.owner:<14} {s.kind:<16} {s.status!s:<8} {s.jobs_created:>5}  "
            f"{following:<19}  {s.cron} ({s.time_zone})"
        )
    if len(rows) > args.limit:
        print(f"(more schedules match; raise --limit above {args.limit} to see them)")
    return 0


async def show_command(args: argparse.Namespace) -> int:
    if target := remote.target(args):
        from service.cli import remote_schedules

        return await remote_schedules.show(args, target)
    async with connected(Settings.from_env()) as pool, pool.connection() as conn:
        state = await schedules.load(conn, args.schedule_id)
    if state.status is None:
        raise ScheduleNotFound()
    for label, value in _fields(args.schedule_id, state):
        if value not in (None, ""):
            print(f"{label + ':':<15} {value}")
    fires = upcoming(state, now(), NEXT_FIRES)
    if fires:
        print("next fires:")
        for fire in fires:
            print(f"  {fire.local.isoformat()}  ({_when(fire.utc)} UTC)")
    print(f"\nits history: jobtrail history {args.schedule_id}")
    return 0


async def create_command(args: argparse.Namespace) -> int:
    if target := remote.target(args):
        from service.cli import remote_schedules

        return await remote_schedules.create(args, target)
    if not args.owner:
        raise RemoteFailure("--owner is required on the database: whose schedule it is")
    kinds = load_kinds()
    try:
        kind = lookup(kinds, args.kind)
        params = validate_params(kind, args.params)
    except (UnknownKind, InvalidParams) as error:
        raise InvalidCommand(str(error)) from None
    at = now()
    command = CreateSchedule(
        at=at,
        owner=args.owner,
        kind=kind.name,
        params=params,
        max_runs=args.max_runs,
        cron=args.cron,
        time_zone=args.time_zone,
        overlap=Overlap(args.overlap),
        catch_up=CatchUp(args.catch_up),
        end_at=args.end_at,
        paused=args.paused,
    )
    if args.max_runs is not None and args.max_runs > kind.config.max_runs:
        raise InvalidSchedule(
            "max_runs", f"max_runs {args.max_runs} exceeds the kind's limit of {kind.config.max_runs}"
        )
    job_command(command, kind.config, at)
    schedule_id = uuid.uuid4()
    async with connected(Settings.from_env()) as pool:
        handled = await handle(pool, schedule_id, command, operator(), kinds)
    print(f"{schedule_id}: created, {handled.state.status}: {describe(handled.state.cron)} ({handled.state.time_zone})")
    return 0


async def pause_command(args: argparse.Namespace) -> int:
    if target := remote.target(args):
        from service.cli import remote_schedules

        return await remote_schedules.act(args, target, "pause")
    return await _command(args.schedule_id, PauseSchedule(at=now()))


async def resume_command(args: argparse.Namespace) -> int:
    if target := remote.target(args):
        from service.cli import remote_schedules

        return await remote_schedules.act(args, target, "resume")
    return await _command(args.schedule_id, ResumeSchedule(at=now()))


async def delete_command(args: argparse.Namespace) -> int:
    if target := remote.target(args):
        from service.cli import remote_schedules

        return await remote_schedules.act(args, target, "delete")
    return await _command(args.schedule_id, DeleteSchedule(at=now()))


async def trigger_command(args: argparse.Namespace) -> int:
    if target := remote.target(args):
        from service.cli import remote_schedules

        return await remote_schedules.act(args, target, "trigger")
    async with connected(Settings.from_env()) as pool:
        handled = await handle(
            pool, args.schedule_id, TriggerSchedule(at=now(), job_id=uuid.uuid4()), operator(), load_kinds()
        )
    if handled.job is not None:
        print(f"{args.schedule_id}: fired by hand; job {handled.job.job_id} created")
        return 0
    reasons = [str(reason) for e in handled.events if (reason := getattr(e, "reason", None))]
    print(f"{args.schedule_id}: fired by hand; no job ({', '.join(reasons) or 'nothing decided'})")
    return 0


async def _command(schedule_id: uuid.UUID, command: AnyScheduleCommand) -> int:
    async with connected(Settings.from_env()) as pool:
        handled = await handle(pool, schedule_id, command, operator(), load_kinds())
    print(_outcome(schedule_id, handled))
    return 0


def _outcome(schedule_id: uuid.UUID, handled: ScheduleHandled) -> str:
    state = handled.state
    if not handled.events:
        return f"{schedule_id}: already {state.status}; nothing changed"
    return f"{schedule_id}: now {state.status} (version {state.version})"


def _fields(schedule_id: uuid.UUID, s: ScheduleState) -> list[tuple[str, object]]:
    return [
        ("schedule", schedule_id),
        ("status", s.status),
        ("owner", s.owner),
        ("kind", s.kind),
        ("params", msgspec.json.encode(s.params).decode()),
        ("cron", f"{s.cron}  ({describe(s.cron)})"),
        ("time zone", s.time_zone),
        ("overlap", s.overlap),
        ("catch-up", s.catch_up),
        ("end", _when(s.end_at)),
        ("max runs", s.max_runs),
        ("target results", s.target_results),
        ("deadline (s)", s.deadline_s),
        ("jobs created", s.jobs_created),
        ("ticks skipped", s.ticks_skipped or None),
        ("last tick", _when(s.last_tick)),
        ("last job", s.last_job_id),
        ("version", s.version),
        ("created", _when(s.created_at)),
        ("updated", _when(s.updated_at)),
    ]


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "schedules",
        help="list, show, create, pause, resume, trigger and delete schedules (operators)",
        description="Every owner's schedules, for operators. Changes follow the API's rules and record\n"
        "the operator (cli:<user>) on the events. With JOBTRAIL_URL and JOBTRAIL_API_KEY (or\n"
        "--url and --key) they call that service instead, as the key's owner.\n\n"
        "example:\n  jobtrail schedules list --status paused",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(title="actions", required=True, metavar="ACTION")
    listing = add(
        actions,
        "list",
        list_command,
        "list schedules, newest first",
        "List schedules of every owner, newest first, with their next fire.\n\n"
        "example:\n  jobtrail schedules list --owner acme --limit 20",
    )
    listing.add_argument("--status", choices=[str(s) for s in ScheduleStatus], help="only schedules in this status")
    listing.add_argument("--kind", help="only schedules of this kind")
    listing.add_argument("--owner", help="only this owner's schedules")
    listing.add_argument("--limit", type=positive, default=50, help="at most this many (default 50)")
    remote.add_options(listing)
    show = add(
        actions,
        "show",
        show_command,
        "show one schedule and its next fires",
        "Print a schedule: its job, cron in words, time zone, policies, counts and next five fires.\n\n"
        "example:\n  jobtrail schedules show 0b7e2c3e-5a1f-4c59-9d0e-3f7b2a1c9e44",
    )
    show.add_argument("schedule_id", type=parse_schedule_id, help="the schedule's id")
    remote.add_options(show)
    create = add(
        actions,
        "create",
        create_command,
        "create a schedule for an owner",
        "Create a schedule whose ticks create jobs owned by --owner. Kind, params and limits are\n"
        "checked as the API checks them.\n\n"
        "example:\n  jobtrail schedules create --owner acme --kind demo.count --cron '30 2 * * *' \\\n"
        "      --time-zone Europe/Berlin --params '{\"total\": 40}'",
    )
    create.add_argument("--owner", type=owner_name, help="whose schedule, and whose its jobs are (the database only)")
    create.add_argument("--kind", required=True, help="the kind of job each tick creates")
    create.add_argument("--cron", required=True, help="five fields: minute hour day-of-month month day-of-week")
    create.add_argument("--time-zone", default="UTC", help="the IANA zone the cron reads (default UTC)")
    create.add_argument("--params", type=parse_params, default={}, help="the job's params, a JSON object")
    create.add_argument("--max-runs", type=positive, help="each job's runs at most (default: the kind's)")
    create.add_argument("--overlap", choices=[str(o) for o in Overlap], default=str(Overlap.SKIP))
    create.add_argument("--catch-up", choices=[str(c) for c in CatchUp], default=str(CatchUp.LATEST_ONCE))
    create.add_argument("--end-at", type=parse_end, help="no tick after this time (ISO 8601 with an offset)")
    create.add_argument("--paused", action="store_true", help="create it paused")
    remote.add_options(create)
    for name, handler, summary, description in (
        ("pause", pause_command, "pause a schedule", "Its ticks create no job until it is resumed."),
        ("resume", resume_command, "resume a paused schedule", "It fires again from its next tick."),
        ("trigger", trigger_command, "fire a schedule now, once", "Creates one job now, the overlap policy applying."),
        ("delete", delete_command, "delete a schedule", "It fires no more; its history and jobs stay."),
    ):
        action = add(
            actions,
            name,
            handler,
            summary,
            f"{description}\n\nexample:\n  jobtrail schedules {name} 0b7e2c3e-5a1f-4c59-9d0e-3f7b2a1c9e44",
        )
        action.add_argument("schedule_id", type=parse_schedule_id, help="the schedule's id")
        remote.add_options(action)
