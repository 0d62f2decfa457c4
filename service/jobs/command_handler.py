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
from typing import Any
from uuid import UUID

import msgspec
from psycopg import AsyncConnection
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
from service.store.group_commit import GroupCommit
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
    `observers` hear of the commit once it is made (service/jobs/observers.py).

    With the observers' group commit the append shares a transaction with this process's
    concurrent ones (service/store/group_commit.py), and no connection is held while it
    waits for its group: a connection is taken only for a read, and handed back at once
    (requests holding every connection of the pool while waiting for a group that needs
    one would wait for ever)."""
    if observers.group_commit is None:
        async with pool.connection() as conn:
            return await _decide_and_append(
                _OwnConnection(conn), stream_id, command, metadata, inbox, results, known, observers
            )
    shared = _GroupCommitted(pool, observers.group_commit)
    return await _decide_and_append(shared, stream_id, command, metadata, inbox, results, known, observers)


class _OwnConnection:
    """Reads, the append and its NOTIFY on the caller's one connection; the append commits alone."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def load(self, stream_id: UUID) -> JobState:
        return await load(self.conn, stream_id)

    @property
    def target(self) -> AsyncConnection:
        return self.conn

    async def committed(self, observers: Observers, *args: Any, queued: bool, notified: bool) -> None:
        await observers.committed(self.conn, *args, queued=queued, notified=notified)


class _GroupCommitted:
    """The append in the process's group commit; reads on a connection held only for them."""

    def __init__(self, pool: AsyncConnectionPool, group: GroupCommit) -> None:
        self.pool, self.group = pool, group

    async def load(self, stream_id: UUID) -> JobState:
        async with self.pool.connection() as conn:
            return await load(conn, stream_id)

    @property
    def target(self) -> GroupCommit:
        return self.group

    async def committed(self, observers: Observers, *args: Any, queued: bool, notified: bool) -> None:
        if observers.feed is not None:
            await observers.committed(None, *args, queued=queued, notified=notified)
            return
        async with self.pool.connection() as conn:
            await observers.committed(conn, *args, queued=queued, notified=notified)


async def _decide_and_append(
    store: _OwnConnection | _GroupCommitted,
    stream_id: UUID,
    command: AnyCommand,
    metadata: Metadata,
    inbox: InboxEntry | None,
    results: BatchItems | None,
    known: JobState | None,
    observers: Observers,
) -> Handled:
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            await asyncio.sleep(random.uniform(0, BACKOFF_S * 2 ** min(attempt - 1, 5)))
        state = known if attempt == 0 and known is not None else await store.load(stream_id)
        events = decide(command, state)
        if not events:
            return Handled(state, [], None)
        after = fold(events, state)
        outbox = messages_for(stream_id, events, after)
        notification = notification_for(stream_id, events, after)
        started = time.perf_counter()
        try:
            position = await append(
                store.target,
                stream_id=stream_id,
                expected_version=state.version,
                events=events,
                state=after,
                metadata=metadata,
                outbox=outbox,
                inbox=inbox,
                results=results if _records_batch(events) else None,
                notification=notification,
            )
        except ConcurrencyConflict:
            continue
        seconds = time.perf_counter() - started
        notified = notification is not None
        await store.committed(observers, stream_id, events, after, seconds, queued=bool(outbox), notified=notified)
        return Handled(after, events, position)
    raise TooMuchContention(f"job {stream_id} changed {MAX_ATTEMPTS} times while deciding")


def _records_batch(events: list[AnyEvent]) -> bool:
    """A batch's items are kept only if its BatchRecorded is appended (not, say, a timeout)."""
    return any(isinstance(event, BatchRecorded) for event in events)
