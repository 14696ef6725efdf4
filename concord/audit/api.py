"""Audit routes: the latest signed checkpoint, entries, inclusion and consistency proofs."""

from __future__ import annotations

import base64
import json

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select, update

from concord.access.deps import concord_app, current_subject, note_denial
from concord.access.policy import authorize
from concord.audit import proofs
from concord.audit.checkpoints import hub_vkey, latest_checkpoint
from concord.audit.cosign import add_signature, note_text, verify_cosignature
from concord.audit.models import AuditCheckpoint, AuditEntry
from concord.audit.note import CheckpointError
from concord.audit.witness import PAGE, leaves_of_bodies
from concord.bounds import MAX_SEQ, BoundedRoute
from concord.errors import Forbidden, InvalidDocument, NotFound, Problem

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], route_class=BoundedRoute)


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
        if row is None or not authorize(subject, "read", row, session=session, access=app.access).allowed:
            if row is not None:  # another agency's activity: a denial in its access report
                note_denial(request, subject, None, f"audit/{seq}", row.agency, "audit:entry:read")
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
        return proofs.inclusion(session, seq, size, app.audit_nodes)


@router.get("/proofs/consistency")
def consistency(old: int = Query(..., ge=1, le=MAX_SEQ), new: int | None = Query(None, ge=1, le=MAX_SEQ),
                subject=Depends(current_subject), app=Depends(concord_app)):
    """Consistency proof that the tree of `new` entries (default: the latest checkpoint) extends `old`."""
    with app.sessions() as session:
        return proofs.consistency(session, old, new, app.audit_nodes)


@router.get("/leaves")
def leaves(start: int = Query(0, ge=0, le=2**62), end: int = Query(..., ge=1, le=2**62),
           subject=Depends(current_subject), app=Depends(concord_app)):
    """Leaf hashes of entries [start, end), recomputed from the stored bodies, for witnesses (at most 65,536).

    Recomputed, not read from the stored hash column: a witness compares them with what it kept, and an edited
    body must show. The answer stops at the first missing entry."""
    if subject.is_trader:
        raise Forbidden("leaf hashes are for agencies' witnesses")
    if not start < end <= start + PAGE:
        raise InvalidDocument("ask for 1 to 65,536 leaves", [Problem("/end", f"give start < end <= start + {PAGE}")])
    with app.sessions() as session:
        rows = session.execute(select(AuditEntry.seq, AuditEntry.body).where(
            AuditEntry.seq >= start, AuditEntry.seq < end).order_by(AuditEntry.seq)).all()
    run: list[str] = []
    for seq, body in rows:
        if seq != start + len(run):
            break
        run.append(body)
    return {"start": start, "end": start + len(run), "leaves": base64.b64encode(leaves_of_bodies(run)).decode()}


class CosignatureIn(BaseModel):
    size: int = Field(ge=1, le=MAX_SEQ, description="the tree size of the checkpoint cosigned")
    cosignature: str = Field(max_length=600, description="the C2SP tlog-cosignature line: '— <name> <base64>'")


@router.post("/cosignatures", status_code=201)
def cosign(body: CosignatureIn, request: Request, subject=Depends(current_subject), app=Depends(concord_app)):
    """Add a witness's cosignature to a stored checkpoint; it is served with the checkpoint from then on.

    Only cosignatures by a witness key the hub is configured with (CONCORD_AUDIT_WITNESS_KEYS) are kept."""
    line = body.cosignature.rstrip("\n") + "\n"
    with app.sessions() as session:
        row = session.get(AuditCheckpoint, body.size)
        if row is None:
            raise NotFound(f"no checkpoint of size {body.size}")
        note = add_signature(row.note, line)
    alone = note_text(row.note) + "\n" + line  # the checkpoint with this line only: an older one must not vouch
    witness = None
    for vkey in app.settings.witness_keys():
        try:
            verify_cosignature(alone, vkey)
        except CheckpointError:
            continue
        witness = vkey.split("+", 1)[0]
        break
    if witness is None:
        raise InvalidDocument("the cosignature does not verify with any configured witness key",
                              [Problem("/cosignature", "sign the checkpoint note of this size with a known key")])
    with app.uow(subject, request.state.request_id) as uow:
        uow.session.execute(update(AuditCheckpoint).where(AuditCheckpoint.size == body.size).values(note=note))
        uow.audit("audit:checkpoint:cosigned", f"checkpoint/{body.size}", detail={"witness": witness})
        uow.commit()
    return {"size": body.size, "witness": witness, "note": note}
