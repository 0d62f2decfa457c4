"""`jobtrail archive run|verify|restore`, and an auditor's `verify-export` of an archive file."""

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from uuid import UUID

import psycopg
import pytest

from service.store.database import create_pool
from tests.service.archive.jobs import cancelled_job, timed_out_job
from tests.service.cli.run import run
from tests.service.cli.test_rebuild import JOBTRAIL


def finished_jobs(database_url: str, how_many: int = 2) -> list[UUID]:
    async def make() -> list[UUID]:
        pool = create_pool(database_url, max_size=2)
        await pool.open(wait=True)
        try:
            return [await cancelled_job(pool) for _ in range(how_many - 1)] + [await timed_out_job(pool)]
        finally:
            await pool.close()

    return asyncio.run(make())


@pytest.fixture
def archive_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JOBTRAIL_ARCHIVE_DIR", str(tmp_path / "archive"))
    return tmp_path / "archive"


def test_without_a_retention_period_a_run_keeps_every_job(capsys, cli_database, archive_dir) -> None:
    finished_jobs(cli_database)
    code, out, _ = run(capsys, "archive", "run")
    assert code == 0 and "every job is kept" in out and not archive_dir.exists()


def test_a_dry_run_lists_the_expired_jobs_and_changes_nothing(capsys, cli_database, archive_dir, monkeypatch) -> None:
    jobs = finished_jobs(cli_database)
    monkeypatch.setenv("JOBTRAIL_RETAIN_S", "86400")
    code, out, _ = run(capsys, "archive", "run", "--dry-run")
    assert code == 0 and all(str(job) in out for job in jobs) and "would archive 2 job(s)" in out
    assert not archive_dir.exists()
    code, out, _ = run(capsys, "history", str(jobs[0]), "--verify")
    assert code == 0


def test_run_verify_restore_and_an_auditors_check_of_a_file(capsys, cli_database, archive_dir, monkeypatch) -> None:
    jobs = finished_jobs(cli_database)
    monkeypatch.setenv("JOBTRAIL_RETAIN_S", "86400")

    code, out, _ = run(capsys, "archive", "run", "--limit", "5")
    assert code == 0 and "archived 2 job(s)" in out and "skipped 0" in out
    code, out, err = run(capsys, "history", str(jobs[0]))
    assert code == 1  # gone from the log
    code, out, _ = run(capsys, "archive", "verify", "--all")
    assert (code, out.splitlines()[-1]) == (0, "2 of 2 archive file(s) match their tombstones")
    files = sorted(archive_dir.rglob("*.ndjson"))
    code, out, _ = run(capsys, "verify-export", str(files[0]))
    assert code == 0

    code, out, _ = run(capsys, "archive", "restore", str(jobs[1]))
    assert code == 0 and "status timeout" in out
    code, out, _ = run(capsys, "history", str(jobs[1]), "--verify")
    assert code == 0
    code, _, err = run(capsys, "archive", "restore", str(jobs[1]))
    assert code == 1 and "has events in the log already" in err


def test_verify_exits_3_naming_a_changed_or_missing_file(capsys, cli_database, archive_dir, monkeypatch) -> None:
    jobs = finished_jobs(cli_database)
    monkeypatch.setenv("JOBTRAIL_RETAIN_S", "86400")
    assert run(capsys, "archive", "run")[0] == 0
    first, second = (next(archive_dir.rglob(f"{job}.ndjson")) for job in jobs)
    first.write_bytes(first.read_bytes().replace(b'"acme"', b'"acmf"', 1))
    second.unlink()

    code, out, _ = run(capsys, "archive", "verify", "--all")

    assert code == 3
    assert f"FAILED {jobs[0]}: " in out and "SHA-256" in out
    assert f"FAILED {jobs[1]}: " in out and "missing from the archive store" in out
    assert run(capsys, "archive", "verify", str(jobs[1]))[0] == 3
    code, _, err = run(capsys, "archive", "restore", str(jobs[0]))
    assert code == 1 and "SHA-256" in err  # a file that does not match is never restored


def test_verify_of_a_job_never_archived_exits_3(capsys, cli_database, archive_dir) -> None:
    job = finished_jobs(cli_database, 1)[0]
    code, out, _ = run(capsys, "archive", "verify", str(job))
    assert code == 3 and "never archived" in out


WAITING_ARCHIVE = """
SELECT pid FROM pg_stat_activity
 WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%archive_stream%'
"""


def _poll(conn: psycopg.Connection, query: str, wanted: bool) -> int | None:
    """Poll `query` (clearing the statistics snapshot each time) until it finds a row, or none."""
    for _ in range(600):
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(query).fetchone()
        if bool(row) == wanted:
            return row[0] if row else None
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {query!r} to {'find' if wanted else 'lose'} a row")


def test_kill_9_of_an_archive_run_during_its_delete_loses_nothing_and_the_next_run_finishes(
    capsys, cli_database, archive_dir, monkeypatch
) -> None:
    first, second = finished_jobs(cli_database)
    monkeypatch.setenv("JOBTRAIL_RETAIN_S", "86400")
    with (
        psycopg.connect(cli_database, autocommit=True) as holder,
        psycopg.connect(cli_database, autocommit=True) as watcher,
    ):
        with holder.transaction():  # the second job's delete waits here: the moment the kill lands
            holder.execute("SELECT 1 FROM events WHERE stream_id = %s AND version = 1 FOR KEY SHARE", [second])
            process = subprocess.Popen(
                [JOBTRAIL, "archive", "run"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                backend = _poll(watcher, WAITING_ARCHIVE, wanted=True)
            finally:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
        # The killed run's backend finishes the statement it was in, finds no client and rolls back.
        _poll(watcher, f"SELECT pid FROM pg_stat_activity WHERE pid = {int(backend or 0)}", wanted=False)
        counted = "SELECT count(*) FROM events WHERE stream_id = %s"
        assert watcher.execute(counted, [first]).fetchone() == (0,)  # archived before the kill, whole
        assert watcher.execute(counted, [second]).fetchone() == (2,)  # untouched
        assert watcher.execute("SELECT count(*) FROM tombstones").fetchone() == (1,)
    written = next(archive_dir.rglob(f"{second}.ndjson"))
    assert run(capsys, "verify-export", str(written))[0] == 0  # its file was written and verified

    code, out, _ = run(capsys, "archive", "run")
    assert code == 0 and "archived 1 job(s)" in out
    code, out, _ = run(capsys, "archive", "verify", "--all")
    assert (code, out.splitlines()[-1]) == (0, "2 of 2 archive file(s) match their tombstones")
