"""The built package carries what an installed jobtrail reads at run time.

The sdist is built from a clean copy of the tree, and the wheel from the unpacked sdist
(as `python -m build` does), so a file that reaches the wheel went through both. Built
with the virtualenv's setuptools (the test extra), offline, in a few seconds.
"""

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# What the code opens as files rather than imports: without them a wheel cannot migrate
# a database (service.store.migrate) or render the dashboard (service.dashboard).
DATA = ["migrations/*.sql", "service/dashboard/templates/*", "service/dashboard/static/*"]
TOP_LEVEL = {"domain", "projections", "service", "migrations", "jobtrail"}
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".jobtrail", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "results"
)
# argv: the PEP 517 hook, the output directory; prints the built file's name.
BUILD = "import sys; from setuptools import build_meta; print(getattr(build_meta, sys.argv[1])(sys.argv[2]))"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """The names in the sdist (without its top directory) and in the wheel."""
    tmp = tmp_path_factory.mktemp("package")
    source = shutil.copytree(REPO, tmp / "src", ignore=NOT_SOURCE)
    sdist = tmp / "dist" / _build(source, "build_sdist", tmp / "dist")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp / "unpacked", filter="data")
        top = sdist.name.removesuffix(".tar.gz")
        sdist_names = {name.removeprefix(f"{top}/") for name in archive.getnames()}
    wheel = tmp / "dist" / _build(tmp / "unpacked" / top, "build_wheel", tmp / "dist")
    with zipfile.ZipFile(wheel) as archive:
        wheel_names = set(archive.namelist())
    return {"sdist": sdist_names, "wheel": wheel_names}


def test_the_data_files_are_found_in_the_tree() -> None:
    """The patterns below still name files: a move must not make the next test vacuous."""
    found = _data_files()
    assert sum(name.startswith("migrations/") for name in found) >= 9
    assert {"service/dashboard/templates/base.html", "service/dashboard/static/dashboard.css"} <= found


@pytest.mark.parametrize("kind", ["sdist", "wheel"])
def test_the_package_carries_every_migration_template_and_static_file(built: dict[str, set[str]], kind: str) -> None:
    missing = _data_files() - built[kind]
    assert not missing, f"the {kind} lacks {sorted(missing)}"
    assert "migrations/__init__.py" in built[kind]


def test_the_wheel_holds_the_packages_and_nothing_else(built: dict[str, set[str]]) -> None:
    tops = {name.split("/")[0] for name in built["wheel"] if not name.split("/")[0].endswith(".dist-info")}
    assert tops == TOP_LEVEL


def _data_files() -> set[str]:
    return {path.relative_to(REPO).as_posix() for pattern in DATA for path in REPO.glob(pattern) if path.is_file()}


def _build(source: Path, hook: str, out: Path) -> str:
    out.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", BUILD, hook, str(out)], cwd=source, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]
