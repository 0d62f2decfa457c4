"""The migration runner: idempotent, safe under concurrent runners, strict about edits."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from service.store.migrate import MigrationError, migrate, packaged, pending, read_migrations

SAMPLE_DIR = Path(__file__).with_name("sample_migrations")
DIRECTORIES = [
    pytest.param(packaged(), id="project-migrations"),
    pytest.param(SAMPLE_DIR, id="sample-migrations"),
]

pytestmark = [pytest.mark.anyio, pytest.mark.db]

SCHEMA_QUERIES = {
    "columns": """
        SELECT table_name, column_name, data_type, is_nullable, column_default
        FROM information_schema.columns WHERE table_schema = 'public'
        ORDER BY 1, 2
    """,
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = 'public' ORDER BY 1, 2
    """,
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = 'public' ORDER BY 1, 2
    """,
    "triggers": """
        SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND NOT t.tgisinternal ORDER BY 1, 2
    """,
    "functions": """
        SELECT p.proname, pg_get_functiondef(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' ORDER BY 1, 2
    """,
}
SELECT_RECORDED = "SELECT version, name FROM schema_migrations ORDER BY version"

# Run by each concurrent runner: argv = conninfo, directory; prints the names it applied.
RUNNER = """
import asyncio, json, sys
from pathlib import Path
from service.store.migrate import migrate
print(json.dumps(asyncio.run(migrate(sys.argv[1], directory=Path(sys.argv[2])))))
"""


@pytest.mark.parametrize("directory", DIRECTORIES)
async def test_two_runs_give_the_same_schema_as_one(empty_database_url, directory):
    names = [migration.name for migration in read_migrations(directory)]

    assert await migrate(empty_database_url, directory=directory) == names
    once = await _schema(empty_database_url)
    assert await migrate(empty_database_url, directory=directory) == []

    assert await _schema(empty_database_url) == once


@pytest.mark.parametrize("directory", DIRECTORIES)
async def test_four_concurrent_runs_apply_each_migration_exactly_once(empty_database_url, directory):
    runners = [
        subprocess.Popen(
            [sys.executable, "-c", RUNNER, empty_database_url, str(directory)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [runner.communicate(timeout=60) for runner in runners]

    assert [runner.returncode for runner in runners] == [0] * 4, outputs
    applied = sorted(name for stdout, _ in outputs for name in json.loads(stdout))
    names = [migration.name for migration in read_migrations(directory)]
    assert applied == names
    assert await _recorded(empty_database_url) == names


async def test_an_edited_migration_is_refused_by_name(empty_database_url, tmp_path):
    directory = shutil.copytree(SAMPLE_DIR, tmp_path / "migrations")
    await migrate(empty_database_url, directory=directory)
    edited = directory / "0001_append_only_log.sql"
    edited.write_text(edited.read_text() + "\n-- edited after release\n")

    with pytest.raises(MigrationError, match="0001_append_only_log.sql was changed"):
        await migrate(empty_database_url, directory=directory)
    with pytest.raises(MigrationError, match="0001_append_only_log.sql was changed"):
        await pending(empty_database_url, directory=directory)


async def test_no_migrations_at_all_is_an_error_not_up_to_date(empty_database_url, tmp_path):
    """An install that lost its SQL files must not report an empty schema as current."""
    for run in (migrate, pending):
        with pytest.raises(MigrationError, match="no migrations found in"):
            await run(empty_database_url, directory=tmp_path)
    assert await _schema(empty_database_url) == {name: [] for name in SCHEMA_QUERIES}


async def test_pending_lists_what_migrate_would_apply_without_writing(empty_database_url):
    names = [migration.name for migration in read_migrations(SAMPLE_DIR)]

    assert await pending(empty_database_url, directory=SAMPLE_DIR) == names
    assert await _schema(empty_database_url) == {name: [] for name in SCHEMA_QUERIES}
    await migrate(empty_database_url, directory=SAMPLE_DIR)
    assert await pending(empty_database_url, directory=SAMPLE_DIR) == []


async def test_a_failing_migration_leaves_no_trace_and_is_retried(empty_database_url, tmp_path):
    directory = shutil.copytree(SAMPLE_DIR, tmp_path / "migrations")
    broken = directory / "0003_broken.sql"
    broken.write_text("CREATE TABLE half_done (id int);\nSELECT no_such_function();\n")

    with pytest.raises(psycopg.errors.UndefinedFunction):
        await migrate(empty_database_url, directory=directory)
    assert await _recorded(empty_database_url) == ["0001_append_only_log.sql", "0002_status.sql"]
    broken.write_text("CREATE TABLE half_done (id int);\n")
    assert await migrate(empty_database_url, directory=directory) == ["0003_broken.sql"]


async def test_each_test_database_starts_fully_migrated(pool):
    async with pool.connection() as conn:
        recorded = await (await conn.execute(SELECT_RECORDED)).fetchall()

    assert [name for _, name in recorded] == [m.name for m in read_migrations(packaged())]


async def _schema(conninfo: str) -> dict[str, list[tuple]]:
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        return {name: await (await conn.execute(query)).fetchall() for name, query in SCHEMA_QUERIES.items()}


async def _recorded(conninfo: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        return [name for _, name in await (await conn.execute(SELECT_RECORDED)).fetchall()]
