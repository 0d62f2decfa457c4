"""Each table's SQL lives in its owner module: a table's statements are found in one place.

A statement naming several tables belongs to the owner of its subject: the first table
it reads from or writes to (after FROM, INTO, UPDATE, JOIN …), so the relay's claim of
outbox rows is with the outbox, and a key looked up with a job is with the keys.
job_status has two owners, split where the
dependency rule splits their callers: the projection's statements in
projections/job_status.py, the service's reads in service/store/job_status.py. The
event store's APPEND (and APPEND_SCHEDULE, its twin for schedules) is the one exception: it
writes several tables in one statement, for one round trip per command; its RESTORE, which
puts an archived history back into the log, is the store's other write of `events`.
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
    "dashboard_sessions": {"service/auth/sessions.py"},
    "inbox": {"service/store/event_store.py"},
    "delivery_tokens": {"service/store/event_store.py"},
    "delivery_probes": {"service/store/delivery_probes.py"},
    "outbox": {"service/store/outbox.py"},
    "batch_results": {"service/store/batch_results.py"},
    "job_stats": {"projections/stats.py"},
    "schema_migrations": {"service/store/migrate.py"},
    "events": {"projections/log.py"},
    "schedules": {"projections/schedules.py"},
    "tombstones": {"service/store/tombstones.py"},
    "archived_counts": {"service/store/tombstones.py"},
    "webhook_endpoints": {"service/store/webhooks.py"},
    "notify_secrets": {"service/store/webhooks.py"},
    "notifications": {"service/store/notifications.py"},
    "health_alerts": {"service/store/health_alerts.py"},
    "merkle_leaves": {"projections/merkle_tree.py"},
    "merkle_nodes": {"projections/merkle_tree.py"},
    "audit_keys": {"service/audit/checkpoints.py"},
    "tombstone_leaves": {"service/audit/archived.py"},
}
# (module, constant) -> the tables it may name outside their owners.
EXCEPTIONS = {
    ("service/store/event_store.py", "APPEND"): {
        "events",
        "job_status",
        "outbox",
        "batch_results",
        "inbox",
        "notifications",
        "webhook_endpoints",
    },
    ("service/store/event_store.py", "APPEND_SCHEDULE"): {"events", "schedules", "inbox"},
    # The streams a snapshot did not see change include those archived since: the
    # tombstones' transactions say which (projections cannot import the service's module).
    ("projections/log.py", "CHANGED_SINCE"): {"events", "tombstones"},
    # An archived history put back (jobtrail archive restore): the store writes the log.
    ("service/store/event_store.py", "RESTORE"): {"events"},
    ("service/store/event_store.py", "APPEND_CHECKPOINT"): {"events"},
}

SQL_START = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH|COPY|LOCK|TRUNCATE|ANALYZE|CREATE|ALTER|DROP)\b")
TABLE_NAMES = re.compile(r"\b(" + "|".join(OWNERS) + r")\b")
SUBJECTS = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE|TRUNCATE|ANALYZE)\s+(?:ONLY\s+|LATERAL\s+)?(\w+)", re.I)


def _text(node: ast.expr) -> str | None:
    """A string literal's text; an f-string's with `{}` for each substitution."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(part.value) if isinstance(part, ast.Constant) else "{}" for part in node.values)
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
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            if isinstance(target := statement.targets[0], ast.Name):
                named[id(statement.value)] = target.id
    skipped = _docstrings(tree)
    skipped |= {id(part) for joined in ast.walk(tree) if isinstance(joined, ast.JoinedStr) for part in joined.values}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, ast.expr):
            continue
        text = _text(node)
        if text is not None:
            found.append((named.get(id(node), f"line {node.lineno}"), text))
    return found


def statements() -> list[tuple[str, str, set[str], str]]:
    """(module, name, tables named, subject) of every SQL statement in the scanned packages."""
    found = []
    for package in SCANNED:
        for path in sorted(package.rglob("*.py")):
            if INDEPENDENT in path.parents:
                continue
            module = path.relative_to(REPO).as_posix()
            for name, text in _strings(ast.parse(path.read_text())):
                tables = set(TABLE_NAMES.findall(text))
                if tables and SQL_START.match(text):
                    found.append((module, name, tables, subject(text)))
    return found


def subject(statement: str) -> str:
    """The first of our tables the statement reads from or writes to, else the first it names."""
    subjects = [name for name in SUBJECTS.findall(statement) if name in OWNERS]
    return subjects[0] if subjects else TABLE_NAMES.findall(statement)[0]


def test_every_statement_lives_with_the_owner_of_its_table():
    misplaced = [
        f"{module}: {name} is a statement on {table}, owned by {sorted(OWNERS[table])}"
        for module, name, _, table in statements()
        if (module, name) not in EXCEPTIONS and module not in OWNERS[table]
    ]
    assert misplaced == []


def test_the_append_is_the_documented_exception_and_names_only_its_tables():
    found = {(module, name): tables for module, name, tables, _ in statements()}
    for place, tables in EXCEPTIONS.items():
        assert found.get(place) == tables


def test_the_scan_sees_the_statements_it_checks():
    found = {(module, name) for module, name, _, _ in statements()}
    assert {
        ("projections/log.py", "READ_STREAM"),  # an f-string
        ("service/store/job_status.py", "LOAD"),
        ("service/store/outbox.py", "CLAIM_UNSENT"),
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


def test_a_statement_belongs_to_the_table_it_reads_from_or_writes_to_first():
    assert subject("SELECT o.id, j.kind FROM outbox o JOIN job_status j USING (stream_id)") == "outbox"
    assert subject("SELECT k.owner FROM api_keys k LEFT JOIN job_status j ON true") == "api_keys"
    assert subject("SELECT i.outcome FROM (VALUES (1)) AS one (x) LEFT JOIN inbox i ON true") == "inbox"
    assert subject("UPDATE outbox SET sent_at = now() FROM job_status") == "outbox"


def test_every_table_of_the_migrations_has_an_owner():
    created = set()
    for migration in (REPO / "migrations").glob("*.sql"):
        created |= set(re.findall(r"CREATE (?:UNLOGGED )?TABLE (?:IF NOT EXISTS )?(\w+)", migration.read_text()))
    assert created | {"schema_migrations"} == set(OWNERS)
