"""A live stream's API key, read again while the stream is open, so revoking it ends the stream.

A route authenticates once, before its stream starts; a stream can then stay open for
hours, so without this a revoked key would keep reading every event it was shown at the
start. The check reuses `authenticate` (one indexed read of `api_keys`, whatever makes a
key stand or fall) and runs at most once per interval however fast events come. The
streams also wake for it when they have nothing to send, so an idle stream ends as
promptly as a busy one.
"""

import math
import time

from psycopg_pool import AsyncConnectionPool

from service.auth.keys import authenticate


class KeyRecheck:
    """Whether the key a stream was opened with still stands, read every `interval_s`."""

    def __init__(self, pool: AsyncConnectionPool, key: str, interval_s: float) -> None:
        self._pool = pool
        self._key = key
        self.interval_s = interval_s
        self._checked = time.monotonic()  # the route has just authenticated it

    def left(self) -> float:
        """How long until the next read is due."""
        return max(0.0, self.interval_s - (time.monotonic() - self._checked))

    async def revoked(self) -> bool:
        """True once a read finds that the key no longer authenticates; no read before one is due."""
        if self.left() > 0:
            return False
        async with self._pool.connection() as conn:
            principal = await authenticate(conn, self._key)
        self._checked = time.monotonic()
        return principal is None


class NoKey:
    """For in-process readers that no API key stands behind: nothing to check."""

    def left(self) -> float:
        return math.inf

    async def revoked(self) -> bool:
        return False


NO_KEY = NoKey()
