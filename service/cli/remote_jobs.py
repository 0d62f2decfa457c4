"""`jobtrail jobs …` and `jobtrail history` over HTTP, as the key's owner (see service/cli/remote.py).

Imported only when a command goes remote: it brings the client and httpx with it.
"""

import argparse
import io
import sys
from datetime import UTC, datetime

import msgspec
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from jobtrail.client import ENDINGS, Job
from projections.export import verify_export
from service.cli import NOT_VERIFIED, remote
from service.cli.history import some
from service.cli.job_ids import whole
from service.cli.remote import Remote
from service.cli.timeline import console, timeline_line, verdict

MAX_PAGE = 500


async def list_jobs(args: argparse.Namespace, target: Remote) -> int:
    if args.owner:
        remote.refuse("--owner", "a key lists its own owner's jobs (every owner's with audit:read)")
    async with remote.client(target) as api:
        found = api.list(status=args.status, kind=args.kind, page_size=min(args.limit + 1, MAX_PAGE))
        jobs = [job async for job in _first(found, args.limit + 1)]
    if args.json:
        print(msgspec.json.encode({"jobs": jobs[: args.limit], "next_cursor": None}).decode())
        return 0
    if not jobs:
        print("no jobs match")
        return 0
    header = f"{'job id':<36}  {'owner':<14} {'kind':<16} {'status':<10} {'runs':>5} {'results':>8} {'progress':>8}"
    print(f"{header}  {'created (UTC)':<19}  outcome")
    for job in jobs[: args.limit]:
        print(
            f"{job.id!s:<36}  {job.owner:<14} {job.kind:<16} {job.status:<10} {job.processed_runs:>5} "
            f"{job.processed_results:>8} {_percent(job):>8}  {_when(job.created_at):<19}  {job.outcome or ''}"
        )
    if len(jobs) > args.limit:
        print(f"(more jobs match; raise --limit above {args.limit} to see them)")
    return 0


async def show(args: argparse.Namespace, target: Remote) -> int:
    async with remote.client(target) as api:
        job = await api.get(whole(args.job_id))
    if args.json:
        print(msgspec.json.encode(job).decode())
        return 0
    for label, value in _fields(job):
        if value not in (None, ""):
            print(f"{label + ':':<13} {value}")
    print(f"\nits history: jobtrail history {job.id}")
    return 0


async def create(args: argparse.Namespace, target: Remote) -> int:
    if args.owner:
        remote.refuse("--owner", "a job created over HTTP belongs to the key's owner")
    async with remote.client(target) as api:
        job = await api.create(
            args.kind,
            args.params,
            target_results=args.target_results,
            max_runs=args.max_runs,
            deadline_s=args.deadline_s,
            idempotency_key=args.idempotency_key,
        )
    print(job.id)
    return 0


async def cancel(args: argparse.Namespace, target: Remote) -> int:
    if args.reason is not None:
        remote.refuse("--reason", "the API records its own reason ('cancelled by owner')")
    async with remote.client(target) as api:
        job = await api.cancel(whole(args.job_id))
    print(f"{job.id}: now {job.status} (version {job.version})")
    return 0


async def retry(args: argparse.Namespace, target: Remote) -> int:
    async with remote.client(target) as api:
        job = await api.retry(whole(args.job_id))
    print(f"{job.id}: now {job.status} (version {job.version})")
    return 0


async def watch(args: argparse.Namespace, target: Remote) -> int:
    """A live bar on a terminal (a line per change elsewhere) until the job ends; exit 0 if it completed."""
    last: Job | None = None
    async with remote.client(target) as api:
        if sys.stderr.isatty():
            columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"))
            with Progress(*columns, TimeElapsedColumn(), console=Console(file=sys.stderr)) as bar:
                task = bar.add_task(str(args.job_id)[:8], total=None, detail="")
                async for last in api.watch(args.job_id):
                    bar.update(task, completed=last.progress or 0, total=_total(last), detail=_detail(last))
                    if last.status in ENDINGS:
                        break
        else:
            async for last in api.watch(args.job_id):
                print(f"{last.id}: {_detail(last)}", file=sys.stderr, flush=True)
                if last.status in ENDINGS:
                    break
        if last is None:  # resumed after its end: nothing was left to send
            last = await api.get(args.job_id)
    print(f"{last.id}: {last.status}{f' ({last.outcome})' if last.outcome else ''}")
    return 0 if last.status == "completed" else 1


async def history(args: argparse.Namespace, target: Remote) -> int:
    """The timeline from the API's documents; --verify checks the chain here, on the export."""
    async with remote.client(target) as api:
        documents = await api.events(whole(args.job_id))
        export = await api.export(whole(args.job_id)) if args.json or args.verify else b""
    if args.json:
        lines = export.splitlines()[:-1]  # the last line is the chain head
        print("\n".join(line.decode() for line in some(lines, args)))
    else:
        out = console(args.color)
        for e in some(documents.events, args):
            out.print(timeline_line(e.version, e.recorded_at, e.type, e.data, e.provenance))
    if not args.verify:
        return 0
    report = verify_export(io.BytesIO(export))
    print(verdict(report), file=sys.stderr if args.json else sys.stdout)
    return 0 if report.ok else NOT_VERIFIED


async def _first(jobs, count: int):
    async for job in jobs:
        if count == 0:
            return
        count -= 1
        yield job


def _total(job: Job) -> float | None:
    return 100.0 if job.progress is not None else None


def _detail(job: Job) -> str:
    done = f"{job.status}, {job.processed_runs} runs, {job.processed_results} results"
    return f"{done}, {job.progress:.1f}%" if job.progress is not None else done


def _percent(job: Job) -> str:
    return f"{job.progress:.1f}%" if job.progress is not None else ""


def _fields(job: Job) -> list[tuple[str, object]]:
    target = f" of {job.target_results}" if job.target_results else ""
    if not target and job.expected_results is not None:
        target = f" of {job.expected_results} expected"
    return [
        ("job", job.id),
        ("status", job.status),
        ("outcome", job.outcome),
        ("owner", job.owner),
        ("kind", job.kind),
        ("params", msgspec.json.encode(job.params).decode()),
        ("version", job.version),
        ("progress", _percent(job)),
        ("runs", f"{job.processed_runs} of at most {job.max_runs}"),
        ("results", f"{job.processed_results}{target}"),
        ("attempts", job.attempts or None),
        ("last error", job.last_error),
        ("requeues", job.requeues or None),
        ("created", _when(job.created_at)),
        ("started", _when(job.started_at)),
        ("finished", _when(job.finished_at)),
        ("deadline", _when(job.deadline)),
    ]


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""
