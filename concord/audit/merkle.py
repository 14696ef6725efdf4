"""RFC 9162 Merkle tree: hashes, streaming tree head, proof shapes and proof verification (pure functions)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH of the empty tree


class ProofError(ValueError):
    """A proof, or the sizes and hashes it is checked against, do not verify."""


def leaf_hash(entry: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n >= 2): where RFC 9162 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


class TreeHasher:
    """Streaming tree head: append leaf hashes in order, read the root at any size in O(log n)."""

    __slots__ = ("size", "_stack")

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []  # roots of the maximal complete subtrees, largest first

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash."""
        self.extend((leaf,))

    def extend(self, leaves: Iterable[bytes], *, nodes: list | None = None) -> None:
        """Add many leaf hashes, a level at a time; if `nodes` is a list, the closed subtrees are added to it."""
        size, h = self.size, hashlib.sha256
        waiting = {lv: x for (lv, _), x in zip(frontier_ranges(size), self._stack)}
        row, level, kept = list(leaves), 0, {}
        self.size = size + len(row)
        while row:
            if level in waiting:  # bit `level` of the old size: a left node waits here for its right sibling
                row.insert(0, waiting.pop(level))
            if len(row) & 1:
                kept[level] = row.pop()
            row = [h(b"\x01" + a + b).digest() for a, b in zip(row[0::2], row[1::2])]
            level += 1
            if nodes is not None and row:
                nodes.append((level, size >> level, row[:]))  # copied: the next level edits `row`
        waiting.update(kept)
        self._stack = [waiting[lv] for lv, _ in frontier_ranges(self.size)]

    def root(self) -> bytes:
        """MTH of the leaves appended so far."""
        if not self._stack:
            return EMPTY_ROOT
        it = reversed(self._stack)
        r = next(it)
        for left in it:
            r = node_hash(left, r)
        return r

    def frontier(self) -> list[tuple[int, int, bytes]]:
        """The maximal complete subtrees covering [0, size), as (level, index, hash), largest first."""
        return [(lv, ix, h) for (lv, ix), h in zip(frontier_ranges(self.size), self._stack)]

    @classmethod
    def resume(cls, size: int, frontier_hashes: list[bytes]) -> TreeHasher:
        """Continue a tree of `size` leaves from the hashes of its frontier (largest subtree first)."""
        if len(frontier_hashes) != bin(size).count("1"):
            raise ValueError(f"a tree of {size} leaves has {bin(size).count('1')} frontier nodes")
        t = cls()
        t.size, t._stack = size, list(frontier_hashes)
        return t


def root_of(leaves: Iterable[bytes]) -> bytes:
    """MTH over a sequence of leaf hashes."""
    t = TreeHasher()
    t.extend(leaves)
    return t.root()


def frontier_ranges(size: int) -> list[tuple[int, int]]:
    """(level, index) of the maximal complete subtrees covering [0, size), largest first."""
    return complete_nodes(0, size)


def complete_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """(level, index) of the complete subtrees whose hashes make up MTH(D[start:end]), largest first.

    For the aligned ranges that proofs use these are the set bits of end - start, from the top.
    """
    size = end - start
    if size <= 0:
        return []
    if size & (size - 1) == 0:  # nearly every range in a proof is one complete subtree
        level = size.bit_length() - 1
        return [(level, start >> level)]
    out = []
    for level in range(size.bit_length() - 1, -1, -1):
        if (end - start) >> level & 1:
            out.append((level, start >> level))
            start += 1 << level
    return out


def fold_nodes(parts: list[bytes]) -> bytes:
    """MTH of a range from the hashes of its complete subtrees, largest first (see complete_nodes)."""
    parts = list(parts)
    r = parts.pop()
    while parts:  # RFC 9162 splits at the largest power of two: the tree leans left, so fold from the right
        r = node_hash(parts.pop(), r)
    return r


def subtree_from_nodes(start: int, end: int, nodes: dict[tuple[int, int], bytes]) -> bytes:
    """MTH(D[start:end]) from the hashes of its complete subtrees (see complete_nodes)."""
    return fold_nodes([nodes[k] for k in complete_nodes(start, end)])


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The subtrees [start, end) whose hashes form PATH(index, D[0:size]) (RFC 9162 2.1.3.1), leaf first."""
    if not 0 <= index < size:
        raise ProofError(f"entry {index} is not in a tree of size {size}")
    path, start, end = [], 0, size
    while end - start > 1:
        mid = start + split_point(end - start)
        if index < mid:
            path.append((mid, end))
            end = mid
        else:
            path.append((start, mid))
            start = mid
    return path[::-1]


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """The subtrees whose hashes form PROOF(size1, D[0:size2]) (RFC 9162 2.1.4.1), deepest first."""
    if not 0 < size1 <= size2:
        raise ProofError(f"no consistency proof from size {size1} to size {size2}; need 0 < old <= new")
    path, start, end, m, whole = [], 0, size2, size1, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            path.append((start + k, end))
            end = start + k
        else:
            path.append((start, start + k))
            m -= k
            start += k
            whole = False
    if not whole:  # the old tree is not a whole subtree of the new one: its last piece is part of the proof
        path.append((start, end))
    return path[::-1]


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> None:
    """Check an inclusion proof (RFC 9162 2.1.3.2); raises ProofError if it does not verify."""
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError("inclusion proof does not lead to the root")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 2.1.3.2 steps 1-5)."""
    if not 0 <= index < size:
        raise ProofError(f"entry {index} is not in a tree of size {size}")
    if len(leaf) != HASH_SIZE or any(len(p) != HASH_SIZE for p in proof):
        raise ProofError(f"leaf and proof hashes must be {HASH_SIZE} bytes")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_consistency(size1: int, size2: int, proof: list[bytes], root1: bytes, root2: bytes) -> None:
    """Check a consistency proof (RFC 9162 2.1.4.2); raises ProofError if it does not verify."""
    if size2 < size1:
        raise ProofError(f"new size {size2} is smaller than old size {size1}")
    if size1 == 0:
        # Every tree extends the empty one; a checker asking this has nothing to learn, so refuse.
        raise ProofError("a consistency check from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if root1 != root2:
            raise ProofError("equal sizes but different roots")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)  # the old tree is a complete subtree of the new one
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != root1 or sr != root2:
        raise ProofError("consistency proof does not lead to both roots")

