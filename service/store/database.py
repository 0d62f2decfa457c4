"""Which PostgreSQL jobtrail talks to, and the connection pool it talks through."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg_pool import AsyncConnectionPool

from service.settings import Settings
from service.store.embedded import start_embedded
from service.store.migrate import migrate, pending

_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_PASSWORD_PARAM = re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with the password of any database URL or key=value string in it masked."""
    return _PASSWORD_PARAM.sub(r"\1***", _PASSWORD_IN_URL.sub(r"\1***@", text))


def resolve_database_url(settings: Settings) -> str:
    """DATABASE_URL wins; without it the embedded server is started (or joined)."""
    if settings.database_url is not None:
        return settings.database_url
    return start_embedded(settings.data_dir)


def create_pool(url: str, *, min_size: int = 1, max_size: int = 10, wait_s: float = 30.0) -> AsyncConnectionPool:
    """A closed pool of autocommit connections; the caller opens it in its lifespan.

    Autocommit makes a lone statement (an append) one round trip; multi-statement work
    opens `conn.transaction()` explicitly. A caller waits at most `wait_s` for a
    connection, then gets PoolTimeout (an OperationalError: the database is unavailable).
    """
    return AsyncConnectionPool(
        url, min_size=min_size, max_size=max_size, open=False, timeout=wait_s, kwargs={"autocommit": True}
    )


class NotMigrated(Exception):
    """The database lacks migrations this code needs."""


@asynccontextmanager
async def connected(settings: Settings, *, apply_migrations: bool = False) -> AsyncIterator[AsyncConnectionPool]:
    """An open pool on a database whose schema is current (migrated first if asked)."""
    url = resolve_database_url(settings)
    if apply_migrations:
        await migrate(url)
    elif missing := await pending(url):
        raise NotMigrated(f"the database lacks {len(missing)} migration(s); run `jobtrail migrate`")
    pool = create_pool(url, max_size=4)
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()
