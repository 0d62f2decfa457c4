"""A stream's events proven against a signed checkpoint: what exports and the proof route serve."""

from collections.abc import Sequence

from psycopg import AsyncConnection

from projections import merkle_tree
from projections.checkpoints import document
from projections.export import InclusionProof, SignedProofs
from projections.log import RecordedEvent, checkpoint_of_size, latest_checkpoint


class NoSuchCheckpoint(LookupError):
    """No checkpoint of that tree size was issued."""


async def signed_proofs(
    conn: AsyncConnection, events: Sequence[RecordedEvent], tree_size: int | None = None
) -> SignedProofs | None:
    """The checkpoint of `tree_size` (None: the latest) and the inclusion proof of each of
    `events` that is a leaf of its tree; None when no checkpoint was ever issued."""
    if tree_size is None:
        latest = await latest_checkpoint(conn)
        if latest is None:
            return None
        checkpoint = latest[1]
    else:
        found = await checkpoint_of_size(conn, tree_size)
        if found is None:
            raise NoSuchCheckpoint(f"no checkpoint was issued for tree size {tree_size}")
        checkpoint = found
    leaves = await merkle_tree.leaf_indexes_at(conn, [e.position for e in events])
    covered = [
        (e.version, leaves[e.position])
        for e in events
        if leaves.get(e.position, checkpoint.tree_size) < checkpoint.tree_size
    ]
    paths = await merkle_tree.inclusion_proofs(conn, [index for _, index in covered], checkpoint.tree_size)
    proofs = [
        InclusionProof(version=version, leaf_index=index, path=path)
        for (version, index), path in zip(covered, paths, strict=True)
    ]
    return SignedProofs(checkpoint=document(checkpoint), proofs=proofs)
