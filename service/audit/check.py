"""`jobtrail audit check`: does the log as it stands still give the latest signed root?

The live tree is rebuilt from the events' hashes as `events` holds them now (an archived
event's from the leaf the tree kept), in leaf order, and its root compared with the
checkpoint's. A changed event is named by comparing each event's hash with the one its
leaf was given. If the tree's tables were rewritten as well, that comparison finds
nothing; the earlier checkpoints then bound where the change is: the first of them whose
root the live log no longer gives.

It trusts the checkpoints the log holds to be all there are: one who rewrote the log could
also remove the checkpoints after the change. The checkpoints an auditor saved are the
defence against that (`jobtrail audit verify-consistency`, docs/audit.md).
"""

from collections.abc import Mapping
from uuid import UUID

import msgspec
from psycopg import AsyncConnection

from domain.merkle import appended, fold, leaf_hash
from projections import merkle_tree
from projections.checkpoints import CheckpointError, document, verify_checkpoint
from projections.log import checkpoints_after, latest_checkpoint

CHUNK = 10_000


class ChangedLeaf(msgspec.Struct, frozen=True, kw_only=True):
    leaf_index: int
    position: int
    stream_id: UUID | None  # None when its event is no longer in the log
    version: int | None
    signed_hash: str  # the event's hash when its leaf was given
    hash_now: str | None


class CheckReport(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    tree_size: int = 0
    issued_at: str | None = None
    key_id: str | None = None
    problem: str | None = None
    first_changed_leaf: ChangedLeaf | None = None
    changed_between: tuple[int, int] | None = None  # leaves [a, b), when no leaf could be named


async def check(conn: AsyncConnection, keys: Mapping[str, bytes]) -> CheckReport:
    latest = await latest_checkpoint(conn)
    if latest is None:
        return CheckReport(ok=True, problem="no checkpoint has been issued yet: nothing to compare")
    checkpoint = document(latest[1])
    report = CheckReport(
        ok=False, tree_size=checkpoint.tree_size, issued_at=checkpoint.issued_at, key_id=checkpoint.key_id
    )
    try:
        verify_checkpoint(checkpoint, keys)
    except CheckpointError as error:
        return msgspec.structs.replace(report, problem=str(error))
    signed = {c.tree_size: document(c) for c in await checkpoints_after(conn, 0, 1_000_000)}
    signed_roots = {size: bytes.fromhex(c.root_hash) for size, c in signed.items()}
    frontier: list[tuple[int, int, bytes]] = []
    first_changed: ChangedLeaf | None = None
    first_failed_at: tuple[int, int] | None = None
    previous_size = 0
    size = 0
    while size < checkpoint.tree_size:
        leaves = await merkle_tree.live_leaves(conn, size, min(size + CHUNK, checkpoint.tree_size))
        if not leaves:
            return msgspec.structs.replace(
                report, problem=f"the tree has only {size} leaves, the checkpoint signed {checkpoint.tree_size}"
            )
        for leaf in leaves:
            if leaf.index != size:
                return msgspec.structs.replace(report, problem=f"leaf {size} is missing from the tree")
            now = leaf.now if leaf.now is not None else leaf.leaf
            if first_changed is None and now != leaf.leaf:
                first_changed = ChangedLeaf(
                    leaf_index=leaf.index,
                    position=leaf.position,
                    stream_id=leaf.stream_id,
                    version=leaf.version,
                    signed_hash=leaf.leaf.hex(),
                    hash_now=now.hex(),
                )
            _, frontier = appended(frontier, size, [leaf_hash(now)])
            size += 1
            if size in signed_roots and first_failed_at is None:
                if fold([h for _, _, h in frontier]) != signed_roots[size]:
                    first_failed_at = (previous_size, size)
                previous_size = size
    if first_failed_at is None:
        return msgspec.structs.replace(report, ok=True)
    failed = signed[first_failed_at[1]]
    try:
        verify_checkpoint(failed, keys)
    except CheckpointError as error:  # the stored checkpoint itself was changed, or is another key's
        return msgspec.structs.replace(report, problem=f"{error}: the checkpoint in the log was altered or forged")
    problem = f"the log no longer gives the signed root of tree size {first_failed_at[1]}"
    if first_changed is not None:
        return msgspec.structs.replace(report, problem=problem, first_changed_leaf=first_changed)
    return msgspec.structs.replace(report, problem=problem, changed_between=first_failed_at)
