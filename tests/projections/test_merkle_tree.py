"""The tree as stored: grown in uneven rounds, it gives the RFC's root, inclusion paths and
consistency proofs for every size it has had, stored subtrees and ones hashed from leaves alike."""

import asyncio

import pytest
from psycopg import AsyncConnection

from domain.merkle import EMPTY_ROOT, leaf_hash, node_hash, verify_consistency, verify_inclusion
from projections import merkle_tree
from projections.merkle_tree import MerkleTree
from projections.runner import catch_up
from tests.projections.test_runner import write_job

pytestmark = pytest.mark.anyio


def mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


async def grown_to(conn: AsyncConnection, size: int) -> None:
    """Rounds of 5 (ending mid-subtree) until the tree has `size` leaves. The runner reads
    below the server's oldest open transaction, which may be another database's a while."""
    async with asyncio.timeout(60):
        while await merkle_tree.tree_size(conn) < size:
            if not await catch_up(conn, MerkleTree(), limit=5):
                await asyncio.sleep(0.05)


async def test_every_size_has_the_rfc_root_and_proofs(database_url: str) -> None:
    async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
        written = 0
        for events in (1, 2, 3, 7, 9, 13, 17, 21):
            await write_job(conn, events)
            written += events
            await grown_to(conn, written)
        rows = await (await conn.execute("SELECT hash FROM events ORDER BY transaction_id, position")).fetchall()
        leaves = [leaf_hash(bytes(h)) for (h,) in rows]
        n = len(leaves)
        assert await merkle_tree.tree_size(conn) == n == 73
        for size in range(0, n + 1):
            root = mth(leaves[:size])
            assert await merkle_tree.root(conn, size) == root
            paths = await merkle_tree.inclusion_proofs(conn, list(range(size)), size)
            for index, path in enumerate(paths):
                verify_inclusion(index, size, leaves[index], path, root)
            for old in range(1, size + 1, 3):
                proof = await merkle_tree.consistency_proof(conn, old, size)
                verify_consistency(old, size, mth(leaves[:old]), root, proof)
        with pytest.raises(LookupError):
            await merkle_tree.root(conn, n + 1)
