"""Fold the whole log (or some streams) into job states, fast; schedules' streams are skipped.

The server aggregates each stream's events into one JSON array (in version order), so
Python decodes a stream with one msgspec call and folds it with plain `evolve`. COPY's
text format escapes a backslash as two; jsonb text has no raw tabs or newlines (it
escapes them inside strings), so undoubling backslashes is the only unescaping needed.
"""

from collections.abc import Callable, Collection
from uuid import UUID

from psycopg import AsyncConnection

from domain.job import fold
from domain.state import JobState
from domain.streams import StreamKind, kind_of, list_decoder
from projections.log import copy_streams, count_events

# Told (events folded so far, events in all) as a fold advances: a plain callable, so
# that whoever draws it (a terminal bar, log lines) stays outside projections.
Progress = Callable[[int, int], None]
REPORTS = 1000  # at most this many progress calls per fold, whatever its size


async def replay_all(conn: AsyncConnection, progress: Progress | None = None) -> dict[UUID, JobState]:
    """Every stream's state, folded from its events.

    With `progress`, the events are counted first; run it in a snapshot (REPEATABLE
    READ) and the count is exactly what the fold reads, so the last call is (n, n).
    """
    total = await count_events(conn) if progress is not None else 0
    return await _replay(conn, None, total, progress)


async def replay_streams(conn: AsyncConnection, stream_ids: Collection[UUID]) -> dict[UUID, JobState]:
    """The states of just these streams (those with no events are absent)."""
    return await _replay(conn, stream_ids, 0, None)


async def _replay(
    conn: AsyncConnection, stream_ids: Collection[UUID] | None, total: int, progress: Progress | None
) -> dict[UUID, JobState]:
    states: dict[UUID, JobState] = {}
    done = reported = 0
    step = max(1, total // REPORTS)
    if progress is not None:
        progress(0, total)
    async with copy_streams(conn, stream_ids) as copy:
        async for row in copy:
            line = bytes(row)
            payload = line[37:].rstrip(b"\n")
            if b"\\" in payload:
                payload = payload.replace(b"\\\\", b"\\")
            events = list_decoder.decode(payload)
            done += len(events)
            if kind_of(events[0]) is StreamKind.JOB:  # a schedule's stream has no job status
                states[UUID(line[:36].decode())] = fold(events)  # type: ignore[arg-type]
            if progress is not None and done - reported >= step:
                progress(done, max(total, done))
                reported = done
    if progress is not None and done != reported:
        progress(done, max(total, done))
    return states
