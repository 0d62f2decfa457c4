"""Each table's SQL lives in its owner module: a table's statements are found in one place.

A statement naming several tables belongs to the owner of the first of them in OWNERS,
so every statement that reads job_status (joined with api_keys, inbox or outbox
included) is with job_status's queries. job_status has two owners, split where the
dependency rule splits their callers: the projection's statements in
projections/job_status.py, the service's reads in service/store/job_status.py. The
event store's APPEND is the one exception: it writes five tables in one statement, for
one round trip per command.
"""

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCANNED = [REPO / "service", REPO / "projections"]
INDEPENDENT = REPO / "service" / "broker"  # the local QStash: no table of ours

# Table -> the modules that may hold its statements, in the order that decides joins.
OWNERS: dict[str, set[str]] = {
    "job_status": {"projections/job_status.py", "service/store/job_status.py"},
    "job_status_shadow": {"projections/job_status.py"},
    "projection_checkpoints": {"projections/runner.py"},
    "api_keys": {"service/auth/keys.py"},
    "inbox": {"service/store/event_store.py"},
    "outbox": {"service/store/outbox.py"},
    "batch_results": {"service/store/batch_results.py"},
    "job_stats": {"projections/stats.py"},
    "schema_migrations": {"service/store/migrate.py"},
    "events": {"projections/log.py"},
}
# (module, constant) -> the tables it may name outside their owners.
EXCEPTIONS = {
    ("service/store/event_store.py", "APPEND"): {"events", "job_status", "outbox", "batch_results", "inbox"},
}

SQL_START = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH|COPY|LOCK|TRUNCATE|ANALYZE|CREATE|ALTER|DROP)\b")
TABLE_NAMES = re.compile(r"\b(" + "|".join(OWNERS) + r")\b")


def _text(node: ast.expr) -> str | None:
    """A string literal's text; an f-string's with `{}` for each substitution."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
    return None


def _docstrings(tree: ast.Module) -> set[int]:
    documented = [
        tree,
        *(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)),
    ]
    return {id(node.body[0].value) for node in documented if node.body and isinstance(node.body[0], ast.Expr)}


def _strings(tree: ast.Module) -> list[tuple[str, str]]:
    """(name, text) of every string in a module but docstrings: a module-level constant
    by its name, any other string (SQL written inline) by its line."""
    named = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            named[id(node.value)] = node.targets[0].id
    skipped = _docstrings(tree)
    skipped |= {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, ast.expr):
            continue
        text = _text(node)
        if text is not None:
            found.append((named.get(id(node), f"line {node.lineno}"), text))
    return found


def statements() -> list[tuple[str, str, set[str]]]:
    """(module, name, tables named) of every SQL statement in the scanned packages."""
    found = []
    for package in SCANNED:
        for path in sorted(package.rglob("*.py")):
            if INDEPENDENT in path.parents:
                continue
            module = path.relative_to(REPO).as_posix()
            for name, text in _strings(ast.parse(path.read_text())):
                tables = set(TABLE_NAMES.findall(text))
                if tables and SQL_START.match(text):
                    found.append((module, name, tables))
    return found


def owner(tables: set[str]) -> str:
    return next(table for table in OWNERS if table in tables)


def test_every_statement_lives_with_the_owner_of_its_table():
    misplaced = [
        f"{module}: {name} names {owner(tables)}, owned by {sorted(OWNERS[owner(tables)])}"
        for module, name, tables in statements()
        if (module, name) not in EXCEPTIONS and module not in OWNERS[owner(tables)]
    ]
    assert misplaced == []


def test_the_append_is_the_documented_exception_and_names_only_its_tables():
    found = {(module, name): tables for module, name, tables in statements()}
    for place, tables in EXCEPTIONS.items():
        assert found.get(place) == tables


def test_the_scan_sees_the_statements_it_checks():
    found = {(module, name) for module, name, _ in statements()}
    assert {
        ("projections/log.py", "READ_STREAM"),  # an f-string
        ("service/store/job_status.py", "LOAD"),
        ("service/store/job_status.py", "CLAIM_UNSENT"),
        ("projections/job_status.py", "LOCK_BOTH"),
        ("service/store/migrate.py", "CREATE_SCHEMA_MIGRATIONS"),
    } <= found


def test_the_scan_sees_sql_written_inline_and_skips_docstrings():
    source = '''
async def mark(conn):
    """UPDATE outbox rows, in words."""
    await conn.execute("UPDATE outbox SET sent_at = now()")
'''
    assert _strings(ast.parse(source)) == [("line 4", "UPDATE outbox SET sent_at = now()")]


def test_every_table_of_the_migrations_has_an_owner():
    created = set()
    for migration in (REPO / "migrations").glob("*.sql"):
        created |= set(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", migration.read_text()))
    assert created | {"schema_migrations"} == set(OWNERS)
