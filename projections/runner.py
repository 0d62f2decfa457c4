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

# The unseen tail, in the index's order and capped, so the planner walks
# events_transaction_order from the checkpoint instead of estimating a third of the log
# and scanning all of it. A lag past the cap counts as the cap; its age is still that of
# the events next after the checkpoint. A subscriber that never ran has seen nothing.
LAG = """
SELECT count(*), coalesce(extract(epoch FROM now() - min(recorded_at)), 0)::float8
  FROM (SELECT recorded_at FROM events
         WHERE (transaction_id, position) > (
                coalesce((SELECT transaction_id FROM projection_checkpoints WHERE name = %(name)s), '0'::xid8),
                coalesce((SELECT position FROM projection_checkpoints WHERE name = %(name)s), 0))
         ORDER BY transaction_id, position
         LIMIT %(cap)s) AS unseen
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


async def lag(conn: AsyncConnection, name: str, cap: int) -> tuple[int, float]:
    """How many events the subscriber has not seen (at most `cap`), and the oldest one's age in seconds."""
    count, seconds = await (await conn.execute(LAG, {"name": name, "cap": cap})).fetchone()  # type: ignore[misc]
    return count, seconds


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
