"""An archived job keeps its leaves: its tombstone records their indexes, its export still
proves inclusion against the checkpoint it was signed under, and later checkpoints
extend that one. A job whose events the tree has not reached yet cannot be archived."""

import uuid

import pytest
from psycopg_pool import AsyncConnectionPool

from domain.merkle import verify_consistency
from projections import merkle_tree
from projections.checkpoints import keyring
from projections.export import read_export, verify_chain, verify_inclusion_in
from projections.log import read_stream
from service.audit.archived import LeavesPending, archived_leaf_indexes, leaf_indexes
from service.store.tombstones import ArchiveRefused, Tombstone, bury
from tests.service.api.conftest import auth
from tests.service.api.test_audit import created_then_cancelled
from tests.service.audit.trees import Audited, checkpoint_now

pytestmark = pytest.mark.anyio


async def tombstone_of(conn, job: uuid.UUID) -> Tombstone:
    events = await read_stream(conn, job)
    return Tombstone(
        stream_id=job,
        owner="acme",
        kind="demo.count",
        status="cancelled",
        events=len(events),
        first_position=events[0].position,
        last_position=events[-1].position,
        chain_head=events[-1].hash,
        archive_name=f"{job}.ndjson",
        archive_sha256=b"\0" * 32,
        finished_at=events[-1].recorded_at,
    )


async def test_an_archived_job_keeps_its_leaves_and_its_export_its_proof(
    audited: Audited, pool: AsyncConnectionPool
) -> None:
    job = uuid.UUID(audited.job)
    response = await audited.client.get(f"/v1/jobs/{job}/export", headers=auth(audited.keys.acme))
    archived_file = read_export(response.content.splitlines())
    async with pool.connection() as conn:
        before = await checkpoint_now(conn, audited.signer)
        indexes = await leaf_indexes(conn, job)
        async with conn.transaction():
            assert await bury(conn, await tombstone_of(conn, job)) == 2
        assert await read_stream(conn, job) == []
        assert await archived_leaf_indexes(conn, job) == indexes
        kept = await merkle_tree.leaves(conn, min(indexes), max(indexes) + 1)
        assert [leaf.index for leaf in kept if leaf.index in indexes] == indexes  # the tree keeps them
        await created_then_cancelled(audited.client, audited.keys.acme)
        after = await checkpoint_now(conn, audited.signer)
        proof = await merkle_tree.consistency_proof(conn, before.tree_size, after.tree_size)

    assert verify_chain(archived_file).ok
    report = verify_inclusion_in(archived_file, keyring([audited.signer.public_key]))
    assert report.ok and report.proven == 2
    assert [p.leaf_index for p in archived_file.proofs] == indexes
    verify_consistency(
        before.tree_size,
        after.tree_size,
        bytes.fromhex(before.root_hash),
        bytes.fromhex(after.root_hash),
        proof,
    )


async def test_a_job_not_yet_in_the_tree_cannot_be_archived(audited: Audited, pool: AsyncConnectionPool) -> None:
    job = uuid.UUID(await created_then_cancelled(audited.client, audited.keys.acme))
    async with pool.connection() as conn:
        with pytest.raises(LeavesPending, match="not yet in the Merkle tree"):
            await leaf_indexes(conn, job)
        stone = await tombstone_of(conn, job)
        with pytest.raises(ArchiveRefused, match="not yet in the Merkle tree"):
            async with conn.transaction():
                await bury(conn, stone)
        assert len(await read_stream(conn, job)) == 2
