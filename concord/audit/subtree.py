"""Subtree proofs (draft-ietf-plants-merkle-tree-certs section 4): a subtree [start, end) of an RFC 9162 tree."""

from concord.audit.merkle import EMPTY_ROOT, ProofError, node_hash, verify_inclusion


def valid_subtree(start: int, end: int) -> bool:
    """A subtree [start, end) is valid when start is a multiple of BIT_CEIL(end - start)."""
    if not 0 <= start < end:
        return False
    ceil = 1 << (end - start - 1).bit_length()
    return start % ceil == 0


def verify_subtree_inclusion(index: int, start: int, end: int, leaf: bytes, proof: list[bytes], root: bytes) -> None:
    """Check that entry `index` is in the subtree [start, end) with hash `root`; raises ProofError."""
    if not valid_subtree(start, end) or not start <= index < end:
        raise ProofError(f"entry {index} is not in a valid subtree [{start}, {end})")
    # A subtree is itself a Merkle tree of its leaves: the RFC 9162 check applies with relative indices.
    verify_inclusion(index - start, end - start, leaf, proof, root)


def verify_subtree_consistency(start: int, end: int, size: int, proof: list[bytes], node: bytes, root: bytes) -> None:
    """Check that the subtree [start, end) with hash `node` is part of the tree of `size` with `root`."""
    if start == end:
        if proof or node != EMPTY_ROOT:
            raise ProofError("an empty subtree has the empty hash and an empty proof")
        return
    if not valid_subtree(start, end) or end > size:
        raise ProofError(f"[{start}, {end}) is not a valid subtree of a tree of size {size}")
    fn, sn, tn = start, end - 1, size - 1
    if sn == tn:
        while fn != sn:
            fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    else:
        while fn != sn and sn & 1:
            fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    path = list(proof)
    if fn == sn:
        fr = sr = node
    elif not path:
        raise ProofError("empty subtree consistency proof")
    else:
        fr = sr = path.pop(0)
    for c in path:
        if tn == 0:
            raise ProofError("subtree consistency proof is too long")
        if sn & 1 or sn == tn:
            if fn < sn:
                fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not sn & 1 and sn != 0:
                fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    if tn != 0:
        raise ProofError("subtree consistency proof is too short")
    if fr != node or sr != root:
        raise ProofError("subtree consistency proof does not lead to both hashes")
