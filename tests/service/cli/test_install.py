"""What a jobtrail process finds by itself: its migrations and its data directory.

Each case runs `jobtrail` in a subprocess, as a user would, laid out like the install it
stands for: a `migrations` package with no SQL files in it (the incomplete wheel), or a
second checkout started from two other working directories.
"""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[3]
JOBTRAIL = "import sys; from service.cli import main; sys.exit(main(sys.argv[1:]))"
# Settings a caller's environment may hold that would decide for the command under test.
DECIDING = ("DATABASE_URL", "JOBTRAIL_DATA_DIR", "JOBTRAIL_PORT", "JOBTRAIL_BROKER_PORT", "JOBTRAIL_PUBLIC_URL")
TABLE_EXISTS = "SELECT to_regclass('schema_migrations') IS NOT NULL"


def jobtrail(
    *args: str, cwd: Path, pythonpath: list[Path], timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {name: value for name, value in os.environ.items() if name not in DECIDING}
    environ.update(env, PYTHONPATH=os.pathsep.join(map(str, pythonpath)))
    return subprocess.run(
        [sys.executable, "-c", JOBTRAIL, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=timeout
    )


def without_sql(tmp_path: Path) -> Path:
    """A directory whose `migrations` package, first on the path, has no SQL files."""
    shadow = tmp_path / "shadow"
    (shadow / "migrations").mkdir(parents=True)
    (shadow / "migrations" / "__init__.py").write_text("")
    return shadow


def test_migrate_without_migrations_fails_in_one_line_and_creates_nothing(tmp_path, empty_database_url):
    done = jobtrail("migrate", cwd=tmp_path, pythonpath=[without_sql(tmp_path), REPO], DATABASE_URL=empty_database_url)

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("jobtrail: error: no migrations found in ")
    assert done.stderr.count("\n") == 1
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute(TABLE_EXISTS).fetchone() == (False,)


def test_serve_without_migrations_refuses_to_start(tmp_path, empty_database_url):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    done = jobtrail(
        "serve",
        cwd=tmp_path,
        pythonpath=[without_sql(tmp_path), REPO],
        DATABASE_URL=empty_database_url,
        JOBTRAIL_PORT=str(port),
        JOBTRAIL_BROKER_PORT="0",
        JOBTRAIL_PUBLIC_URL=f"http://127.0.0.1:{port}",
        timeout=30,  # a serve that starts anyway would run until killed
    )

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("jobtrail: error: no migrations found in ")
    assert done.stderr.count("\n") == 1


def test_every_working_directory_finds_the_checkouts_database(tmp_path):
    """`migrate` from one directory, then `keys create` from another, share one embedded
    PostgreSQL: the checkout's `.jobtrail`, created once and said so once."""
    checkout = tmp_path / "checkout"
    for package in ("domain", "projections", "service", "migrations"):
        shutil.copytree(REPO / package, checkout / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", checkout)
    here, there = tmp_path / "here", tmp_path / "somewhere" / "else"
    here.mkdir()
    there.mkdir(parents=True)

    migrated = jobtrail("migrate", cwd=here, pythonpath=[checkout])
    created = jobtrail("keys", "create", "--owner", "acme", cwd=there, pythonpath=[checkout])

    assert migrated.returncode == 0, migrated.stderr
    assert created.returncode == 0, created.stderr
    pgdata = (checkout / ".jobtrail" / "pg").resolve()
    assert _created_lines(migrated.stderr) == [f"jobtrail: created a new embedded PostgreSQL in {pgdata}"]
    assert _created_lines(created.stderr) == []
    assert created.stdout.startswith("jt_")
    assert not (here / ".jobtrail").exists() and not (there / ".jobtrail").exists()


def _created_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "created a new embedded PostgreSQL" in line]
