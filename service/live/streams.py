"""Live streams: a job's versions as they are appended, and the global log as it commits.

Both hold no connection between reads: they wait on the process's EventFeed, then read
through the pool. They know nothing of HTTP; the routes turn what they yield into
Server-Sent Events. Both end once their key is found revoked (service/live/key_recheck.py):
they check it before sending anything more, and never wait longer than the next check.

A job's stream is read by version: version n+1 can only be appended by a writer that
saw n committed, so "every version after the last one sent" never skips one. The global
log is read in gap-safe `(transaction_id, position)` order below the snapshot's xmin
(see projections/log.py): a slower transaction that commits after a faster one is
still delivered, before the faster one's events, and a resume point never moves past
an event that is yet to commit. While older transactions hold events back, no
notification may come when they end, so the reader polls (backing off) until nothing
visible is left unread.
"""

import time
from collections.abc import AsyncGenerator
from uuid import UUID

import msgspec
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from domain.job import evolve
from domain.state import JobState, is_final
from projections import log
from projections.log import RecordedEvent, job_event, read_settled_after, read_stream
from service.live.event_feed import EventFeed
from service.live.key_recheck import NO_KEY, KeyRecheck, NoKey
from service.store import job_status, tombstones

BATCH = 500
HELD_BACK_POLL_S = (0.02, 1.0)  # first and longest wait while older transactions hold events back


class Version(msgspec.Struct, frozen=True):
    """A job as it stood right after one of its events."""

    event: RecordedEvent
    state: JobState


class Idle(msgspec.Struct, frozen=True):
    """Nothing to send for the keep-alive period."""


class Cursor(msgspec.Struct, frozen=True):
    """A place in the gap-safe order of the log."""

    transaction_id: int
    position: int


class LogFilter(msgspec.Struct, frozen=True, kw_only=True):
    type: str | None = None
    kind: str | None = None  # the job's kind


START = Cursor(0, 0)


class Silence:
    """How long a stream has sent nothing: keep-alives follow the clock, not the wake-ups
    (fallback and filtered-out events wake a stream more often than it must speak)."""

    def __init__(self, keepalive_s: float) -> None:
        self.keepalive_s = keepalive_s
        self.broken()

    def broken(self) -> None:
        self._since = time.monotonic()

    def due(self) -> bool:
        return self.left() == 0

    def left(self) -> float:
        return max(0.0, self.keepalive_s - (time.monotonic() - self._since))


async def resume_point(conn: AsyncConnection, position: int) -> Cursor | None:
    """The cursor of the event at `position` (0: the start of the log); None if there is none.

    An event archived since the client saw it has left no cursor: the stream resumes after
    the last event before it that the log still holds, so it goes on with the next
    remaining events (the archived ones are not replayed). The archived event's own place
    in the gap-safe order is lost with it: should transactions around it have committed
    out of position order, a few of their events may be sent again, or passed over."""
    if position == 0:
        return START
    transaction_id = await log.transaction_of(conn, position)
    if transaction_id is not None:
        return Cursor(transaction_id, position)
    if not await tombstones.spanned(conn, position):
        return None
    before = await log.last_before(conn, position)
    return Cursor(*before) if before else START


async def horizon(conn: AsyncConnection) -> Cursor:
    """Where a feed without a resume point starts: what commits from now on."""
    found = await log.horizon(conn)
    return Cursor(*found) if found else START


async def job_versions(
    feed: EventFeed,
    pool: AsyncConnectionPool,
    stream_id: UUID,
    state: JobState,
    backlog: list[RecordedEvent],
    keepalive_s: float,
    key: KeyRecheck | NoKey = NO_KEY,
) -> AsyncGenerator[Version | Idle, None]:
    """Each version after `state`, starting with `backlog`; ends after a final status or
    once `key` is found revoked."""
    silence = Silence(keepalive_s)
    with feed.subscribe(stream_id) as subscription:
        events = backlog
        while True:
            if await key.revoked():
                return
            for event in events:
                state = evolve(state, job_event(event))
                yield Version(event, state)
                silence.broken()
                if is_final(state):
                    return
            if feed.ending:
                return
            subscription.woken.clear()  # before reading: a commit during the read rings again
            async with pool.connection() as conn:
                events = await read_stream(conn, stream_id, after_version=state.version)
            if not events:
                if silence.due():
                    yield Idle()
                    silence.broken()
                await feed.wait(subscription, min(silence.left(), key.left()))


async def log_events(
    feed: EventFeed,
    pool: AsyncConnectionPool,
    cursor: Cursor,
    log_filter: LogFilter,
    keepalive_s: float,
    key: KeyRecheck | NoKey = NO_KEY,
) -> AsyncGenerator[RecordedEvent | Idle, None]:
    """Every event after `cursor` that passes the filter, in gap-safe order, until shutdown
    or until `key` is found revoked."""
    silence = Silence(keepalive_s)
    poll_s = HELD_BACK_POLL_S[0]
    with feed.subscribe(None) as subscription:
        while not feed.ending:
            if await key.revoked():
                return
            subscription.woken.clear()
            async with pool.connection() as conn:
                events, held_back = await read_settled_after(conn, cursor.transaction_id, cursor.position, BATCH)
                kinds = await _kinds(conn, events) if log_filter.kind and events else {}
            if events:
                cursor = Cursor(events[-1].transaction_id, events[-1].position)
            for event in events:
                if _passes(event, log_filter, kinds):
                    yield event
                    silence.broken()
            if len(events) == BATCH and not held_back:
                continue
            if silence.due():
                yield Idle()
                silence.broken()
            if held_back:  # behind an older, still open transaction: no NOTIFY will say when it ends
                await feed.wait(subscription, min(poll_s, silence.left(), key.left()))
                poll_s = min(poll_s * 2, HELD_BACK_POLL_S[1])
            else:
                poll_s = HELD_BACK_POLL_S[0]
                await feed.wait(subscription, min(silence.left(), key.left()))


def _passes(event: RecordedEvent, log_filter: LogFilter, kinds: dict[UUID, str]) -> bool:
    if log_filter.type is not None and event.type != log_filter.type:
        return False
    return log_filter.kind is None or kinds.get(event.stream_id) == log_filter.kind


async def _kinds(conn: AsyncConnection, events: list[RecordedEvent]) -> dict[UUID, str]:
    return await job_status.kinds_of(conn, list({e.stream_id for e in events}))
