"""The Merkle tree on disk: complete-subtree hashes in audit_nodes, proofs in O(log n) reads."""

from __future__ import annotations

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.orm import Session

from concord.audit.merkle import (EMPTY_ROOT, ProofError, TreeHasher, complete_nodes, consistency_ranges,
                                  frontier_ranges, inclusion_ranges, subtree_from_nodes)
from concord.audit.models import AuditCheckpoint, AuditEntry, AuditNode

NODE_BATCH = 5000


def covered_size(session: Session) -> int:
    """How many leaves audit_nodes covers: the size of the latest checkpoint (nodes and checkpoint commit together)."""
    return session.scalar(select(func.max(AuditCheckpoint.size))) or 0


def read_nodes(session: Session, keys) -> dict[tuple[int, int], bytes]:
    """Fetch node hashes by (level, index); level 0 comes from the entries' leaf hashes."""
    by_level: dict[int, list[int]] = {}
    for level, idx in keys:
        by_level.setdefault(level, []).append(idx)
    found: dict[tuple[int, int], bytes] = {}
    leaves = by_level.pop(0, None)
    if leaves:
        rows = session.execute(select(AuditEntry.seq, AuditEntry.leaf_hash).where(AuditEntry.seq.in_(leaves)))
        found.update(((0, seq), h) for seq, h in rows)
    if by_level:
        cond = or_(*(and_(AuditNode.level == lv, AuditNode.idx.in_(ix)) for lv, ix in by_level.items()))
        found.update(((lv, ix), h) for lv, ix, h in session.execute(
            select(AuditNode.level, AuditNode.idx, AuditNode.hash).where(cond)))
    missing = [k for k in keys if k not in found]
    if missing:
        raise ProofError(f"tree nodes {missing[:3]} are missing: is the log checkpointed that far?")
    return found


def _resolve(session: Session, ranges: list[tuple[int, int]]) -> list[bytes]:
    """Hashes of subtrees [start, end), fetched in one round of reads."""
    keys = {k for start, end in ranges for k in complete_nodes(start, end)}
    nodes = read_nodes(session, keys)
    return [subtree_from_nodes(start, end, nodes) for start, end in ranges]


def _check_covered(session: Session, size: int) -> None:
    covered = covered_size(session)
    if size > covered:
        raise ProofError(f"size {size} is beyond the latest checkpoint ({covered}); ask for a signed size")


def root_at(session: Session, size: int) -> bytes:
    """MTH of the first `size` entries, from stored nodes."""
    if size == 0:
        return EMPTY_ROOT
    _check_covered(session, size)
    return _resolve(session, [(0, size)])[0]


def inclusion_proof(session: Session, index: int, size: int) -> list[bytes]:
    """Inclusion proof of entry `index` in the tree of `size` entries."""
    ranges = inclusion_ranges(index, size)
    _check_covered(session, size)
    return _resolve(session, ranges)


def consistency_proof(session: Session, size1: int, size2: int) -> list[bytes]:
    """Consistency proof that the tree of size2 entries extends the tree of size1 entries."""
    ranges = consistency_ranges(size1, size2)
    _check_covered(session, size2)
    return _resolve(session, ranges)


def load_tree(session: Session, size: int) -> TreeHasher:
    """A TreeHasher positioned at `size` leaves, from the stored frontier nodes."""
    keys = frontier_ranges(size)
    nodes = read_nodes(session, keys) if keys else {}
    return TreeHasher.resume(size, [nodes[k] for k in keys])


def extend_tree(session: Session, tree: TreeHasher, upto: int) -> None:
    """Add entries [tree.size, upto) to the tree, storing every complete subtree they close."""
    while tree.size < upto:
        stop = min(upto, tree.size + NODE_BATCH)
        rows = session.execute(select(AuditEntry.seq, AuditEntry.leaf_hash)
                               .where(AuditEntry.seq >= tree.size, AuditEntry.seq < stop)
                               .order_by(AuditEntry.seq)).all()
        if [seq for seq, _ in rows] != list(range(tree.size, stop)):  # a gap would shift every later leaf
            raise ProofError(f"audit entries [{tree.size}, {stop}) are not all there; run `concord audit verify`")
        closed: list = []
        tree.extend([h for _, h in rows], nodes=closed)
        values = [dict(level=lv, idx=first + k, hash=h) for lv, first, hashes in closed for k, h in enumerate(hashes)]
        if values:
            session.connection().execute(insert(AuditNode.__table__), values)
