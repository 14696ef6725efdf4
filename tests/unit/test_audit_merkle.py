"""Proofs generated from a tree verify; every change to a proof, a size or a hash is refused."""

import hashlib

import pytest

from concord.audit.merkle import (EMPTY_ROOT, ProofError, TreeHasher, complete_nodes, consistency_ranges, leaf_hash,
                                  node_hash, root_of, split_point, subtree_from_nodes, inclusion_ranges,
                                  verify_consistency, verify_inclusion)

LEAVES = [leaf_hash(f"entry {i}".encode()) for i in range(70)]


def mth(leaves):
    """RFC 9162 2.1.1, written the way the RFC states it."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = split_point(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def hashes(ranges):
    return [mth(LEAVES[a:b]) for a, b in ranges]


def test_hashes_follow_rfc_6962():
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert node_hash(b"L", b"R") == hashlib.sha256(b"\x01LR").digest()
    assert root_of([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("cuts", [(70,), (1, 2, 3, 70), (5, 64, 65, 70), (33, 34, 70)])
def test_streaming_root_and_closed_nodes_match_the_definition(cuts):
    tree, nodes, start = TreeHasher(), [], 0
    for end in cuts:
        tree.extend(LEAVES[start:end], nodes=nodes)
        assert tree.root() == mth(LEAVES[:end])
        start = end
    got = {(lv, first + k): h for lv, first, hs in nodes for k, h in enumerate(hs)}
    want = {(lv, i): mth(LEAVES[i << lv:(i + 1) << lv]) for lv in range(1, 7) for i in range(70 >> lv)}
    assert got == want
    resumed = TreeHasher.resume(40, [h for _, _, h in _at(40).frontier()])
    resumed.extend(LEAVES[40:])
    assert resumed.root() == mth(LEAVES)


def _at(size):
    t = TreeHasher()
    t.extend(LEAVES[:size])
    return t


def test_subtrees_rebuild_from_their_complete_nodes():
    nodes = {(lv, i): mth(LEAVES[i << lv:(i + 1) << lv]) for lv in range(7) for i in range(70 >> lv)}
    for start, end in [(0, 70), (64, 70), (0, 5), (32, 63), (8, 13)]:
        assert subtree_from_nodes(start, end, nodes) == mth(LEAVES[start:end])
        assert all(ix << lv >= start for lv, ix in complete_nodes(start, end))


def test_inclusion_proofs_verify_for_every_entry_and_size():
    for size in range(1, 40):
        root = mth(LEAVES[:size])
        for index in range(size):
            proof = hashes(inclusion_ranges(index, size))
            verify_inclusion(index, size, LEAVES[index], proof, root)
            with pytest.raises(ProofError):
                verify_inclusion(index, size, LEAVES[index + 1], proof, root)
            if proof:
                with pytest.raises(ProofError):
                    verify_inclusion(index, size, LEAVES[index], proof[:-1], root)


def test_consistency_proofs_verify_for_every_pair_of_sizes():
    for new in range(1, 40):
        for old in range(1, new + 1):
            proof = hashes(consistency_ranges(old, new))
            verify_consistency(old, new, proof, mth(LEAVES[:old]), mth(LEAVES[:new]))
            if old < new:
                with pytest.raises(ProofError):
                    verify_consistency(old, new, proof, mth(LEAVES[1:old + 1]), mth(LEAVES[:new]))
                with pytest.raises(ProofError):
                    verify_consistency(old, new, proof + [LEAVES[0]], mth(LEAVES[:old]), mth(LEAVES[:new]))


def test_out_of_range_requests_are_refused():
    for bad in [lambda: inclusion_ranges(5, 5), lambda: inclusion_ranges(-1, 5), lambda: consistency_ranges(0, 5),
                lambda: consistency_ranges(6, 5)]:
        with pytest.raises(ProofError):
            bad()
