"""Auditor screens: the audit log with filters, the latest signed checkpoint, and an entry with its inclusion proof,
which the page itself verifies (static/proof.js: the leaf from the entry's bytes, the path to the checkpoint's
root, and the checkpoint's Ed25519 signature with the hub's key)."""

import json
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import func, select

from concord.access.policy import authorize
from concord.audit import api as audit_api
from concord.audit.models import AuditEntry
from concord.console.web import PAGE, tr, render, signed_in
from concord.errors import Forbidden, NotFound

router = APIRouter(prefix="/console", include_in_schema=False)


def _auditor(request, signed) -> None:
    if not signed.subject.has("auditor", "administrator"):
        raise Forbidden(tr(request, "The audit log is for auditors."))


@router.get("/audit")
def log(request: Request, action: str = Query("", max_length=60), actor: str = Query("", max_length=64),
        agency: str = Query("", max_length=16), page: int = Query(1, ge=1, le=100_000), signed=Depends(signed_in)):
    """Newest entries first, filtered by action (prefix), actor and agency; each row passes authorize."""
    _auditor(request, signed)
    app, subject = request.app.state.concord, signed.subject
    where = []
    if action:
        where.append(AuditEntry.action.startswith(action, autoescape=True))
    if actor:
        where.append(AuditEntry.actor == actor)
    if agency:
        where.append(AuditEntry.agency == agency)
    with app.sessions() as s:
        total = s.scalar(select(func.count()).select_from(AuditEntry).where(*where))
        rows = s.scalars(select(AuditEntry).where(*where).order_by(AuditEntry.seq.desc())
                         .limit(PAGE).offset((page - 1) * PAGE)).all()
        # An auditor's role reads every entry (policy._audit_entry); asked all the same, as on every exit.
        entries = [e for e in rows if authorize(subject, "read", e, session=s, access=app.access).allowed]
        checkpoint = _checkpoint(signed, app)
    extra = urlencode({k: v for k, v in (("action", action), ("actor", actor), ("agency", agency)) if v})
    return render(request, "audit.html", signed, entries=entries, total=total, page=page,
                  pages=max(1, -(-total // PAGE)), action=action, actor=actor, agency=agency, checkpoint=checkpoint,
                  extra=(extra + "&") if extra else "")


def _checkpoint(signed, app):
    try:
        return audit_api.checkpoint(subject=signed.subject, app=app)
    except NotFound:
        return None


@router.get("/audit/{seq}")
def entry(seq: int, request: Request, signed=Depends(signed_in)):
    """One entry (the API's read: authorize, and a cross-agency read is itself logged) with its inclusion proof."""
    if not 0 <= seq < 2**62:
        raise NotFound(f"audit entry {seq} not found")
    if signed.subject.is_trader:
        raise Forbidden(tr(request, "The audit log is for auditors."))
    app = request.app.state.concord
    found = audit_api.entry(request, seq=seq, subject=signed.subject, app=app)
    checkpoint = _checkpoint(signed, app)
    proof = None
    if checkpoint is not None and seq < checkpoint["size"]:
        proof = audit_api.inclusion(seq=seq, size=checkpoint["size"], subject=signed.subject, app=app)
    data = {"body": found["body"], "proof": proof, "vkey": checkpoint["vkey"] if checkpoint else None}
    return render(request, "audit_entry.html", signed, e=found, proof=proof, checkpoint=checkpoint,
                  data=json.dumps(data).replace("</", "<\\/"), pretty=json.dumps(found["entry"], indent=2))
