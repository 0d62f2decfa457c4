"""RFC 9162 Merkle tree hashing: roots, inclusion and consistency proofs, and their checks.

Pure. A tree is kept as its complete subtrees: node (level, index) is the root of the
leaves [index * 2**level, (index + 1) * 2**level). Every hash a proof carries is the root
of a range of leaves that the RFC's recursion splits off, and such a range is at most
log2(n) complete subtrees, left to right (`complete_subtrees`), whose roots fold from the
right (`fold`). So a proof is computed as ranges, read as a handful of stored nodes, and
folded; nothing here knows where the nodes are kept.
"""

import hashlib
from collections.abc import Iterable, Sequence

Range = tuple[int, int]  # leaves [start, end)
Node = tuple[int, int]  # (level, index)
StoredNode = tuple[int, int, bytes]  # (level, index, hash)

EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not prove what it claims; the message says why."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The RFC's k: the largest power of two smaller than `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def complete_subtrees(start: int, end: int) -> list[Node]:
    """The complete subtrees, left to right, whose roots fold into the hash of [start, end).

    Valid for the ranges the RFC's recursion produces (each starts at a multiple of the
    largest power of two it holds), which are the only ones asked for."""
    nodes: list[Node] = []
    while start < end:
        size = end - start
        width = size if size & (size - 1) == 0 else _split(size)
        level = width.bit_length() - 1
        nodes.append((level, start >> level))
        start += width
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """The hash of a range from its complete subtrees' roots, left to right."""
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = node_hash(left, root)
    return root


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose hashes are the inclusion path of leaf `index` in a tree of `size`,
    bottom up (RFC 9162 2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return ranges[::-1]


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """The ranges whose hashes prove that the tree of `new_size` extends the tree of
    `old_size` (RFC 9162 2.1.4.1); empty when there is nothing to prove."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"a tree of {new_size} cannot extend one of {old_size}")
    if old_size in (0, new_size):
        return []
    ranges: list[Range] = []
    start, end, whole = 0, new_size, True
    remaining = old_size  # leaves of the old tree in [start, end)
    while remaining != end - start:
        k = _split(end - start)
        if remaining <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, remaining, whole = start + k, remaining - k, False
    if not whole:
        ranges.append((start, end))
    return ranges[::-1]


def appended(
    frontier: Sequence[StoredNode], size: int, leaves: Iterable[bytes]
) -> tuple[list[StoredNode], list[StoredNode]]:
    """Append leaf hashes to a tree of `size` given its frontier (`complete_subtrees(0, size)`
    with hashes): the complete subtrees this completes, and the new frontier."""
    stack = list(frontier)
    made: list[StoredNode] = []
    for offset, hashed in enumerate(leaves):
        node: StoredNode = (0, size + offset, hashed)
        made.append(node)
        while stack and stack[-1][0] == node[0]:
            left = stack.pop()
            node = (node[0] + 1, node[1] >> 1, node_hash(left[2], node[2]))
            made.append(node)
        stack.append(node)
    return made, stack


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """The root that an inclusion path leads to from a leaf hash (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is outside a tree of {size}")
    fn, sn, root = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            root = node_hash(sibling, root)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            root = node_hash(root, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is truncated: it stops below the root")
    return root


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> None:
    """Raise ProofError unless `leaf` is leaf `index` of the tree of `size` whose root is `root`."""
    if root_from_inclusion(index, size, leaf, path) != root:
        raise ProofError(f"leaf {index} is not in the tree of {size} with that root")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Raise ProofError unless the tree (new_size, new_root) extends (old_size, old_root)
    (RFC 9162 2.1.4.2)."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree of {new_size} cannot extend one of {old_size}")
    if old_size == 0 or old_size == new_size:
        if proof:
            raise ProofError("a proof was given where none is needed")
        if old_size == new_size and old_root != new_root:
            raise ProofError(f"two different roots for the same tree size {old_size}")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first = second = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            first, second = node_hash(c, first), node_hash(c, second)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            second = node_hash(second, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is truncated")
    if first != old_root or second != new_root:
        which = "old" if first != old_root else "new"
        raise ProofError(
            f"the tree of size {new_size} does not extend the tree of size {old_size}: the proof does not lead"
            f" to the {which} root (its first {old_size} leaves differ, or the proof is for other trees)"
        )
