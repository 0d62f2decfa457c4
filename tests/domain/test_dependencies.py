"""The domain is the core: it imports nothing of ours, and besides the standard library only
msgspec, transitions and cronsim (the schedules' cron)."""

import ast
import sys
from pathlib import Path

import domain

ALLOWED = set(sys.stdlib_module_names) | {"domain", "msgspec", "transitions", "cronsim"}
ROOT = Path(domain.__file__).parent
MODULES = sorted(ROOT.rglob("*.py"))


def imported_packages(path: Path) -> set[str]:
    """Top-level packages a module imports, wherever in it (functions included)."""
    packages = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            packages |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            packages.add(node.module.partition(".")[0])
    return packages


def test_the_domain_has_modules_to_check():
    assert {path.stem for path in MODULES} >= {"events", "commands", "lifecycle", "state", "job", "kinds", "decider"}


def test_the_domain_imports_only_the_stdlib_msgspec_transitions_and_cronsim():
    outside = {str(path.relative_to(ROOT)): sorted(imported_packages(path) - ALLOWED) for path in MODULES}
    assert {name: packages for name, packages in outside.items() if packages} == {}


def test_the_domain_imports_nothing_from_the_service_or_the_projections():
    leaks = {str(path.relative_to(ROOT)) for path in MODULES if imported_packages(path) & {"service", "projections"}}
    assert leaks == set()
