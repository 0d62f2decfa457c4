"""The log as readers see it: recorded events with their envelope, and gap-safe reads.

Every statement that reads `events` lives here (the one that writes it is the event
store's append); the stats lag, which reads the log after a checkpoint, is with the
checkpoints in projections/runner.py.
"""

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, cast
from uuid import UUID

import msgspec
from psycopg import AsyncConnection, AsyncCopy

from domain.checkpoint import CHECKPOINT_STREAM, CheckpointIssued
from domain.events import AnyEvent, JobCreated
from domain.streams import StreamEvent, StreamKind, kind_of
from domain.streams import decoder as event_decoder
from projections.chain import ChainLink


class Metadata(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Provenance: who or what caused an event."""

    actor: str | None = None
    message_id: str | None = None
    retried: int | None = None
    request_id: str | None = None


class RecordedEvent(msgspec.Struct, frozen=True, kw_only=True):
    position: int
    stream_id: UUID
    version: int
    type: str
    event: StreamEvent  # a job's, a schedule's or a checkpoint: domain.streams.kind_of tells
    metadata: Metadata
    recorded_at: datetime
    data: msgspec.Raw  # the stored jsonb text, exactly as hashed
    metadata_raw: msgspec.Raw
    prev_hash: bytes | None
    hash: bytes
    transaction_id: int = 0


metadata_encoder = msgspec.json.Encoder()
metadata_decoder = msgspec.json.Decoder(Metadata)

_COLUMNS = """position, stream_id, version, type, data::text, metadata::text, recorded_at,
    prev_hash, hash, transaction_id::text::bigint"""

READ_STREAM = f"""
SELECT {_COLUMNS} FROM events
 WHERE stream_id = %(stream_id)s
   AND version > coalesce(%(after_version)s::integer, 0)
   AND version <= coalesce(%(to_version)s::integer, 2147483647)
   AND recorded_at <= coalesce(%(as_of)s::timestamptz, 'infinity')
 ORDER BY version
"""

# Only transactions below the snapshot's xmin are certainly finished: an event of a
# slower transaction that is still open has a lower position than ones already
# visible, and reading by position alone would step over it for good. ORDER BY names
# the table's columns: bare, `transaction_id` would mean the bigint output column, and
# sorting by that cast reads and sorts the whole unseen tail instead of the index.
READ_AFTER = f"""
SELECT {_COLUMNS} FROM events
 WHERE (transaction_id, position) > (%(transaction_id)s::text::xid8, %(position)s)
   AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY events.transaction_id, events.position
 LIMIT %(limit)s
"""

# The same order without the cut, each row marked settled (below xmin) or not: settled
# rows form a prefix, and any unsettled one is an event already committed but held back
# behind an older open transaction. One statement, so one snapshot answers both. ORDER BY
# names the table's columns, as in READ_AFTER.
READ_AFTER_MARKED = f"""
SELECT {_COLUMNS}, transaction_id < pg_snapshot_xmin(pg_current_snapshot()) FROM events
 WHERE (transaction_id, position) > (%(transaction_id)s::text::xid8, %(position)s)
 ORDER BY events.transaction_id, events.position
 LIMIT %(limit)s
"""

# Where a reconnecting live client resumes: the log's order key of the event it saw last.
TRANSACTION_OF = "SELECT transaction_id::text::bigint FROM events WHERE position = %(position)s"

# The newest event no open transaction can still slip behind: a feed without a resume
# point starts there, so it carries what commits from now on. ORDER BY names the table's
# columns: bare, `transaction_id` would be the bigint output column, and the whole log
# would be sorted instead of the index read backwards from its end.
HORIZON = """
SELECT transaction_id::text::bigint, position FROM events
 WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY events.transaction_id DESC, events.position DESC
 LIMIT 1
"""

# Each stream's events as one JSON array in version order, for projections/replay.py.
COPY_STREAMS = """
COPY (
    SELECT stream_id, '[' || string_agg(data::text, ',' ORDER BY version) || ']'
      FROM events
     GROUP BY stream_id
) TO STDOUT
"""
COPY_SOME_STREAMS = """
COPY (
    SELECT stream_id, '[' || string_agg(data::text, ',' ORDER BY version) || ']'
      FROM events
     WHERE stream_id = ANY(%(stream_ids)s)
     GROUP BY stream_id
) TO STDOUT
"""
COUNT_EVENTS = "SELECT count(*) FROM events"

# The streams with an event whose transaction `snapshot` did not see: a range scan of
# the transaction_id index from the snapshot's xmin (projections/shadow_rebuild.py); and
# the streams archived since, whose removal left no event to find: their tombstones
# (service/store/tombstones.py), written by the transaction that removed them, found
# through their own transaction index.
CHANGED_SINCE = """
SELECT stream_id FROM events
 WHERE transaction_id >= pg_snapshot_xmin(%(snapshot)s::pg_snapshot)
   AND NOT pg_visible_in_snapshot(transaction_id, %(snapshot)s::pg_snapshot)
UNION
SELECT stream_id FROM tombstones
 WHERE transaction_id >= pg_snapshot_xmin(%(snapshot)s::pg_snapshot)
   AND NOT pg_visible_in_snapshot(transaction_id, %(snapshot)s::pg_snapshot)
"""

# Which of some streams are still in the log (not archived): their first events.
PRESENT = "SELECT stream_id FROM events WHERE stream_id = ANY(%(stream_ids)s) AND version = 1"

# The last event before a position (the primary key read backwards): where a live reader
# resumes when the event it saw last was archived since.
LAST_BEFORE = """
SELECT transaction_id::text::bigint, position FROM events
 WHERE position < %(position)s ORDER BY position DESC LIMIT 1
"""

# A subscriber's unseen tail, in the index's order and capped, so the planner walks
# events_transaction_order from the checkpoint instead of estimating a third of the log
# and scanning all of it. A lag past the cap counts as the cap; its age is still that of
# the events next after the checkpoint. A subscriber that never ran has seen nothing.
UNSEEN = """
SELECT count(*), coalesce(extract(epoch FROM now() - min(recorded_at)), 0)::float8
  FROM (SELECT recorded_at FROM events
         WHERE (transaction_id, position) > (
                coalesce((SELECT transaction_id FROM projection_checkpoints WHERE name = %(name)s), '0'::xid8),
                coalesce((SELECT position FROM projection_checkpoints WHERE name = %(name)s), 0))
         ORDER BY transaction_id, position
         LIMIT %(cap)s) AS unseen
"""

# Checkpoints (domain/checkpoint.py): the stream's last, or found by tree size through
# the partial index events_checkpoints (migrations/0018_merkle_tree.sql).
LATEST_CHECKPOINT = """
SELECT version, data::text FROM events WHERE stream_id = %(stream_id)s ORDER BY version DESC LIMIT 1
"""
CHECKPOINTS_AFTER = """
SELECT version, data::text FROM events
 WHERE type = 'CheckpointIssued' AND ((data ->> 'tree_size'))::bigint > %(after)s AND stream_id = %(stream_id)s
 ORDER BY ((data ->> 'tree_size'))::bigint
 LIMIT %(limit)s
"""
CHECKPOINT_OF_SIZE = """
SELECT version, data::text FROM events
 WHERE type = 'CheckpointIssued' AND ((data ->> 'tree_size'))::bigint = %(size)s AND stream_id = %(stream_id)s
"""

# `jobtrail audit check`: the chain hash each event has now, by position.
HASHES_AT = "SELECT position, hash FROM events WHERE position = ANY(%(positions)s::bigint[])"


def link(event: RecordedEvent) -> ChainLink:
    """The fields of a recorded event that its hash covers."""
    return ChainLink(
        stream_id=event.stream_id,
        version=event.version,
        type=event.type,
        data=event.data,
        metadata=event.metadata_raw,
        recorded_at=event.recorded_at,
        prev_hash=event.prev_hash,
        hash=event.hash,
    )


def job_owner(events: Sequence[RecordedEvent]) -> str | None:
    """Whose job a stream read from its start is; None when it is empty or a schedule's, so
    that a job's routes answer a schedule's id as they answer a missing job."""
    first = events[0].event if events else None
    return first.owner if isinstance(first, JobCreated) else None


def job_event(recorded: RecordedEvent) -> AnyEvent:
    """The event of a stream known to be a job's (see `job_owner`)."""
    event = recorded.event
    if (kind := kind_of(event)) is not StreamKind.JOB:
        raise TypeError(f"{recorded.stream_id} is a {kind}'s stream, not a job's")
    return cast(AnyEvent, event)  # a tuple of types held in a variable does not narrow


def recorded(row: tuple[Any, ...]) -> RecordedEvent:
    position, stream_id, version, type_, data, metadata, recorded_at, prev_hash, hash_, txid = row
    return RecordedEvent(
        position=position,
        stream_id=stream_id,
        version=version,
        type=type_,
        event=event_decoder.decode(data),
        metadata=metadata_decoder.decode(metadata),
        recorded_at=recorded_at,
        data=msgspec.Raw(data.encode()),
        metadata_raw=msgspec.Raw(metadata.encode()),
        prev_hash=prev_hash,
        hash=hash_,
        transaction_id=txid,
    )


async def read_stream(
    conn: AsyncConnection,
    stream_id: UUID,
    *,
    after_version: int | None = None,
    to_version: int | None = None,
    as_of: datetime | None = None,
) -> list[RecordedEvent]:
    """A stream whole, from after a version, up to a version, or as it stood at an instant."""
    params = {"stream_id": stream_id, "after_version": after_version, "to_version": to_version, "as_of": as_of}
    cursor = await conn.execute(READ_STREAM, params)
    return [recorded(row) for row in await cursor.fetchall()]


async def read_after(
    conn: AsyncConnection, transaction_id: int, position: int, limit: int = 1000
) -> list[RecordedEvent]:
    """The next events after a checkpoint, in an order no late commit can slip behind."""
    params = {"transaction_id": transaction_id, "position": position, "limit": limit}
    cursor = await conn.execute(READ_AFTER, params)
    return [recorded(row) for row in await cursor.fetchall()]


async def read_settled_after(
    conn: AsyncConnection, transaction_id: int, position: int, limit: int = 1000
) -> tuple[list[RecordedEvent], bool]:
    """`read_after`, and whether committed events beyond those are held back for now.

    A live reader must poll while they are: no notification comes when the older
    transaction holding them back ends without writing events.
    """
    params = {"transaction_id": transaction_id, "position": position, "limit": limit}
    rows = await (await conn.execute(READ_AFTER_MARKED, params)).fetchall()
    settled = [recorded(row[:-1]) for row in rows if row[-1]]
    return settled, len(settled) < len(rows)


async def transaction_of(conn: AsyncConnection, position: int) -> int | None:
    """The transaction id that appended the event at `position`; None if there is none."""
    found = await (await conn.execute(TRANSACTION_OF, {"position": position})).fetchone()
    return found[0] if found else None


async def horizon(conn: AsyncConnection) -> tuple[int, int] | None:
    """(transaction id, position) of the newest settled event; None for an empty log."""
    found = await (await conn.execute(HORIZON)).fetchone()
    return (found[0], found[1]) if found else None


def copy_streams(
    conn: AsyncConnection, stream_ids: Collection[UUID] | None = None
) -> AbstractAsyncContextManager[AsyncCopy]:
    """COPY out every stream (or these), one row each: its id, a tab, its events' JSON array."""
    if stream_ids is None:
        return conn.cursor().copy(COPY_STREAMS)
    return conn.cursor().copy(COPY_SOME_STREAMS, {"stream_ids": list(stream_ids)})


async def count_events(conn: AsyncConnection) -> int:
    (count,) = await (await conn.execute(COUNT_EVENTS)).fetchone()  # type: ignore[misc]
    return int(count)


async def changed_since(conn: AsyncConnection, snapshot: str) -> list[UUID]:
    """The streams with events that `snapshot` (a pg_snapshot's text) did not see, or
    archived since it."""
    cursor = await conn.execute(CHANGED_SINCE, {"snapshot": snapshot})
    return [stream_id for (stream_id,) in await cursor.fetchall()]


async def present(conn: AsyncConnection, stream_ids: Collection[UUID]) -> set[UUID]:
    """Those of `stream_ids` that the log holds: the others were archived."""
    cursor = await conn.execute(PRESENT, {"stream_ids": list(stream_ids)})
    return {stream_id for (stream_id,) in await cursor.fetchall()}


async def last_before(conn: AsyncConnection, position: int) -> tuple[int, int] | None:
    """(transaction id, position) of the last event before `position`; None if there is none."""
    found = await (await conn.execute(LAST_BEFORE, {"position": position})).fetchone()
    return (found[0], found[1]) if found else None


async def unseen(conn: AsyncConnection, subscriber: str, cap: int) -> tuple[int, float]:
    """How many events the subscriber has not seen (at most `cap`), and the oldest one's age in seconds."""
    count, seconds = await (await conn.execute(UNSEEN, {"name": subscriber, "cap": cap})).fetchone()  # type: ignore[misc]
    return count, seconds


_checkpoint_decoder = msgspec.json.Decoder(CheckpointIssued)


async def latest_checkpoint(conn: AsyncConnection) -> tuple[int, CheckpointIssued] | None:
    """(version, event) of the newest checkpoint; None before the first."""
    found = await (await conn.execute(LATEST_CHECKPOINT, {"stream_id": CHECKPOINT_STREAM})).fetchone()
    return (found[0], _checkpoint_decoder.decode(found[1])) if found else None


async def checkpoints_after(conn: AsyncConnection, tree_size: int, limit: int) -> list[CheckpointIssued]:
    """The checkpoints of trees larger than `tree_size`, smallest first."""
    params = {"after": tree_size, "limit": limit, "stream_id": CHECKPOINT_STREAM}
    rows = await (await conn.execute(CHECKPOINTS_AFTER, params)).fetchall()
    return [_checkpoint_decoder.decode(data) for _, data in rows]


async def checkpoint_of_size(conn: AsyncConnection, tree_size: int) -> CheckpointIssued | None:
    params = {"size": tree_size, "stream_id": CHECKPOINT_STREAM}
    found = await (await conn.execute(CHECKPOINT_OF_SIZE, params)).fetchone()
    return _checkpoint_decoder.decode(found[1]) if found else None


async def hashes_at(conn: AsyncConnection, positions: Sequence[int]) -> dict[int, bytes]:
    """position -> the event's chain hash as stored now (archived events are absent)."""
    rows = await (await conn.execute(HASHES_AT, {"positions": list(positions)})).fetchall()
    return {position: bytes(hashed) for position, hashed in rows}
