"""Test databases: one server per session, the schema built once, a fresh clone per test.

`DATABASE_URL` picks the server (CI points it at a real PostgreSQL); unset, the embedded
one under `.jobtrail/test` is used. Tests that touch it are marked `db` automatically.
"""

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from service.settings import Settings
from service.store.database import create_pool, resolve_database_url
from service.store.migrate import migrate

# CI replays the same examples every run (a landing must not hinge on a case nobody has
# seen yet); local runs keep exploring, and what they find is kept in .hypothesis/.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]
DB_FIXTURES = {"admin_url", "template_db", "database_url", "empty_database_url", "pool"}

CREATE_DATABASE = "CREATE DATABASE {name}"
CREATE_DATABASE_FROM = "CREATE DATABASE {name} TEMPLATE {template}"
DROP_DATABASE = "DROP DATABASE IF EXISTS {name} WITH (FORCE)"

_numbers = itertools.count()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if DB_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def admin_url() -> str:
    """A URL with the right to create and drop databases."""
    settings = Settings.from_env()
    if settings.database_url is None:
        settings = Settings(data_dir=REPO / ".jobtrail" / "test")
    return resolve_database_url(settings)


@pytest.fixture(scope="session")
def template_db(admin_url: str) -> Iterator[str]:
    """A database migrated once per session, cloned by every test that needs the schema."""
    name = f"jobtrail_tpl_{os.getpid()}"
    _run_admin(admin_url, DROP_DATABASE, name=name)
    _run_admin(admin_url, CREATE_DATABASE, name=name)
    asyncio.run(migrate(make_conninfo(admin_url, dbname=name)))
    yield name
    _run_admin(admin_url, DROP_DATABASE, name=name)


@pytest.fixture
def database_url(admin_url: str, template_db: str) -> Iterator[str]:
    """A fresh, fully migrated database for one test."""
    name = f"jobtrail_t_{os.getpid()}_{next(_numbers)}"
    _run_admin(admin_url, CREATE_DATABASE_FROM, name=name, template=template_db)
    yield make_conninfo(admin_url, dbname=name)
    _run_admin(admin_url, DROP_DATABASE, name=name)


@pytest.fixture
def empty_database_url(admin_url: str) -> Iterator[str]:
    """A database with no schema at all, for tests of the migrations themselves."""
    name = f"jobtrail_e_{os.getpid()}_{next(_numbers)}"
    _run_admin(admin_url, CREATE_DATABASE, name=name)
    yield make_conninfo(admin_url, dbname=name)
    _run_admin(admin_url, DROP_DATABASE, name=name)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = create_pool(database_url, min_size=1, max_size=4)
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()


def _run_admin(admin_url: str, statement: str, **names: str) -> None:
    query = sql.SQL(statement).format(**{key: sql.Identifier(value) for key, value in names.items()})
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(query)
