"""The Merkle tree on disk: complete-subtree hashes in audit_nodes, proofs in O(log n) reads."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from concord.audit.merkle import (EMPTY_ROOT, ProofError, TreeHasher, complete_nodes, consistency_ranges, fold_nodes,
                                  frontier_ranges)
from concord.audit.models import AuditCheckpoint, AuditEntry
from concord.driver import PLACEHOLDER

NODE_BATCH = 5000
LEVEL_SHIFT = 40  # node id = level << 40 | index: room for 2**40 leaves


def covered_size(session: Session) -> int:
    """How many leaves audit_nodes covers: the size of the latest checkpoint (nodes and checkpoint commit together)."""
    return session.scalar(select(func.max(AuditCheckpoint.size))) or 0


def node_id(level: int, index: int) -> int:
    """The audit_nodes key of a complete subtree."""
    return level << LEVEL_SHIFT | index


class NodeCache:
    """Upper-level nodes kept in memory: stored subtrees never change, and the top of the tree is in every proof.

    Only levels >= min_level are kept (at most 1 in 2**min_level of the nodes), so proofs still read the
    lower levels, where nearly all the nodes are, from the database.
    """

    def __init__(self, min_level: int = 8, max_items: int = 200_000):
        self.floor, self.max_items = min_level << LEVEL_SHIFT, max_items
        self.nodes: dict[int, bytes] = {}
        # Right-edge subtrees [start, size): every proof against one checkpoint size shares them.
        self.partial: dict[tuple[int, int], bytes] = {}

    def keep(self, found: dict[int, bytes]) -> None:
        if len(self.nodes) > self.max_items or len(self.partial) > 1000:
            self.nodes.clear()
            self.partial.clear()
        self.nodes.update((k, h) for k, h in found.items() if k >= self.floor)


def _fetch(session: Session, ids: list[int]) -> dict[int, bytes]:
    """Node hashes by id in one query: leaves (id = seq) from the entries, the rest from audit_nodes."""
    leaves = [i for i in ids if i < 1 << LEVEL_SHIFT]
    inner = [i for i in ids if i >= 1 << LEVEL_SHIFT]
    conn = session.connection()
    mark = PLACEHOLDER[conn.dialect.paramstyle]
    parts = []
    if leaves:
        parts.append(f"SELECT seq, leaf_hash FROM audit_entries WHERE seq IN ({', '.join([mark] * len(leaves))})")
    if inner:
        parts.append(f"SELECT id, hash FROM audit_nodes WHERE id IN ({', '.join([mark] * len(inner))})")
    # Through the driver: SQLAlchemy's statement handling cost more than the lookups (thousands of proofs a second).
    cur = conn.connection.cursor()
    try:
        cur.execute(" UNION ALL ".join(parts), leaves + inner)
        return {i: bytes(h) for i, h in cur.fetchall()}
    finally:
        cur.close()


def read_nodes(session: Session, keys, cache: NodeCache | None = None) -> dict[tuple[int, int], bytes]:
    """Fetch node hashes by (level, index); level 0 comes from the entries' leaf hashes."""
    ids = {node_id(lv, ix): (lv, ix) for lv, ix in keys}
    return {ids[i]: h for i, h in _read(session, list(ids), cache).items()}


def _read(session: Session, ids: list[int], cache: NodeCache | None) -> dict[int, bytes]:
    found = {i: cache.nodes[i] for i in ids if i in cache.nodes} if cache is not None else {}
    wanted = [i for i in ids if i not in found] if found else ids
    if wanted:
        fetched = _fetch(session, wanted)
        found.update(fetched)
        if cache is not None:
            cache.keep(fetched)
    if len(found) != len(set(ids)):
        mask = (1 << LEVEL_SHIFT) - 1
        missing = sorted((i >> LEVEL_SHIFT, i & mask) for i in set(ids) - set(found))[:3]
        raise ProofError(f"tree nodes {missing} are not stored yet: ask for a size up to the latest checkpoint")
    return found


