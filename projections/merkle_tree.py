"""The Merkle tree over the log: leaves assigned by a runner subscriber, proofs read from it.

The subscriber gives each event the next leaf, in the gap-safe order the catch-up runner
reads (projections/runner.py), so a leaf index, once given, never changes: an event
committed late by a slow transaction is read after the events already settled, never
slipped in before them. Each round stores its leaves and every complete subtree they
complete, with the runner's checkpoint, in one transaction; appends never wait for it.

A root, an inclusion or a consistency proof for any tree size up to the current one is
then the roots of a few complete subtrees (domain/merkle.py), read in one query. Only the
subtrees of 2**STORED_FROM_LEVEL leaves or more are stored: a smaller one is hashed from
its few leaves as it is read, which makes a leaf about a quarter as costly to keep.
Every statement on `merkle_leaves` and `merkle_nodes` is here.
"""

import struct
from collections.abc import Iterable, Sequence
from uuid import UUID

import msgspec
from psycopg import AsyncConnection

from domain.merkle import (
    Node,
    Range,
    StoredNode,
    appended,
    complete_subtrees,
    consistency_ranges,
    fold,
    inclusion_ranges,
    leaf_hash,
)
from projections.log import RecordedEvent

NAME = "merkle"
STORED_FROM_LEVEL = 3  # subtrees of 8 leaves and more; smaller ones are hashed from their leaves

SIZE = "SELECT coalesce(max(leaf_index) + 1, 0) FROM merkle_leaves"

# Leaves' data (level 0, hashed by the caller) and stored nodes, in one round trip.
NODES = """
SELECT 0::smallint, leaf_index, hash FROM merkle_leaves WHERE leaf_index = ANY(%(leaves)s::bigint[])
UNION ALL
SELECT n.level, n.index, n.hash
  FROM unnest(%(levels)s::smallint[], %(indexes)s::bigint[]) AS wanted (level, index)
  JOIN merkle_nodes n ON n.level = wanted.level AND n.index = wanted.index
"""

# Only an event restored from an archive (re-inserted at its archived position, which the
# tree already holds: a job is archived only once all its events are leaves) can arrive
# with a leaf. Positions grow with the log, so a batch wholly above the highest leaf's
# position holds none; below it, one indexed look says which already have one.
HIGHEST_LEAF_POSITION = "SELECT max(position) FROM merkle_leaves"
LEAFED = "SELECT position FROM merkle_leaves WHERE position = ANY(%(positions)s)"

COPY_LEAVES = "COPY merkle_leaves (leaf_index, position, hash) FROM STDIN (FORMAT BINARY)"
COPY_NODES = "COPY merkle_nodes (level, index, hash) FROM STDIN (FORMAT BINARY)"
# PostgreSQL's binary COPY: a header, then per row its field count and each field's length
# and bytes (bigint and smallint big-endian, bytea raw), then -1.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\0" + struct.pack("!ii", 0, 0)
_COPY_TRAILER = struct.pack("!h", -1)
_LEAF_ROW = struct.Struct("!hiqiqi32s")
_NODE_ROW = struct.Struct("!hihiqi32s")

LEAVES_AT = """
SELECT position, leaf_index FROM merkle_leaves WHERE position = ANY(%(positions)s::bigint[])
"""

# Every leaf from a given one, for `jobtrail audit check`, which compares them with the log.
LEAVES_FROM = """
SELECT leaf_index, position, hash FROM merkle_leaves
 WHERE leaf_index >= %(start)s AND leaf_index < %(end)s ORDER BY leaf_index
"""

# Each leaf beside the event it was given to, as `events` holds it now (none once archived).
LIVE_LEAVES = """
SELECT l.leaf_index, l.position, l.hash, e.hash, e.stream_id, e.version
  FROM merkle_leaves l LEFT JOIN events e ON e.position = l.position
 WHERE l.leaf_index >= %(start)s AND l.leaf_index < %(end)s
 ORDER BY l.leaf_index
"""

# Whether leaves other than those of `stream_id` (the checkpoints') were added since `size`.
GREW = """
SELECT EXISTS (
    SELECT 1 FROM merkle_leaves l JOIN events e ON e.position = l.position
     WHERE l.leaf_index >= %(size)s AND e.stream_id <> %(stream_id)s
)
"""


class Leaf(msgspec.Struct, frozen=True):
    index: int
    position: int
    hash: bytes  # the event's chain hash as it was when the leaf was given


class MerkleTree:
    """A runner Subscriber: the next leaves, and the complete subtrees they complete.

    The tree's right edge (its frontier) is kept between rounds and read again only when
    the tree's size says another process grew it meanwhile. Rows go in by binary COPY,
    written in one piece: a row at a time costs more than the hashing.
    """

    name = NAME

    def __init__(self) -> None:
        self._edge: tuple[int, list[StoredNode]] | None = None

    async def apply(self, conn: AsyncConnection, events: Sequence[RecordedEvent]) -> None:
        events = await _without_leaves(conn, events)
        if not events:
            return
        size = await tree_size(conn)
        edge = self._edge
        frontier = edge[1] if edge is not None and edge[0] == size else await _frontier(conn, size)
        self._edge = None  # until this round's leaves are written
        made, frontier = appended(frontier, size, [leaf_hash(event.hash) for event in events])
        leaves = b"".join(_LEAF_ROW.pack(3, 8, size + n, 8, e.position, 32, e.hash) for n, e in enumerate(events))
        nodes = b"".join(
            _NODE_ROW.pack(3, 2, level, 8, index, 32, hashed)
            for level, index, hashed in made
            if level >= STORED_FROM_LEVEL
        )
        async with conn.cursor().copy(COPY_LEAVES) as copy:
            await copy.write(_COPY_HEADER + leaves + _COPY_TRAILER)
        async with conn.cursor().copy(COPY_NODES) as copy:
            await copy.write(_COPY_HEADER + nodes + _COPY_TRAILER)
        self._edge = (size + len(events), frontier)


