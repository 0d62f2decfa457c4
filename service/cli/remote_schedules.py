"""`jobtrail schedules …` over HTTP, as the key's owner (see service/cli/remote.py).

Imported only when a command goes remote: it brings the client and httpx with it.
"""

import argparse
from datetime import UTC, datetime

import msgspec

from jobtrail.client import Schedule
from service.cli import remote
from service.cli.remote import Remote

MAX_PAGE = 500


async def list_schedules(args: argparse.Namespace, target: Remote) -> int:
    if args.owner:
        remote.refuse("--owner", "a key lists its own owner's schedules (every owner's with audit:read)")
    found: list[Schedule] = []
    async with remote.client(target) as api:
        async for schedule in api.list_schedules(
            status=args.status, kind=args.kind, page_size=min(args.limit + 1, MAX_PAGE)
        ):
            found.append(schedule)
            if len(found) > args.limit:
                break
    if not found:
        print("no schedules match")
        return 0
    print(f"{'schedule id':<36}  {'owner':<14} {'kind':<16} {'status':<8} {'jobs':>5}  {'next fire (UTC)':<19}  cron")
    for s in found[: args.limit]:
        following = _when(s.next_fires[0].utc) if s.next_fires else ""
        print(
            f"{s.id!s:<36}  {s.owner:<14} {s.kind:<16} {s.status:<8} {s.jobs_created:>5}  "
            f"{following:<19}  {s.cron} ({s.time_zone})"
        )
    if len(found) > args.limit:
        print(f"(more schedules match; raise --limit above {args.limit} to see them)")
    return 0


async def show(args: argparse.Namespace, target: Remote) -> int:
    async with remote.client(target) as api:
        s = await api.get_schedule(args.schedule_id)
    fields = [
        ("schedule", s.id),
        ("status", s.status),
        ("owner", s.owner),
        ("kind", s.kind),
        ("params", msgspec.json.encode(s.params).decode()),
        ("cron", f"{s.cron}  ({s.description})"),
        ("overlap", s.overlap),
        ("catch-up", s.catch_up),
        ("end", _when(s.end_at)),
        ("max runs", s.max_runs),
        ("jobs created", s.jobs_created),
        ("last job", s.last_job_id),
        ("version", s.version),
    ]
    for label, value in fields:
        if value not in (None, ""):
            print(f"{label + ':':<15} {value}")
    if s.next_fires:
        print("next fires:")
        for fire in s.next_fires:
            print(f"  {fire.local.isoformat()}  ({_when(fire.utc)} UTC)")
    return 0


async def create(args: argparse.Namespace, target: Remote) -> int:
    if args.owner:
        remote.refuse("--owner", "a schedule created over HTTP belongs to the key's owner")
    async with remote.client(target) as api:
        s = await api.create_schedule(
            args.kind,
            args.params,
            cron=args.cron,
            time_zone=args.time_zone,
            overlap=args.overlap,
            catch_up=args.catch_up,
            end_at=args.end_at,
            paused=args.paused,
            max_runs=args.max_runs,
        )
    print(f"{s.id}: created, {s.status}: {s.description}")
    return 0


async def act(args: argparse.Namespace, target: Remote, action: str) -> int:
    """pause, resume, delete or trigger."""
    async with remote.client(target) as api:
        if action == "trigger":
            fired = await api.trigger_schedule(args.schedule_id)
            job = f"job {fired.job.id} created" if fired.job else f"no job ({fired.reason})"
            print(f"{fired.schedule.id}: fired by hand; {job}")
            return 0
        change = {"pause": api.pause_schedule, "resume": api.resume_schedule, "delete": api.delete_schedule}[action]
        s = await change(args.schedule_id)
    print(f"{s.id}: now {s.status} (version {s.version})")
    return 0


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""
