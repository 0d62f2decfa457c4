"""The Makefile: running installs only what running needs, and the embedded database is never
deleted without a word.

Each case runs the project's Makefile in a scratch directory (`make -f`), so nothing of the
checkout is installed or deleted; the install targets are only printed (`make -n`).
"""

import shutil
import subprocess
from pathlib import Path

import pytest

MAKEFILE = Path(__file__).resolve().parents[2] / "Makefile"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")


def make(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-f", str(MAKEFILE), *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A scratch directory with a pyproject.toml (what the install stamps depend on) and a
    `.jobtrail` holding a file that stands for the database."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / ".jobtrail" / "pg").mkdir(parents=True)
    (tmp_path / ".jobtrail" / "pg" / "PG_VERSION").write_text("18\n")
    return tmp_path


def installs(planned: str) -> list[str]:
    return [line.split(" install ", 1)[1] for line in planned.splitlines() if " -m pip install " in line]


def test_run_installs_only_what_running_needs(checkout: Path) -> None:
    planned = make(checkout, "-n", "run")

    assert planned.returncode == 0, planned.stderr
    assert installs(planned.stdout) == ["-e ."]


@pytest.mark.parametrize("target", ["test", "lint"])
def test_test_and_lint_add_the_test_tools(checkout: Path, target: str) -> None:
    planned = make(checkout, "-n", target)

    assert planned.returncode == 0, planned.stderr
    assert installs(planned.stdout) == ["-e .", "-e '.[test]'"]


def test_clean_keeps_the_embedded_database_and_says_so(checkout: Path) -> None:
    done = make(checkout, "clean")

    assert done.returncode == 0, done.stderr
    assert (checkout / ".jobtrail" / "pg" / "PG_VERSION").exists()
    assert "kept .jobtrail, the embedded database; `make clean-data` deletes it" in done.stdout


def test_clean_data_names_what_it_deletes(checkout: Path) -> None:
    done = make(checkout, "clean-data")

    assert done.returncode == 0, done.stderr
    assert not (checkout / ".jobtrail").exists()
    assert "deleting .jobtrail: the embedded PostgreSQL with every job, event and API key" in done.stdout


def test_clean_data_refuses_while_the_embedded_server_runs(checkout: Path) -> None:
    (checkout / ".jobtrail" / "pg" / "postmaster.pid").write_text("4242\n")

    done = make(checkout, "clean-data")

    assert done.returncode != 0
    assert (checkout / ".jobtrail" / "pg" / "PG_VERSION").exists()
    refusal = "refused: an embedded PostgreSQL is running (.jobtrail/pg/postmaster.pid); stop jobtrail first"
    assert refusal in done.stdout
