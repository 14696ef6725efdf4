"""The Merkle tree on disk: complete-subtree hashes in audit_nodes, proofs in O(log n) reads."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from concord.audit.merkle import (EMPTY_ROOT, ProofError, TreeHasher, complete_nodes, consistency_ranges, fold_nodes,
                                  frontier_ranges, inclusion_ranges, subtree_from_nodes)
from concord.audit.models import AuditCheckpoint, AuditEntry

NODE_BATCH = 5000


def covered_size(session: Session) -> int:
    """How many leaves audit_nodes covers: the size of the latest checkpoint (nodes and checkpoint commit together)."""
    return session.scalar(select(func.max(AuditCheckpoint.size))) or 0


LEVEL_SHIFT = 40  # node id = level << 40 | index: room for 2**40 leaves
_MARK = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def node_id(level: int, index: int) -> int:
    """The audit_nodes key of a complete subtree."""
    return level << LEVEL_SHIFT | index


def _rows(session: Session, sql: str, ids: list[int]) -> list:
    # Through the driver: SQLAlchemy's statement handling cost more than the lookups (proofs serve thousands a second).
    conn = session.connection()
    cur = conn.connection.cursor()
    try:
        cur.execute(sql % ", ".join([_MARK[conn.dialect.paramstyle]] * len(ids)), ids)
        return cur.fetchall()
    finally:
        cur.close()


class NodeCache:
    """Upper-level nodes kept in memory: stored subtrees never change, and the top of the tree is in every proof.

    Only levels >= min_level are kept (at most 1 in 2**min_level of the nodes), so proofs still read the
    lower levels, where nearly all the nodes are, from the database.
    """

    def __init__(self, min_level: int = 8, max_items: int = 200_000):
        self.min_level, self.max_items = min_level, max_items
        self.nodes: dict[tuple[int, int], bytes] = {}

    def keep(self, found: dict[tuple[int, int], bytes]) -> None:
        if len(self.nodes) > self.max_items:
            self.nodes.clear()
        self.nodes.update((k, h) for k, h in found.items() if k[0] >= self.min_level)


def read_nodes(session: Session, keys, cache: NodeCache | None = None) -> dict[tuple[int, int], bytes]:
    """Fetch node hashes by (level, index); level 0 comes from the entries' leaf hashes."""
    keys = set(keys)
    found: dict[tuple[int, int], bytes] = {}
    if cache is not None:
        found.update((k, cache.nodes[k]) for k in keys if k in cache.nodes)
    leaves = [ix for lv, ix in keys if lv == 0]
    inner = [node_id(lv, ix) for lv, ix in keys if lv and (lv, ix) not in found]
    if leaves:
        found.update(((0, seq), bytes(h)) for seq, h in _rows(
            session, "SELECT seq, leaf_hash FROM audit_entries WHERE seq IN (%s)", leaves))
    if inner:
        mask = (1 << LEVEL_SHIFT) - 1
        fetched = {(i >> LEVEL_SHIFT, i & mask): bytes(h) for i, h in _rows(
            session, "SELECT id, hash FROM audit_nodes WHERE id IN (%s)", inner)}
        found.update(fetched)
        if cache is not None:
            cache.keep(fetched)
    if len(found) != len(keys):
        missing = sorted(keys - set(found))[:3]
        raise ProofError(f"tree nodes {missing} are not stored yet: ask for a size no larger than the latest checkpoint")
    return found


def _resolve(session: Session, ranges: list[tuple[int, int]], cache: NodeCache | None = None) -> list[bytes]:
    """Hashes of subtrees [start, end), fetched in one round of reads."""
    parts = [complete_nodes(start, end) for start, end in ranges]
    nodes = read_nodes(session, {k for p in parts for k in p}, cache)
    return [nodes[p[0]] if len(p) == 1 else fold_nodes([nodes[k] for k in p]) for p in parts]


def root_at(session: Session, size: int, cache: NodeCache | None = None) -> bytes:
    """MTH of the first `size` entries, from stored nodes."""
    return _resolve(session, [(0, size)], cache)[0] if size else EMPTY_ROOT


def inclusion_proof(session: Session, index: int, size: int, cache: NodeCache | None = None) -> list[bytes]:
    """Inclusion proof of entry `index` in the tree of `size` entries."""
    return _resolve(session, inclusion_ranges(index, size), cache)


def consistency_proof(session: Session, size1: int, size2: int, cache: NodeCache | None = None) -> list[bytes]:
    """Consistency proof that the tree of size2 entries extends the tree of size1 entries."""
    return _resolve(session, consistency_ranges(size1, size2), cache)


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
        values = [(node_id(lv, first + k), h) for lv, first, hashes in closed for k, h in enumerate(hashes)]
        if values:
            conn = session.connection()
            mark = _MARK[conn.dialect.paramstyle]
            conn.exec_driver_sql(f"INSERT INTO audit_nodes (id, hash) VALUES ({mark}, {mark})", values)
