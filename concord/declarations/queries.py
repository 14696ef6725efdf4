"""Read side: what each subject may see of declarations, filtered in the query and redacted by the view."""

from __future__ import annotations

from sqlalchemy import func, select

from concord.access.policy import Ref, authorize, declaration_scope
from concord.access.redaction import redact
from concord.clearance.models import AgencyTask, SuppliedDocument
from concord.declarations.models import Declaration, DeclarationVersion
from concord.errors import InvalidDocument, NotFound, Problem
from concord.messaging.models import EventRecord

HIDDEN_FROM_TRADERS = ("declaration.risk_assessed",)


def _visible(session, subject, declaration_id: str, purpose: str | None, reads: list | None, access):
    d = session.get(Declaration, declaration_id)
    if d is None:
        raise NotFound(f"declaration {declaration_id} not found")
    decision = authorize(subject, "read", d, purpose, session=session, access=access).require(
        f"declaration {declaration_id}")
    note_read(reads, f"declaration/{d.id}", decision)
    return d, decision


def note_read(reads: list | None, resource: str, decision) -> None:
    """Collect cross-agency reads; the API writes them to the audit log (own data and traders' own are not)."""
    if reads is not None and decision.basis not in ("owner", "role:lead-agency", "own-agency"):
        reads.append((resource, decision))


def _task_view(t: AgencyTask, agency_names: dict, full: bool) -> dict:
    view = {"task_id": t.id, "agency": t.agency, "agency_name": agency_names.get(t.agency, t.agency),
            "task_type": t.task_type, "status": t.status, "due_at": t.due_at.isoformat(),
            "decided_at": t.decided_at.isoformat() if t.decided_at else None}
    last = t.last_decision or {}
    if t.status == "documents_requested":
        view["requested_documents"] = last.get("documents", [])
    if last.get("reason") and t.status != "open":
        view["reason"] = last.get("reason")
        view["conditions"] = last.get("conditions", [])
    if full:
        view["reasons"] = t.reasons
        view["overdue"] = t.overdue_raised
    return view


def get_declaration(session, subject, declaration_id: str, agency_names: dict, purpose: str | None = None,
                    reads: list | None = None, *, access) -> dict:
    """The declaration as the subject may see it: one status, every pending step, the allowed fields."""
    d, decision = _visible(session, subject, declaration_id, purpose, reads, access)
    version = session.get(DeclarationVersion, (d.id, d.version))
    tasks = session.scalars(select(AgencyTask).where(AgencyTask.declaration_id == d.id,
                                                     AgencyTask.declaration_version == d.version)).all()
    whole = decision.view == ("/",)
    officer = whole and not subject.is_trader
    if not whole:  # a partner agency sees its own tasks only
        tasks = [t for t in tasks if t.agency == subject.agency]
    out = {"id": d.id, "lrn": d.lrn, "type": d.type, "status": d.status, "version": d.version,
           "office_of_entry": d.office_of_entry, "lodged_at": d.lodged_at.isoformat(),
           "arrived_at": d.arrived_at.isoformat() if d.arrived_at else None,
           "released_at": d.released_at.isoformat() if d.released_at else None,
           "outcome_reason": d.outcome_reason,
           "steps": [_task_view(t, agency_names, officer or not whole) for t in tasks],
           "pending": [f"{agency_names.get(t.agency, t.agency)}: {t.task_type.replace('_', ' ')} ({t.status.replace('_', ' ')})"
                       for t in tasks if t.open],
           "document": redact(version.document, decision.view), "access_basis": decision.basis}
    if d.status == "cleared":
        out["pending"].append("goods arrival at " + d.office_of_entry)
    if officer:
        out["lane"] = d.lane
        out["risk"] = version.risk | {"reasons": [_reason_view(session, subject, r, purpose, reads, access)
                                                  for r in version.risk.get("reasons", [])]}
        out["engagements"] = version.engagements
    if whole:
        out["supplied_documents"] = [{"task_id": s.task_id, "type": s.type, "reference": s.reference, "item": s.item}
                                     for s in session.scalars(select(SuppliedDocument).where(
                                         SuppliedDocument.declaration_id == d.id))]
    return out


HIT_ONLY = ("kind", "entry_id", "agency", "lane", "forced")


