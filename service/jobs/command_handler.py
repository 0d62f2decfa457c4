"""Handle a command: load the job, decide, append — retried on a concurrent write.

Optimistic concurrency: the append states the version it decided against; if another
writer got there first, the store raises ConcurrencyConflict and the command is
decided again against the fresh state, a bounded number of times. Losers pause for a
random, growing moment first: retrying in lockstep, n concurrent writers would need n
attempts each (one winner per round).
"""

import asyncio
import random
import time
from uuid import UUID

import msgspec
from psycopg_pool import AsyncConnectionPool

from domain.commands import AnyCommand
from domain.events import AnyEvent, BatchRecorded
from domain.job import decide, fold
from domain.state import JobState
from projections.log import Metadata
from service.jobs.dispatch import messages_for
from service.jobs.observers import STANDALONE, Observers
from service.notifications.queue import notification_for
from service.store.event_store import BatchItems, ConcurrencyConflict, InboxEntry, append
from service.store.job_status import load

MAX_ATTEMPTS = 10
BACKOFF_S = 0.002  # first pause is up to 2 ms, doubling, capped at 64 ms


class Handled(msgspec.Struct, frozen=True):
    state: JobState
    events: list[AnyEvent]
    position: int | None  # global position of the last event, None when nothing changed


class TooMuchContention(Exception):
    """The stream kept changing under the command; the caller may try again later."""


async def handle(
    pool: AsyncConnectionPool,
    stream_id: UUID,
    command: AnyCommand,
    metadata: Metadata,
    *,
    inbox: InboxEntry | None = None,
    results: BatchItems | None = None,
    known: JobState | None = None,
    observers: Observers = STANDALONE,
) -> Handled:
    """`known`, when given, is a state the caller just read: the first attempt decides
    against it without reading again (a stale one only costs a conflict and a retry).
    `observers` hear of the commit once it is made (service/jobs/observers.py)."""
    async with pool.connection() as conn:
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                await asyncio.sleep(random.uniform(0, BACKOFF_S * 2 ** min(attempt - 1, 5)))
            state = known if attempt == 0 and known is not None else await load(conn, stream_id)
            events = decide(command, state)
            if not events:
                return Handled(state, [], None)
            after = fold(events, state)
            outbox = messages_for(stream_id, events, after)
            notification = notification_for(stream_id, events, after)
            started = time.perf_counter()
            try:
                position = await append(
                    conn,
                    stream_id,
                    state.version,
                    events,
                    after,
                    metadata,
                    outbox=outbox,
                    inbox=inbox,
                    results=results if _records_batch(events) else None,
                    notification=notification,
                )
            except ConcurrencyConflict:
                continue
            seconds = time.perf_counter() - started
            await observers.committed(
                conn, stream_id, events, after, seconds, queued=bool(outbox) or notification is not None
            )
            return Handled(after, events, position)
    raise TooMuchContention(f"job {stream_id} changed {MAX_ATTEMPTS} times while deciding")


def _records_batch(events: list[AnyEvent]) -> bool:
    """A batch's items are kept only if its BatchRecorded is appended (not, say, a timeout)."""
    return any(isinstance(event, BatchRecorded) for event in events)
