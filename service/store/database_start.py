"""Reaching the database at start, retried: a serving process answers before its database does.

`serve` binds its port first and reaches the database in the background. Each attempt
connects (bounded by CONNECT_TIMEOUT_S, so an address that swallows packets fails too)
and applies pending migrations, which is safe from any number of processes at once
(service/store/migrate.py). A failed attempt is one warning line naming the error, and
the next one follows after a pause that doubles from FIRST_PAUSE_S up to MAX_PAUSE_S.
Until one succeeds, /readyz answers 503 saying so and every request that needs the
database answers 503 (the pool is not open yet).

Every failure is retried, a refused password and a migration that cannot apply
included: the line says what to fix, and the process picks the fix up without a restart.
"""

import asyncio
import logging

import psycopg

from service.store.database import redact
from service.store.migrate import MigrationError, migrate

logger = logging.getLogger("jobtrail.database")

CONNECT_TIMEOUT_S = 5
FIRST_PAUSE_S = 1.0
MAX_PAUSE_S = 15.0


class DatabaseStart:
    """How far the start has got, for /readyz: ready, or the attempts so far and what the
    last one met (the error's type only: /readyz needs no key and names no host)."""

    def __init__(self) -> None:
        self.ready = False
        self.attempts = 0
        self.error: str | None = None
        self.first_failure = asyncio.Event()  # set once the first attempt has failed

    @property
    def reason(self) -> str:
        if self.error is None:
            return "the database has not been reached yet"
        return f"the database does not answer yet ({self.error}; {self.attempts} attempt(s) so far)"


async def reach_database(
    url: str,
    start: DatabaseStart,
    *,
    first_pause_s: float = FIRST_PAUSE_S,
    max_pause_s: float = MAX_PAUSE_S,
    quiet: bool = False,
) -> None:
    """Connect and migrate, until both succeed; `quiet` logs the attempts at debug level
    (for a second caller in a process that already reports them)."""
    pause_s = first_pause_s
    while True:
        start.attempts += 1
        try:
            await _attempt(url)
        except (psycopg.Error, MigrationError, OSError) as error:
            start.error = type(error).__name__
            start.first_failure.set()
            logger.log(
                logging.DEBUG if quiet else logging.WARNING,
                "the database does not answer (attempt %d: %s); trying again in %.0f s",
                start.attempts,
                describe(error),
                pause_s,
            )
            await asyncio.sleep(pause_s)
            pause_s = min(pause_s * 2, max_pause_s)
            continue
        if start.attempts > 1 and not quiet:
            logger.warning("the database answers (attempt %d); migrations are current", start.attempts)
        return


async def _attempt(url: str) -> None:
    conn = await psycopg.AsyncConnection.connect(url, connect_timeout=CONNECT_TIMEOUT_S)
    await conn.close()
    await migrate(url)


def describe(error: BaseException) -> str:
    """The error on one line, with any password masked."""
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return f"{type(error).__name__}: {redact(text)}" if text else type(error).__name__