def _resolve(session: Session, ranges: list[tuple[int, int]], cache: NodeCache | None = None) -> list[bytes]:
    """Hashes of subtrees [start, end), fetched in one round of reads."""
    partial = cache.partial if cache is not None else {}
    parts = []
    for start, end in ranges:
        size = end - start
        if size & (size - 1) == 0:  # a complete subtree: one node (nearly every range in a proof)
            level = size.bit_length() - 1
            parts.append((level << LEVEL_SHIFT | start >> level,))
        elif (start, end) not in partial:
            parts.append(tuple(lv << LEVEL_SHIFT | ix for lv, ix in complete_nodes(start, end)))
        else:
            parts.append(None)
    nodes = _read(session, list({i for p in parts if p for i in p}), cache)
    out = []
    for (start, end), p in zip(ranges, parts):
        if p is None:
            out.append(partial[(start, end)])
        elif len(p) == 1:
            out.append(nodes[p[0]])
        else:
            out.append(fold_nodes([nodes[i] for i in p]))
            if cache is not None:
                partial[(start, end)] = out[-1]
    return out


def root_at(session: Session, size: int, cache: NodeCache | None = None) -> bytes:
    """MTH of the first `size` entries, from stored nodes."""
    return _resolve(session, [(0, size)], cache)[0] if size else EMPTY_ROOT


def inclusion_proof(session: Session, index: int, size: int, cache: NodeCache | None = None) -> list[bytes]:
    """Inclusion proof of entry `index` in the tree of `size` entries (RFC 9162 PATH, leaf first)."""
    if not 0 <= index < size:
        raise ProofError(f"entry {index} is not in a tree of size {size}")
    # The sibling at each level, straight from the bits of index (same result as merkle.inclusion_ranges):
    # a complete subtree, or once at most, the right edge [lo, size) still growing.
    path: list = []
    for level in range((size - 1).bit_length()):
        sib = (index >> level) ^ 1
        lo = sib << level
        if lo < size:
            path.append(level << LEVEL_SHIFT | sib if lo + (1 << level) <= size else (lo, size))
    edge = next((p for p in path if type(p) is tuple), None)
    known = cache.partial.get(edge) if cache is not None and edge else None
    edge_ids = [lv << LEVEL_SHIFT | ix for lv, ix in complete_nodes(*edge)] if edge and known is None else []
    nodes = _read(session, [p for p in path if type(p) is int] + edge_ids, cache)
    if edge and known is None:
        known = fold_nodes([nodes[i] for i in edge_ids])
        if cache is not None:
            cache.partial[edge] = known
    return [known if type(p) is tuple else nodes[p] for p in path]


def consistency_proof(session: Session, size1: int, size2: int, cache: NodeCache | None = None) -> list[bytes]:
    """Consistency proof that the tree of size2 entries extends the tree of size1 entries."""
    return _resolve(session, consistency_ranges(size1, size2), cache)


def load_tree(session: Session, size: int) -> TreeHasher:
    """A TreeHasher positioned at `size` leaves, from the stored frontier nodes."""
    keys = frontier_ranges(size)
    nodes = read_nodes(session, keys) if keys else {}
    return TreeHasher.resume(size, [nodes[k] for k in keys])


def extend_tree(session: Session, tree: TreeHasher, upto: int) -> list[tuple[int, bytes]]:
    """Add entries [tree.size, upto) to the tree; returns every complete subtree they close, for store_nodes().

    Reads only: the caller hashes outside its write lock and holds the lock just for the insert."""
    values: list[tuple[int, bytes]] = []
    while tree.size < upto:
        stop = min(upto, tree.size + NODE_BATCH)
        rows = session.execute(select(AuditEntry.seq, AuditEntry.leaf_hash)
                               .where(AuditEntry.seq >= tree.size, AuditEntry.seq < stop)
                               .order_by(AuditEntry.seq)).all()
        if [seq for seq, _ in rows] != list(range(tree.size, stop)):  # a gap would shift every later leaf
            raise ProofError(f"audit entries [{tree.size}, {stop}) are not all there; run `concord audit verify`")
        closed: list = []
        tree.extend([h for _, h in rows], nodes=closed)
        values += [(node_id(lv, first + k), h) for lv, first, hashes in closed for k, h in enumerate(hashes)]
    return values


def store_nodes(session: Session, values: list[tuple[int, bytes]]) -> None:
    """Insert the subtree hashes extend_tree() computed."""
    if not values:
        return
    conn = session.connection()
    mark = PLACEHOLDER[conn.dialect.paramstyle]
    for i in range(0, len(values), NODE_BATCH):
        conn.exec_driver_sql(f"INSERT INTO audit_nodes (id, hash) VALUES ({mark}, {mark})", values[i:i + NODE_BATCH])
