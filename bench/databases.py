"""The benchmarks' databases: one scratch database per bench, created fresh, migrated, dropped at the end.

The server is `DATABASE_URL`, else a local PostgreSQL on 127.0.0.1:5432 (trust auth),
else the embedded one that `service.store.database` starts.
"""

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from service.settings import Settings
from service.store.database import resolve_database_url
from service.store.migrate import migrate

LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

DROP_DATABASE = "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
CREATE_DATABASE = "CREATE DATABASE {name}"


def admin_url() -> str:
    """A server URL with the right to create and drop databases."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    try:
        psycopg.connect(LOCAL_URL, connect_timeout=3).close()
        return LOCAL_URL
    except psycopg.OperationalError:
        return resolve_database_url(Settings.from_env())


def _run_admin(url: str, statement: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(name=sql.Identifier(name)))


@contextmanager
def scratch_database(bench: str) -> Iterator[str]:
    """The URL of a fresh, migrated `jobtrail_bench_<bench>` database, dropped afterwards."""
    admin = admin_url()
    name = f"jobtrail_bench_{bench}"
    _run_admin(admin, DROP_DATABASE, name)
    _run_admin(admin, CREATE_DATABASE, name)
    url = make_conninfo(admin, dbname=name)
    try:
        asyncio.run(migrate(url))
        yield url
    finally:
        _run_admin(admin, DROP_DATABASE, name)