def _reason_view(session, subject, reason: dict, purpose: str | None, reads: list | None, access) -> dict:
    """Hit / no-hit: another agency's watchlist entry shows only that it matched and whom to ask, unless an
    agreement or a granted request lets the officer see it."""
    if reason.get("kind") != "watchlist" or reason.get("agency") in (None, subject.agency):
        return reason
    ref = Ref("watchlist_entry", reason["entry_id"], reason["agency"])
    decision = authorize(subject, "read", ref, purpose, session=session, access=access)
    if decision.allowed:
        note_read(reads, f"watchlist_entry/{reason['entry_id']}", decision)
        return reason if decision.view == ("/",) else redact(reason, decision.view) | {k: reason[k] for k in HIT_ONLY
                                                                                      if k in reason}
    return {k: reason[k] for k in HIT_ONLY if k in reason} | {
        "hit": True, "ask_agency": reason["agency"],
        "how": f"POST /api/v1/access-requests with resource watchlist_entry/{reason['entry_id']}"}


def list_declarations(session, subject, *, status: str | None = None, limit: int = 50, offset: int = 0,
                      purpose: str | None = None, reads: list | None = None, access) -> dict:
    """Declarations the subject may see; the scope is part of the query, so totals reveal nothing hidden."""
    if not 1 <= limit <= 500:
        raise InvalidDocument("bad page size", [Problem("/limit", "limit must be between 1 and 500")])
    where = [declaration_scope(subject, purpose, session=session, access=access)]
    if status:
        where.append(Declaration.status == status)
    total = session.scalar(select(func.count()).select_from(Declaration).where(*where))
    rows = session.scalars(select(Declaration).where(*where).order_by(Declaration.lodged_at.desc(), Declaration.id.desc())
                           .limit(limit).offset(offset)).all()
    if reads is not None and not subject.is_trader and not subject.lead:
        for d in rows:
            note_read(reads, f"declaration/{d.id}",
                      authorize(subject, "read", d, purpose, session=session, access=access))
    return {"total": total, "limit": limit, "offset": offset,
            "items": [{"id": d.id, "lrn": d.lrn, "type": d.type, "status": d.status, "version": d.version,
                       "lodged_at": d.lodged_at.isoformat(),
                       "released_at": d.released_at.isoformat() if d.released_at else None} for d in rows]}


def timeline(session, subject, declaration_id: str, purpose: str | None = None, reads: list | None = None, *,
             access) -> list[dict]:
    """Every milestone with its time; an agency sees the shared milestones and its own tasks'."""
    d, decision = _visible(session, subject, declaration_id, purpose, reads, access)
    q = select(EventRecord).where(EventRecord.declaration_id == d.id).order_by(EventRecord.seq)
    if subject.is_trader:
        q = q.where(EventRecord.name.not_in(HIDDEN_FROM_TRADERS))
    elif decision.view != ("/",):
        q = q.where((EventRecord.agency.is_(None)) | (EventRecord.agency == subject.agency),
                    EventRecord.name.not_in(HIDDEN_FROM_TRADERS))
    return [{"event": e.name, "at": e.occurred_at.isoformat(), "agency": e.agency, **e.payload}
            for e in session.scalars(q)]


def export_declarations(session, subject, *, purpose: str | None, reads: list | None = None, batch: int = 500,
                        access):
    """Every declaration the subject may see, each cut to its view: the bulk exit path, same rule as a read."""
    where = declaration_scope(subject, purpose, session=session, access=access)
    last = ""
    while True:
        rows = session.execute(select(Declaration, DeclarationVersion.document)
                               .join(DeclarationVersion, (DeclarationVersion.declaration_id == Declaration.id)
                                     & (DeclarationVersion.version == Declaration.version))
                               .where(where, Declaration.id > last).order_by(Declaration.id).limit(batch)).all()
        if not rows:
            return
        for d, document in rows:
            decision = authorize(subject, "read", d, purpose, session=session, access=access)
            if not decision.allowed:  # the scope and the rule agree; this guards against any drift between them
                continue
            note_read(reads, f"declaration/{d.id}", decision)
            yield {"id": d.id, "status": d.status, "version": d.version, "document": redact(document, decision.view)}
        last = rows[-1][0].id


def versions(session, subject, declaration_id: str, purpose: str | None = None, reads: list | None = None, *,
             access) -> list:
    """Every version of a declaration (amendments keep the history), each cut to the subject's view."""
    d, decision = _visible(session, subject, declaration_id, purpose, reads, access)
    officer = decision.view == ("/",) and not subject.is_trader
    rows = session.scalars(select(DeclarationVersion).where(DeclarationVersion.declaration_id == d.id)
                           .order_by(DeclarationVersion.version)).all()
    return [{"version": v.version, "submitted_at": v.submitted_at.isoformat(), "submitted_by": v.submitted_by,
             "document": redact(v.document, decision.view),
             **({"lane": v.risk.get("lane"), "engagements": v.engagements} if officer else {})} for v in rows]
