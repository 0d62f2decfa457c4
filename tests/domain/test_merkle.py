"""The tree's proofs against RFC 9162's definitions computed naively, for every small size
and random large ones."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.merkle import (
    EMPTY_ROOT,
    ProofError,
    appended,
    complete_subtrees,
    consistency_ranges,
    fold,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)

SMALL = range(1, 301)


def data(n: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(n)]


def mth(leaves: list[bytes]) -> bytes:
    """MTH straight from the RFC's recursion."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return subproof(m, leaves[:k], whole) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


class Tree:
    """Complete subtrees built by `appended`, in batches, as the subscriber builds them."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.frontier: list = []
        self.size = 0

    def add(self, leaves: list[bytes]) -> None:
        made, self.frontier = appended(self.frontier, self.size, [leaf_hash(x) for x in leaves])
        self.size += len(leaves)
        self.nodes.update({(level, index): h for level, index, h in made})

    def hash_of(self, start: int, end: int) -> bytes:
        return fold([self.nodes[node] for node in complete_subtrees(start, end)])


def built(leaves: list[bytes], batch: int = 7) -> Tree:
    tree = Tree()
    for start in range(0, len(leaves), batch):
        tree.add(leaves[start : start + batch])
    return tree


ALL = data(300)
TREE = built(ALL)


ROOTS = [mth(ALL[:n]) for n in range(301)]  # a tree only grows: a prefix's nodes are the same nodes


@pytest.mark.parametrize("n", SMALL)
def test_every_size_has_the_rfc_root_and_inclusion_paths(n: int) -> None:
    leaves = ALL[:n]
    root = ROOTS[n]
    assert TREE.hash_of(0, n) == root
    for m in range(n):
        proof = [TREE.hash_of(*r) for r in inclusion_ranges(m, n)]
        assert proof == path(m, leaves)
        verify_inclusion(m, n, leaf_hash(leaves[m]), proof, root)


@pytest.mark.parametrize("n", SMALL)
def test_every_size_proves_it_extends_every_smaller_one(n: int) -> None:
    leaves = ALL[:n]
    for m in range(1, n + 1):
        proof = [TREE.hash_of(*r) for r in consistency_ranges(m, n)]
        assert proof == subproof(m, leaves, True)
        verify_consistency(m, n, ROOTS[m], ROOTS[n], proof)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5000), st.data())
def test_random_sizes_and_batches_agree_with_the_reference(n: int, draw: st.DataObject) -> None:
    leaves = data(n)
    tree = built(leaves, batch=draw.draw(st.integers(1, 600)))
    root = mth(leaves)
    assert tree.hash_of(0, n) == fold([h for _, _, h in tree.frontier])
    assert tree.hash_of(0, n) == root
    m = draw.draw(st.integers(0, n - 1))
    proof = [tree.hash_of(*r) for r in inclusion_ranges(m, n)]
    assert proof == path(m, leaves)
    assert root_from_inclusion(m, n, leaf_hash(leaves[m]), proof) == root
    old = draw.draw(st.integers(1, n))
    consistency = [tree.hash_of(*r) for r in consistency_ranges(old, n)]
    assert consistency == subproof(old, leaves, True)
    verify_consistency(old, n, mth(leaves[:old]), root, consistency)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 300), st.data())
def test_a_changed_leaf_fails_its_proof_and_every_consistency_proof_that_covers_it(n: int, draw: st.DataObject) -> None:
    leaves = ALL[:n]
    changed = draw.draw(st.integers(0, n - 1))
    forged = [*leaves[:changed], b"forged", *leaves[changed + 1 :]]
    forged_tree = built(forged)
    new_root = forged_tree.hash_of(0, n)
    proof = [forged_tree.hash_of(*r) for r in inclusion_ranges(changed, n)]
    with pytest.raises(ProofError):
        verify_inclusion(changed, n, leaf_hash(leaves[changed]), proof, new_root)
    old = draw.draw(st.integers(changed + 1, n))
    consistency = [forged_tree.hash_of(*r) for r in consistency_ranges(old, n)]
    with pytest.raises(ProofError, match="does not extend|different roots"):
        verify_consistency(old, n, mth(leaves[:old]), new_root, consistency)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 300), st.data())
def test_a_truncated_or_padded_proof_is_refused(n: int, draw: st.DataObject) -> None:
    leaves = ALL[:n]
    m = draw.draw(st.integers(0, n - 1))
    proof = path(m, leaves)
    with pytest.raises(ProofError, match="truncated"):
        root_from_inclusion(m, n, leaf_hash(leaves[m]), proof[:-1])
    with pytest.raises(ProofError):
        verify_inclusion(m, n, leaf_hash(leaves[m]), [*proof, proof[0]], mth(leaves))
    old = draw.draw(st.integers(1, n - 1))
    consistency = subproof(old, leaves, True)
    with pytest.raises(ProofError):
        verify_consistency(old, n, mth(leaves[:old]), mth(leaves), consistency[:-1])


def test_sizes_out_of_order_and_leaves_out_of_range_are_refused() -> None:
    with pytest.raises(ProofError, match="cannot extend"):
        verify_consistency(5, 4, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ProofError, match="outside"):
        root_from_inclusion(4, 4, EMPTY_ROOT, [])
    with pytest.raises(ProofError, match="different roots"):
        verify_consistency(3, 3, mth(ALL[:3]), mth(ALL[1:4]), [])
    verify_consistency(0, 9, EMPTY_ROOT, mth(ALL[:9]), [])
