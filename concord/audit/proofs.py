"""Proofs as the API and the CLI hand them out: base64 hashes, checked before they leave."""

from __future__ import annotations

import base64

from sqlalchemy import select
from sqlalchemy.orm import Session

from concord.audit.checkpoints import latest_checkpoint
from concord.audit.merkle import ProofError, verify_consistency, verify_inclusion
from concord.audit.models import AuditCheckpoint, AuditEntry
from concord.audit.tree import NodeCache, consistency_proof, inclusion_proof, root_at
from concord.errors import ConcordError, NotFound


class ProofUnavailable(ConcordError):
    """The sizes or sequence numbers asked for do not make a proof of this log."""

    status = 422
    code = "proof_unavailable"


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _latest_size(session: Session) -> int:
    row = latest_checkpoint(session)
    if row is None:
        raise NotFound("the log has no checkpoint yet; one is signed within a second of the first entry")
    return row.size


def _checkpoint_note(session: Session, size: int) -> str | None:
    return session.scalar(select(AuditCheckpoint.note).where(AuditCheckpoint.size == size))


def _root(session: Session, size: int, cache: NodeCache | None) -> bytes:
    stored = session.scalar(select(AuditCheckpoint.root).where(AuditCheckpoint.size == size))
    return stored if stored is not None else root_at(session, size, cache)


def inclusion(session: Session, seq: int, size: int | None = None, cache: NodeCache | None = None) -> dict:
    """Inclusion proof of entry `seq` in the tree of `size` entries (default: the latest checkpoint)."""
    size = size if size is not None else _latest_size(session)
    try:
        proof = inclusion_proof(session, seq, size, cache)
        leaf = session.scalar(select(AuditEntry.leaf_hash).where(AuditEntry.seq == seq))
        root = _root(session, size, cache)
        verify_inclusion(seq, size, leaf, proof, root)  # never hand out a proof that does not verify
    except ProofError as exc:
        raise ProofUnavailable(f"no inclusion proof of entry {seq} in size {size}: {exc}") from None
    return {"seq": seq, "size": size, "leaf_hash": _b64(leaf), "root": _b64(root),
            "proof": [_b64(p) for p in proof], "checkpoint": _checkpoint_note(session, size)}


def consistency(session: Session, old: int, new: int | None = None, cache: NodeCache | None = None) -> dict:
    """Consistency proof that the tree of `new` entries (default: the latest checkpoint) extends `old`."""
    new = new if new is not None else _latest_size(session)
    try:
        proof = consistency_proof(session, old, new, cache)
        old_root, new_root = _root(session, old, cache), _root(session, new, cache)
        verify_consistency(old, new, proof, old_root, new_root)
    except ProofError as exc:
        raise ProofUnavailable(f"no consistency proof from size {old} to {new}: {exc}") from None
    return {"old": old, "new": new, "old_root": _b64(old_root), "new_root": _b64(new_root),
            "proof": [_b64(p) for p in proof], "checkpoint": _checkpoint_note(session, new)}
