"""Apply the numbered SQL files in `migrations/`, each exactly once, in order.

The files are package data of the `migrations` package, read through importlib.resources,
so a checkout, an editable install and a wheel all find the same ones. Finding none is an
error, never "up to date": it means a broken install, and a service on an empty schema
would fail every request.

Concurrency: every runner takes one session-level advisory lock before it even looks at
`schema_migrations`, so processes starting together (several replicas on a deploy) queue
up; the first applies what is pending and the others then find nothing to do. Each file
runs in its own transaction together with the row that records it, so a failed file
leaves neither its changes nor its record behind and the next run retries it.

A file is sent as one simple query (no parameters), so it may hold many statements and
plpgsql `$$` bodies. It must not contain transaction control (BEGIN/COMMIT) nor
statements that refuse to run in a transaction (CREATE INDEX CONCURRENTLY).

Applied versions with no file here are tolerated: during a rolling deploy an older
release meets migrations that a newer one applied.
"""

import hashlib
import importlib.resources
import re
from importlib.resources.abc import Traversable

import msgspec
import psycopg

PACKAGE = "migrations"

LOCK_KEY = 7669456942709959020  # b"jobtrail" as a bigint; any fixed key shared by all runners

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_[a-z0-9_]+\.sql$")

# The runner's own bookkeeping, the one table created outside migrations/: it must exist
# before the first migration can be recorded.
CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
LOCK = "SELECT pg_advisory_lock(%(key)s)"
UNLOCK = "SELECT pg_advisory_unlock(%(key)s)"
SCHEMA_MIGRATIONS_EXISTS = "SELECT to_regclass('schema_migrations') IS NOT NULL"
SELECT_APPLIED = "SELECT version, checksum FROM schema_migrations"
RECORD_APPLIED = """
INSERT INTO schema_migrations (version, name, checksum)
VALUES (%(version)s, %(name)s, %(checksum)s)
"""


class MigrationError(Exception):
    """No migrations to read, or the ones on disk and the ones recorded in the database disagree."""


class Migration(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    name: str
    sql: str
    checksum: str


def packaged() -> Traversable:
    """The installed migrations: the `migrations` package's directory."""
    try:
        return importlib.resources.files(PACKAGE)
    except ModuleNotFoundError:
        raise MigrationError(
            f"no migrations found: the package '{PACKAGE}' is not installed (reinstall jobtrail)"
        ) from None


async def migrate(conninfo: str, *, directory: Traversable | None = None) -> list[str]:
    """Apply pending migrations; return the names of those applied (empty when up to date)."""
    migrations = read_migrations(packaged() if directory is None else directory)
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute(LOCK, {"key": LOCK_KEY})
        try:
            await conn.execute(CREATE_SCHEMA_MIGRATIONS)
            todo = _pending(migrations, await _applied(conn))
            for migration in todo:
                await _apply(conn, migration)
            return [migration.name for migration in todo]
        finally:
            if not conn.broken:  # a lost session has released its lock already
                await conn.execute(UNLOCK, {"key": LOCK_KEY})


async def pending(conninfo: str, *, directory: Traversable | None = None) -> list[str]:
    """Names of migrations not yet applied; read-only, for readiness checks."""
    migrations = read_migrations(packaged() if directory is None else directory)
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        cursor = await conn.execute(SCHEMA_MIGRATIONS_EXISTS)
        row = await cursor.fetchone()
        assert row is not None
        (exists,) = row
        applied = await _applied(conn) if exists else {}
    return [migration.name for migration in _pending(migrations, applied)]


def read_migrations(directory: Traversable) -> list[Migration]:
    """Every `NNNN_name.sql` in `directory`, ordered by version; none at all is an error."""
    files = sorted((entry for entry in directory.iterdir() if entry.name.endswith(".sql")), key=lambda f: f.name)
    if not files:
        raise MigrationError(f"no migrations found in {directory} (an incomplete install? reinstall jobtrail)")
    migrations = [_read(path) for path in files]
    versions = [migration.version for migration in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version number in {directory}")
    return migrations


def _read(path: Traversable) -> Migration:
    match = _FILE_NAME.match(path.name)
    if match is None:
        raise MigrationError(f"migration file name is not NNNN_name.sql: {path.name}")
    content = path.read_bytes()
    return Migration(
        version=int(match["version"]),
        name=path.name,
        sql=content.decode("utf-8"),
        checksum=hashlib.sha256(content).hexdigest(),
    )


async def _applied(conn: psycopg.AsyncConnection) -> dict[int, str]:
    cursor = await conn.execute(SELECT_APPLIED)
    return dict(await cursor.fetchall())


def _pending(migrations: list[Migration], applied: dict[int, str]) -> list[Migration]:
    """Migrations not yet applied, after refusing any applied file that was edited since."""
    for migration in migrations:
        checksum = applied.get(migration.version)
        if checksum is not None and checksum != migration.checksum:
            raise MigrationError(
                f"migration {migration.name} was changed after it was applied "
                "(checksum differs); add a new migration instead of editing it"
            )
    return [migration for migration in migrations if migration.version not in applied]


async def _apply(conn: psycopg.AsyncConnection, migration: Migration) -> None:
    async with conn.transaction():
        await conn.execute(migration.sql)
        await conn.execute(RECORD_APPLIED, _record(migration))


def _record(migration: Migration) -> dict[str, object]:
    return {"version": migration.version, "name": migration.name, "checksum": migration.checksum}
