"""Eight writers append while the tree grows and checkpoints are cut: every event is in
exactly one leaf, in the order the runner reads, and every checkpoint extends the last."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from psycopg import AsyncConnection

from domain.merkle import leaf_hash, node_hash, verify_consistency
from projections import merkle_tree
from projections.checkpoints import Checkpoint, keyring, verify_checkpoint
from projections.merkle_tree import MerkleTree
from projections.runner import follow
from service.audit.checkpoints import issue
from service.clock import now
from tests.projections.test_runner import writer
from tests.service.audit.trees import grow_over_everything, new_signer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def conns(database_url: str) -> AsyncIterator[list[AsyncConnection]]:
    opened = [await AsyncConnection.connect(database_url, autocommit=True) for _ in range(12)]
    try:
        yield opened
    finally:
        for conn in opened:
            await conn.close()


def naive_root(leaves: list[bytes]) -> bytes:
    """The RFC's MTH, level by level, from leaf hashes."""
    level = leaves
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = paired + ([level[-1]] if len(level) % 2 else [])
    return level[0]


async def test_every_event_lands_in_exactly_one_leaf_in_order_while_checkpoints_are_cut(
    conns: list[AsyncConnection],
) -> None:
    signer = new_signer()
    stop, stop_cutting = asyncio.Event(), asyncio.Event()
    issued: list[Checkpoint] = []

    async def cut(conn: AsyncConnection) -> None:
        while not stop_cutting.is_set():
            if (checkpoint := await issue(conn, signer, now())) is not None:
                issued.append(checkpoint)
            await asyncio.sleep(0.01)

    growers = [asyncio.create_task(follow(conn, MerkleTree(), stop, idle_s=0.01, limit=97)) for conn in conns[8:10]]
    cutters = [asyncio.create_task(cut(conn)) for conn in conns[10:12]]
    await asyncio.gather(*(writer(conn, 25, 10) for conn in conns[:8]))  # 8 × 25 jobs × 10 events
    stop_cutting.set()
    await asyncio.gather(*cutters)
    await grow_over_everything(conns[0])
    stop.set()
    await asyncio.gather(*growers)

    conn = conns[0]
    events = await (
        await conn.execute("SELECT position, hash FROM events ORDER BY transaction_id, position")
    ).fetchall()
    leaves = await merkle_tree.leaves(conn, 0, 10**9)
    assert [(leaf.index, leaf.position, leaf.hash) for leaf in leaves] == [
        (index, position, bytes(hashed)) for index, (position, hashed) in enumerate(events)
    ]
    assert len(events) >= 2000

    sizes = [c.tree_size for c in issued]
    assert sizes == sorted(set(sizes)) and len(sizes) >= 2  # no size signed twice, ever growing
    hashes = [leaf_hash(leaf.hash) for leaf in leaves]
    keys = keyring([signer.public_key])
    previous: Checkpoint | None = None
    for checkpoint in issued:
        verify_checkpoint(checkpoint, keys)
        assert bytes.fromhex(checkpoint.root_hash) == naive_root(hashes[: checkpoint.tree_size])
        if previous is not None:
            proof = await merkle_tree.consistency_proof(conn, previous.tree_size, checkpoint.tree_size)
            verify_consistency(
                previous.tree_size,
                checkpoint.tree_size,
                bytes.fromhex(previous.root_hash),
                bytes.fromhex(checkpoint.root_hash),
                proof,
            )
        previous = checkpoint
    assert await merkle_tree.root(conn, len(hashes)) == naive_root(hashes)
