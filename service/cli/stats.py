"""`jobtrail stats`: job counts, failure rate, stuck jobs, backlog, lag and the health verdict.

On the database it reads every owner's jobs (or --owner's) in one snapshot, as
`GET /v1/stats` does, without what only a running service knows (QStash's state and
the deliveries' self-probe). Over HTTP it is that route's answer for the key.
"""

import argparse
from typing import Any

import msgspec

from service.api.stats import DEFAULT_WINDOW_S, StatsReport, stats_report
from service.cli import remote
from service.cli.subcommand import add, positive
from service.settings import Settings
from service.store.database import connected


async def stats_command(args: argparse.Namespace) -> int:
    if target := remote.target(args):
        if args.owner:
            remote.refuse("--owner", "a key sees its own owner's jobs (every owner's with audit:read)")
        async with remote.client(target) as api:
            report: Any = await api.stats(window_s=args.window_s, stuck_after_s=args.stuck_after_s)
    else:
        report = await _from_database(args)
    if args.json:
        print(msgspec.json.encode(report).decode())
    else:
        print("\n".join(summary(report)))
    return 0


async def _from_database(args: argparse.Namespace) -> StatsReport:
    settings = Settings.from_env()
    threshold = args.stuck_after_s or settings.report_stuck_after_s
    async with connected(settings) as pool, pool.connection() as conn:
        return await stats_report(conn, args.owner, args.window_s, threshold)


def summary(report: Any) -> list[str]:
    """The report for people; `report` is the service's StatsReport or the client's Stats (same fields)."""
    whose = f"{report.owner}'s jobs" if report.owner else "every owner's jobs"
    rate = report.finished.failure_rate
    lines = [
        f"verdict:     {report.verdict}" + "".join(f"\n  - {reason}" for reason in report.reasons),
        f"window:      the last {report.window_s} s, {whose}",
        f"created:     {report.jobs.total}"
        + "".join(f", {status} {count}" for status, count in sorted(report.jobs.by_status.items())),
        f"finished:    {report.finished.total}, {report.finished.failed} failed"
        + (f" ({rate:.0%})" if rate is not None else ""),
        f"stuck:       {report.stuck.count} processing for over {report.stuck_after_s:.0f} s",
        f"outbox:      {report.outbox.unsent} unsent, the oldest {report.outbox.oldest_age_s:.0f} s old",
        f"stats lag:   {report.projection_lag.events} events, {report.projection_lag.seconds:.1f} s",
    ]
    if report.archived is not None:
        lines.append(f"archived:    {report.archived} jobs in all")
    for kind, durations in sorted(report.finished.durations_by_kind.items()):
        times = f"avg {durations.avg_s:.1f} s, p95 {durations.p95_s:.1f} s"
        lines.append(f"  {kind}: {durations.completed} completed, {times}")
    return lines


def register(subparsers) -> None:
    parser = add(
        subparsers,
        "stats",
        stats_command,
        "job statistics and the health verdict",
        "Jobs created and finished in a window, the failure rate, stuck jobs, the outbox backlog,\n"
        "the stats projection's lag and the health verdict, as GET /v1/stats reports them.\n"
        "With JOBTRAIL_URL and JOBTRAIL_API_KEY (or --url and --key): that service's, for the key.\n\n"
        "example:\n  jobtrail stats --window-s 86400",
    )
    parser.add_argument("--window-s", type=positive, default=DEFAULT_WINDOW_S, help="seconds back (default 3600)")
    parser.add_argument("--stuck-after-s", type=positive, help="processing this long is stuck (default: the setting)")
    parser.add_argument("--owner", help="only this owner's jobs (the database only)")
    parser.add_argument("--json", action="store_true", help="the report as JSON")
    remote.add_options(parser)
