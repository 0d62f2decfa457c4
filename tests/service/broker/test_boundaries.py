"""The broker stands in for QStash: it must not know the service it serves. Its one borrowing
is the pure cron arithmetic, so that it fires at the times jobtrail derives its ticks from."""

import ast
from pathlib import Path

import service.broker

BROKER = Path(service.broker.__file__).parent
BORROWED = {"domain.schedule.cron"}  # imports nothing of ours itself (tests/domain checks)


def test_the_broker_imports_nothing_of_the_project_but_itself() -> None:
    imported: set[str] = set()
    for module in BROKER.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)

    ours = {name for name in imported if name.split(".")[0] in {"domain", "projections", "service"}} - BORROWED
    assert all(name.startswith("service.broker") for name in ours), ours