async def _without_leaves(conn: AsyncConnection, events: Sequence[RecordedEvent]) -> Sequence[RecordedEvent]:
    """The events that are not leaves yet: all but those a restore brought back."""
    if not events:
        return events
    (highest,) = await (await conn.execute(HIGHEST_LEAF_POSITION)).fetchone()  # type: ignore[misc]
    if highest is None or min(e.position for e in events) > highest:
        return events
    positions = [e.position for e in events]
    leafed = {position for (position,) in await (await conn.execute(LEAFED, {"positions": positions})).fetchall()}
    return [e for e in events if e.position not in leafed]


async def tree_size(conn: AsyncConnection) -> int:
    (size,) = await (await conn.execute(SIZE)).fetchone()  # type: ignore[misc]
    return int(size)


async def _nodes(conn: AsyncConnection, wanted: Iterable[Node]) -> dict[Node, bytes]:
    """The root of each complete subtree: stored, or hashed from its leaves when small."""
    wanted = list(dict.fromkeys(wanted))
    stored = [(level, index) for level, index in wanted if level >= STORED_FROM_LEVEL]
    small = [(level, index) for level, index in wanted if level < STORED_FROM_LEVEL]
    leaves = sorted({leaf for level, index in small for leaf in range(index << level, (index + 1) << level)})
    params = {"leaves": leaves, "levels": [level for level, _ in stored], "indexes": [index for _, index in stored]}
    found: dict[Node, bytes] = {}
    for level, index, hashed in await (await conn.execute(NODES, params)).fetchall():
        found[(level, index)] = leaf_hash(hashed) if level == 0 else bytes(hashed)
    for level, index in small:
        block = [found[(0, leaf)] for leaf in range(index << level, (index + 1) << level) if (0, leaf) in found]
        if len(block) == 1 << level:
            found[(level, index)] = appended([], 0, block)[1][0][2]
    if any(node not in found for node in wanted):
        raise LookupError("the tree has no such size yet")
    return {node: found[node] for node in wanted}


async def _frontier(conn: AsyncConnection, size: int) -> list[StoredNode]:
    wanted = complete_subtrees(0, size)
    found = await _nodes(conn, wanted)
    return [(level, index, found[(level, index)]) for level, index in wanted]


async def _range_hashes(conn: AsyncConnection, ranges: Sequence[Range]) -> list[bytes]:
    """The hash of each range, from one read of the complete subtrees they are made of."""
    parts = [complete_subtrees(start, end) for start, end in ranges]
    found = await _nodes(conn, (node for part in parts for node in part))
    return [fold([found[node] for node in part]) for part in parts]


async def root(conn: AsyncConnection, size: int) -> bytes:
    """The root of the tree of the first `size` leaves (LookupError past the current size)."""
    return (await _range_hashes(conn, [(0, size)]))[0]


async def inclusion_proofs(conn: AsyncConnection, indexes: Sequence[int], size: int) -> list[list[bytes]]:
    """The inclusion path of each leaf in the tree of `size`, all read in one query."""
    ranges = [inclusion_ranges(index, size) for index in indexes]
    hashes = iter(await _range_hashes(conn, [r for path in ranges for r in path]))
    return [[next(hashes) for _ in path] for path in ranges]


async def consistency_proof(conn: AsyncConnection, old_size: int, new_size: int) -> list[bytes]:
    return await _range_hashes(conn, consistency_ranges(old_size, new_size))


async def leaf_indexes_at(conn: AsyncConnection, positions: Sequence[int]) -> dict[int, int]:
    """position -> leaf index, for those events that have a leaf yet."""
    rows = await (await conn.execute(LEAVES_AT, {"positions": list(positions)})).fetchall()
    return dict(rows)


async def leaves(conn: AsyncConnection, start: int, end: int) -> list[Leaf]:
    rows = await (await conn.execute(LEAVES_FROM, {"start": start, "end": end})).fetchall()
    return [Leaf(index, position, bytes(hashed)) for index, position, hashed in rows]


class LiveLeaf(msgspec.Struct, frozen=True):
    index: int
    position: int
    leaf: bytes  # the hash the tree was given
    now: bytes | None  # the event's hash in the log now; None when it was archived
    stream_id: UUID | None  # None too when archived
    version: int | None


async def live_leaves(conn: AsyncConnection, start: int, end: int) -> list[LiveLeaf]:
    rows = await (await conn.execute(LIVE_LEAVES, {"start": start, "end": end})).fetchall()
    return [
        LiveLeaf(index, position, bytes(leaf), bytes(now) if now is not None else None, stream_id, version)
        for index, position, leaf, now, stream_id, version in rows
    ]


async def grew_beyond(conn: AsyncConnection, size: int, stream_id: UUID) -> bool:
    """Whether the tree has a leaf at or past `size` that is not of `stream_id`."""
    (grew,) = await (await conn.execute(GREW, {"size": size, "stream_id": stream_id})).fetchone()  # type: ignore[misc]
    return bool(grew)
