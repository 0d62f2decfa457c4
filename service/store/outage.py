"""A database outage, told once: one line when it begins, one when it ends, however many
requests and background rounds meet it in between.

An outage is any psycopg OperationalError: the server is down or restarting, refuses
connections, ran out of disk or connections, or the pool found no connection in time.
Requests answer 503 with Retry-After meanwhile (service/api/problems.py); the pool
reconnects by itself. Each process keeps its own record: it only decides what to log.
"""

import logging
import time
from collections.abc import Callable

from psycopg import OperationalError as DatabaseUnavailable

logger = logging.getLogger("jobtrail.database")

__all__ = ["DatabaseUnavailable", "Outage"]


class Outage:
    """`failed` on every error that means the database is unavailable, `recovered` when a
    background round gets through; failures `quiet_s` apart count as separate outages
    (requests alone cannot tell when the database came back)."""

    def __init__(self, quiet_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet_s, self.clock = quiet_s, clock
        self.began: float | None = None
        self.last = 0.0
        self.failures = 0

    def failed(self, where: str, error: Exception) -> None:
        now = self.clock()
        if self.began is None or now - self.last > self.quiet_s:
            self.began, self.failures = now, 0
            logger.warning(
                "the database is unavailable (%s, met by %s); requests answer 503 until it is back",
                type(error).__name__,
                where,
            )
        self.last = now
        self.failures += 1

    def recovered(self) -> None:
        if self.began is not None:
            logger.warning(
                "the database is back after %.1f s (%d failed requests and rounds meanwhile)",
                self.clock() - self.began,
                self.failures,
            )
            self.began = None
