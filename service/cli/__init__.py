"""The `jobtrail` command: one async handler per subcommand, errors as one line on stderr.

Each command's module (and what it imports: the app, the database pool, the broker) loads
only when that command runs, so `jobtrail --help`, `--version` and a mistyped command
answer at once. The table below is what `jobtrail --help` lists without loading them.
Exit statuses mean one thing each (docs/operations.md): the constants below.
"""

import argparse
import asyncio
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

OK, FAILED, USAGE, NOT_VERIFIED, INTERRUPTED = 0, 1, 2, 3, 130

# Every command, the module that declares and runs it, and its summary in `jobtrail --help`
# (a test holds each summary to the one its module gives).
COMMANDS: dict[str, tuple[str, str]] = {
    "migrate": ("database", "apply pending database migrations"),
    "projections": ("database", "rebuild or verify read models"),
    "demo": ("history", "drive synthetic jobs through their whole lifecycle"),
    "history": ("history", "print a job's event history"),
    "verify-export": ("history", "verify an exported history without a database"),
    "keys": ("keys", "manage API keys"),
    "serve": ("server", "run the HTTP service"),
    "qstash-dev": ("broker", "run a local QStash-compatible broker"),
    "jobs": ("jobs", "list, show, create, cancel, retry and watch jobs"),
    "schedules": ("schedules", "list, show, create, pause, resume, trigger and delete schedules (operators)"),
    "stats": ("stats", "job statistics and the health verdict"),
    "sweep": ("sweep", "time out overdue jobs and rescue stalled ones, once"),
    "archive": ("archive", "archive expired jobs into files, verify the files, restore one (retention)"),
    "audit": ("audit", "the signing key, checkpoints and checks of the audit log"),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    root = parser(_command_in(argv))
    if not argv:
        root.print_help()
        return USAGE
    args = root.parse_args(argv)
    try:
        with asyncio.Runner(loop_factory=_event_loop()) as runner:
            return runner.run(args.handler(args))
    except _expected_errors() as error:
        return _fail(str(error))
    except _database_errors() as error:
        return _fail(_database_failure(error))
    except KeyboardInterrupt:
        return INTERRUPTED


def parser(command: str | None = "") -> argparse.ArgumentParser:
    """The whole `jobtrail` parser; given a command, only that command's module is loaded.

    The other commands are placeholders with their summaries: enough for `jobtrail --help`
    and for argparse to name the valid choices. `command=""` (the default) loads them all.
    """
    from service.settings import default_data_dir

    root = argparse.ArgumentParser(
        prog="jobtrail",
        description="An event-sourced job state machine service.",
        epilog="DATABASE_URL unset means an embedded PostgreSQL under JOBTRAIL_DATA_DIR "
        f"(unset: {default_data_dir()}, whatever the working directory).\n"
        "Exit status: 0 done, 1 failed, 2 usage error, 3 a verification found a problem.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--version", action="version", version=f"jobtrail {_version()}")
    subparsers = root.add_subparsers(title="commands", required=True, metavar="COMMAND")
    wanted = COMMANDS[command][0] if command in COMMANDS else None
    loaded: set[str] = set()
    for name, (module, summary) in COMMANDS.items():
        if command != "" and module != wanted:
            subparsers.add_parser(name, help=summary, add_help=False)
        elif module not in loaded:
            importlib.import_module(f"service.cli.{module}").register(subparsers)
            loaded.add(module)
    return root


def _command_in(argv: Sequence[str]) -> str | None:
    """The command named in `argv` (the root takes no option with a value), if any."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _version() -> str:
    try:
        return version("jobtrail")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


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


def _expected_errors() -> tuple[type[BaseException], ...]:
    """The failures that end a command with one line; imported only when one happened."""
    from domain.errors import DomainError
    from domain.merkle import ProofError
    from projections.checkpoints import CheckpointError
    from projections.export import ExportError
    from projections.shadow_rebuild import RebuildInProgress
    from projections.table_swap import NotTwins
    from service.archive.archiver import ArchiveNotVerified
    from service.archive.restore import RestoreRefused
    from service.archive.verification import ArchiveMismatch
    from service.cli.demo import SharedWithService
    from service.cli.keys import UnknownKey
    from service.cli.remote import RemoteFailure
    from service.cli.server import CannotListen
    from service.cli.sweep import QStashUnreachable
    from service.settings import SettingsError
    from service.store.database import NotMigrated
    from service.store.embedded import EmbeddedPostgresError
    from service.store.migrate import MigrationError

    return (
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
        SharedWithService,
    )


def _database_errors() -> type[BaseException]:
    import psycopg

    return psycopg.Error


def _database_failure(error: BaseException) -> str:
    """What to say about a database error: its primary message only.

    A refused row's DETAIL ("Failing row contains (...)", "Key (...)=(...) already exists")
    quotes the row's values, a key's hash among them, so it is never shown.
    """
    import psycopg

    if isinstance(error, psycopg.OperationalError) and not getattr(error.diag, "sqlstate", None):
        return f"cannot connect to the database: {error}"
    primary = error.diag.message_primary if isinstance(error, psycopg.Error) else None
    return f"the database refused: {primary or type(error).__name__}"


def _fail(message: str) -> int:
    from service.store.database import redact

    print(f"jobtrail: error: {_one_line(redact(message))}", file=sys.stderr)
    return FAILED


def _one_line(message: str) -> str:
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())
