"""The `jobtrail` command: one async handler per subcommand, errors as one line on stderr."""

import argparse
import asyncio
import sys
from collections.abc import Sequence

import psycopg

from domain.errors import DomainError
from domain.merkle import ProofError
from projections.checkpoints import CheckpointError
from projections.export import ExportError
from projections.shadow_rebuild import RebuildInProgress
from projections.table_swap import NotTwins
from service.archive.archiver import ArchiveNotVerified
from service.archive.restore import RestoreRefused
from service.archive.verification import ArchiveMismatch
from service.cli import (
    archive,
    audit,
    broker,
    database,
    history,
    jobs,
    keys,
    schedules,
    server,
    stats,
    sweep,
)
from service.cli.keys import UnknownKey
from service.cli.remote import RemoteFailure
from service.cli.server import CannotListen
from service.cli.sweep import QStashUnreachable
from service.settings import SettingsError, default_data_dir
from service.store.database import NotMigrated, redact
from service.store.embedded import EmbeddedPostgresError
from service.store.migrate import MigrationError

_EXPECTED_ERRORS = (
    SettingsError,
    MigrationError,
    EmbeddedPostgresError,
    NotMigrated,
    DomainError,
    UnknownKey,
    ExportError,
    CheckpointError,
    ProofError,
    OSError,
    QStashUnreachable,
    RebuildInProgress,
    NotTwins,
    CannotListen,
    RemoteFailure,
    ArchiveNotVerified,
    ArchiveMismatch,
    RestoreRefused,
)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        with asyncio.Runner(loop_factory=_event_loop()) as runner:
            return runner.run(args.handler(args))
    except _EXPECTED_ERRORS as error:
        return _fail(str(error))
    except psycopg.OperationalError as error:
        return _fail(f"cannot connect to the database: {error}")
    except psycopg.Error as error:
        return _fail(f"the database refused: {error}")
    except KeyboardInterrupt:
        return 130


def _event_loop():
    """uvloop's loop factory where uvloop exists (not on Windows), else asyncio's default.

    A delivery's HTTP hops and database round trips are mostly event loop work: on
    uvloop, `jobtrail serve` spends about a third less CPU per continuation (bench/).
    """
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="jobtrail",
        description="An event-sourced job state machine service.",
        epilog="DATABASE_URL unset means an embedded PostgreSQL under JOBTRAIL_DATA_DIR "
        f"(unset: {default_data_dir()}, whatever the working directory).",
    )
    subparsers = root.add_subparsers(title="commands", required=True, metavar="COMMAND")
    database.register(subparsers)
    audit.register(subparsers)
    history.register(subparsers)
    keys.register(subparsers)
    server.register(subparsers)
    broker.register(subparsers)
    jobs.register(subparsers)
    schedules.register(subparsers)
    stats.register(subparsers)
    sweep.register(subparsers)
    archive.register(subparsers)
    return root


def _fail(message: str) -> int:
    print(f"jobtrail: error: {_one_line(redact(message))}", file=sys.stderr)
    return 1


def _one_line(message: str) -> str:
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())
