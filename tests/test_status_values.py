"""Status values come from domain.lifecycle. SQL keeps them as literals, where the partial
indexes of the migrations need them (a parameter would hide them from the planner), so
this test holds every literal to the Machine's states."""

import re
from pathlib import Path

from domain.lifecycle import ACTIVE, Status

REPO = Path(__file__).resolve().parents[1]
SOURCES = [*REPO.glob("migrations/*.sql"), *REPO.glob("projections/**/*.py"), *REPO.glob("service/**/*.py")]
STATUS_LITERALS = re.compile(r"\bstatus\s*(?:=\s*'(\w+)'|IN\s*\(([^)]*)\))", re.I)


def literals() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in SOURCES:
        for single, listed in STATUS_LITERALS.findall(path.read_text()):
            values = {single} if single else set(re.findall(r"'(\w+)'", listed))
            found.setdefault(path.relative_to(REPO).as_posix(), set()).update(values)
    return found


def test_every_status_written_in_sql_is_a_state_of_the_machine() -> None:
    unknown = {path: values - set(Status) for path, values in literals().items() if values - set(Status)}
    assert unknown == {}


def test_the_active_statuses_of_the_partial_indexes_are_the_lifecycle_s() -> None:
    indexes = (REPO / "migrations" / "0003_job_status.sql").read_text()
    (listed,) = re.findall(r"WHERE status IN \(([^)]*)\)", indexes)
    assert set(re.findall(r"'(\w+)'", listed)) == ACTIVE


def test_the_scan_finds_the_literals_it_checks() -> None:
    found = literals()
    assert {"pending", "processing"} <= found["service/store/job_status.py"]
    assert {"error", "timeout", "completed", "processing"} <= found["projections/stats.py"]
