"""Migration 0022: progress becomes nullable in job_status and its twin, and rows the old
rule gave runs against max_runs lose that figure, as a rebuild from the log would write."""

import shutil
import uuid

import psycopg
import pytest
from psycopg import sql

from service.store.migrate import migrate, packaged

pytestmark = [pytest.mark.anyio, pytest.mark.db]

NULLABLE = """
SELECT table_name, is_nullable FROM information_schema.columns
 WHERE column_name = 'progress' AND table_name IN ('job_status', 'job_status_shadow') ORDER BY 1
"""
OLD_ROW = sql.SQL("""
INSERT INTO {table} (stream_id, owner, kind, status, version, processed_runs, processed_results,
                     target_results, max_runs, progress, attempts, created_at, updated_at, state)
VALUES (%(stream_id)s, 'acme', 'demo.count', %(status)s, 3, 1, 20, %(target)s, 4, %(progress)s, 0, now(), now(), '{{}}')
""")
PROGRESS = sql.SQL("SELECT progress FROM {table} WHERE stream_id = %s")
# (status, target_results, progress before, progress after)
ROWS = [
    ("processing", None, 25.0, None),  # runs against max_runs: meaningless, gone
    ("error", None, 50.0, None),
    ("processing", 80, 25.0, 25.0),  # results against the target: kept
    ("completed", None, 100.0, 100.0),  # done is done
]


async def test_progress_without_a_target_becomes_null_in_both_twins(empty_database_url, tmp_path):
    for migration in packaged().iterdir():
        if migration.name.endswith(".sql") and migration.name < "0022":
            shutil.copy(str(migration), tmp_path / migration.name)
    await migrate(empty_database_url, directory=tmp_path)
    ids = {table: [uuid.uuid4() for _ in ROWS] for table in ("job_status", "job_status_shadow")}
    async with await psycopg.AsyncConnection.connect(empty_database_url, autocommit=True) as conn:
        for table, stream_ids in ids.items():
            for stream_id, (status, target, before, _) in zip(stream_ids, ROWS, strict=True):
                values = {"stream_id": stream_id, "status": status, "target": target, "progress": before}
                await conn.execute(OLD_ROW.format(table=sql.Identifier(table)), values)
    assert await migrate(empty_database_url) == ["0022_progress_nullable.sql"]
    async with await psycopg.AsyncConnection.connect(empty_database_url) as conn:
        assert await (await conn.execute(NULLABLE)).fetchall() == [("job_status", "YES"), ("job_status_shadow", "YES")]
        for table, stream_ids in ids.items():
            for stream_id, (*_, after) in zip(stream_ids, ROWS, strict=True):
                query = PROGRESS.format(table=sql.Identifier(table))
                assert (await (await conn.execute(query, [stream_id])).fetchone())[0] == after
