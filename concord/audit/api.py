"""Audit routes: the latest signed checkpoint, entries, inclusion and consistency proofs."""

from __future__ import annotations

import base64
import json

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import select

from concord.access.deps import concord_app, current_subject
from concord.access.policy import authorize
from concord.audit import proofs
from concord.audit.checkpoints import hub_vkey, latest_checkpoint
from concord.audit.models import AuditEntry
from concord.audit.tree import NodeCache
from concord.bounds import MAX_SEQ, BoundedRoute
from concord.errors import NotFound

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], route_class=BoundedRoute)


def _cache(app) -> NodeCache:
    # One cache per wired application: stored subtrees never change, so it needs no invalidation.
    return app.extras.setdefault("audit_node_cache", NodeCache())


@router.get("/checkpoint")
def checkpoint(subject=Depends(current_subject), app=Depends(concord_app)):
    """The latest signed checkpoint (C2SP tlog-checkpoint signed note) and the key that verifies it."""
    with app.sessions() as session:
        row = latest_checkpoint(session)
    if row is None:
        raise NotFound("the log has no checkpoint yet; one is signed within a second of the first entry")
    return {"origin": app.settings.audit_origin, "size": row.size, "root": base64.b64encode(row.root).decode(),
            "note": row.note, "vkey": hub_vkey(app.settings)}


@router.get("/key")
def key(subject=Depends(current_subject), app=Depends(concord_app)):
    """The hub's verifier key; keep it once, then check every checkpoint with your copy."""
    return {"vkey": hub_vkey(app.settings)}


@router.get("/entries/{seq}")
def entry(request: Request, seq: int = Path(ge=0, le=MAX_SEQ), subject=Depends(current_subject),
          app=Depends(concord_app)):
    """One entry as signed (canonical JSON) with its leaf hash; entries outside the caller's scope answer 404."""
    with app.sessions() as session:
        row = session.scalar(select(AuditEntry).where(AuditEntry.seq == seq))
        if row is None or not authorize(subject, "read", row, session=session).allowed:
            raise NotFound(f"audit entry {seq} not found")
    if row.agency != subject.agency:  # reading another agency's activity is itself a cross-agency read
        with app.uow(subject, request.state.request_id) as uow:
            uow.audit("audit:entry:read", f"audit/{seq}", owner=row.agency)
            uow.commit()
    return {"seq": row.seq, "entry": json.loads(row.body), "body": row.body,
            "leaf_hash": base64.b64encode(row.leaf_hash).decode()}


@router.get("/proofs/inclusion")
def inclusion(seq: int = Query(..., ge=0, le=MAX_SEQ), size: int | None = Query(None, ge=1, le=MAX_SEQ),
              subject=Depends(current_subject), app=Depends(concord_app)):
    """Inclusion proof of entry `seq` in the tree of `size` entries (default: the latest checkpoint)."""
    with app.sessions() as session:
        return proofs.inclusion(session, seq, size, _cache(app))


@router.get("/proofs/consistency")
def consistency(old: int = Query(..., ge=1, le=MAX_SEQ), new: int | None = Query(None, ge=1, le=MAX_SEQ),
                subject=Depends(current_subject), app=Depends(concord_app)):
    """Consistency proof that the tree of `new` entries (default: the latest checkpoint) extends `old`."""
    with app.sessions() as session:
        return proofs.consistency(session, old, new, _cache(app))
