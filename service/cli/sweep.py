"""`jobtrail sweep`: one sweep now, the one QStash's schedule asks the service for every minute."""

import argparse

import httpx
from qstash.errors import QStashError

from service.archive.policy import retention_policy
from service.archive.store import DirectoryStore
from service.audit.signing_key import load_signer
from service.cli.subcommand import add
from service.jobs.kinds import load_kinds
from service.qstash.client import qstash_client
from service.qstash.sweeper import Retention, sweep
from service.settings import Settings
from service.store.database import connected


class QStashUnreachable(Exception):
    """The rescue of stalled jobs needs QStash to say which messages it still holds."""


async def sweep_command(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    redispatch_after_s = args.redispatch_after or settings.redispatch_after_s
    client = None if args.timeouts_only else qstash_client(settings.token, settings.broker_url, local_broker=False)
    policy = retention_policy(settings, load_kinds())
    retention = Retention(policy, DirectoryStore(settings.archive_root), load_signer(settings)) if policy else None
    async with connected(settings) as pool:
        try:
            report = await sweep(pool, client, redispatch_after_s, retention=retention)
        except (httpx.HTTPError, QStashError) as error:
            raise QStashUnreachable(
                f"overdue jobs were timed out, but QStash at {settings.broker_url} could not say which "
                f"stalled jobs' messages it holds ({type(error).__name__}); --timeouts-only skips that"
            ) from None
    print(f"timed out {report.timed_out} overdue job(s); re-dispatched {report.redispatched} stalled job(s)")
    if report.archived:
        print(f"archived {report.archived.jobs} expired job(s); skipped {report.archived.skipped}")
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive number of seconds")
    return value


def register(subparsers) -> None:
    command = add(
        subparsers,
        "sweep",
        sweep_command,
        "time out overdue jobs and rescue stalled ones, once",
        "Run one sweep now: every active job past its deadline times out, and every job\n"
        "idle for --redispatch-after seconds whose message QStash no longer holds is sent\n"
        "again (that asks QStash: QSTASH_URL and QSTASH_TOKEN, or the local broker of a\n"
        "running `jobtrail serve`). Prints how many jobs each changed.\n\n"
        "example:\n  jobtrail sweep --redispatch-after 600",
    )
    command.add_argument(
        "--redispatch-after",
        "--stall-after",  # its old name
        type=_seconds,
        help="seconds an active job may stand still before its run is sent again"
        " (default JOBTRAIL_REDISPATCH_AFTER_S, 300)",
    )
    command.add_argument(
        "--timeouts-only", action="store_true", help="only time out overdue jobs; do not ask QStash about stalls"
    )
