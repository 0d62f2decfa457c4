"""The catch-up runner: feeds global-log subscribers, checkpoint committed with the view.

Each round runs in one transaction: lock the subscriber's checkpoint row, read the
next events below the snapshot's xmin (see projections.log.READ_AFTER), let the
subscriber update its view on the same connection, move the checkpoint, commit. A
crash anywhere replays at most the uncommitted round; the row lock lets any number
of processes run the same subscriber without doubling its work.

Every statement on `projection_checkpoints` lives here, the lag behind one included.
"""

import asyncio
from collections.abc import Sequence
from typing import Protocol

from psycopg import AsyncConnection

from projections.log import RecordedEvent, read_after


class Subscriber(Protocol):
    name: str

    async def apply(self, conn: AsyncConnection, events: Sequence[RecordedEvent]) -> None:
        """Fold `events` into the view, inside the caller's transaction."""


CLAIM = """
INSERT INTO projection_checkpoints (name) VALUES (%(name)s) ON CONFLICT (name) DO NOTHING
"""

LOCK = """
SELECT transaction_id::text::bigint, position FROM projection_checkpoints
 WHERE name = %(name)s FOR UPDATE
"""

SAVE = """
UPDATE projection_checkpoints
   SET transaction_id = %(transaction_id)s::text::xid8, position = %(position)s, updated_at = now()
 WHERE name = %(name)s
"""

HOLD = "SELECT 1 FROM projection_checkpoints WHERE name = %(name)s FOR UPDATE"
REWIND = """
UPDATE projection_checkpoints SET transaction_id = '0'::xid8, position = 0, updated_at = now()
 WHERE name = %(name)s
"""


async def catch_up_once(conn: AsyncConnection, subscriber: Subscriber, limit: int = 1000) -> int:
    """One round; returns how many events the subscriber was given."""
    name = {"name": subscriber.name}
    await conn.execute(CLAIM, name)
    async with conn.transaction():
        cursor = await conn.execute(LOCK, name)
        checkpoint = await cursor.fetchone()
        assert checkpoint is not None
        events = await read_after(conn, checkpoint[0], checkpoint[1], limit)
        if events:
            await subscriber.apply(conn, events)
            last = events[-1]
            await conn.execute(SAVE, {**name, "transaction_id": last.transaction_id, "position": last.position})
    return len(events)


async def hold(conn: AsyncConnection, name: str) -> None:
    """Lock the subscriber's checkpoint row until the caller's transaction ends: its
    runners, in any process, wait."""
    await conn.execute(HOLD, {"name": name})


async def rewind(conn: AsyncConnection, name: str) -> None:
    """Back to the start of the log: the next round feeds the subscriber everything."""
    await conn.execute(REWIND, {"name": name})


async def catch_up(conn: AsyncConnection, subscriber: Subscriber, limit: int = 1000) -> int:
    """Rounds until the subscriber has seen everything committed; returns the count."""
    total = 0
    while count := await catch_up_once(conn, subscriber, limit):
        total += count
    return total


async def follow(
    conn: AsyncConnection,
    subscriber: Subscriber,
    stop: asyncio.Event,
    *,
    idle_s: float = 0.2,
    limit: int = 1000,
) -> int:
    """Tail the log until `stop` is set; returns the count of events fed."""
    total = 0
    while not stop.is_set():
        count = await catch_up_once(conn, subscriber, limit)
        total += count
        if not count:
            try:
                async with asyncio.timeout(idle_s):
                    await stop.wait()
            except TimeoutError:
                pass
    return total + await catch_up(conn, subscriber, limit)
