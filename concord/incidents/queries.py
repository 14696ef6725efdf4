"""Reads of incidents, notices and operations: each built whole, every field classified, cut by the decision."""

from __future__ import annotations

from sqlalchemy import func, select

from concord.access.exits import Lens, assessment, cut, document, envelope
from concord.access.policy import Decision, authorize
from concord.access.records import NoticeAt, OperationAt, incident_scope, notice_scope, operation, operation_scope
from concord.errors import NotFound
from concord.incidents.handlers import incident_ref
from concord.incidents.models import (Attachment, Incident, IncidentAttachment, IncidentEntry, Notice, NoticeDelivery,
                                      Operation, OperationMember, OperationMessage, OperationTask)


def note_read(reads: list | None, resource: str, decision: Decision) -> None:
    """Collect cross-agency reads for the audit log (an agency's own records and its operations' are not)."""
    if reads is not None and decision.basis not in ("own-agency", "operation-member"):
        reads.append((resource, decision))


def _iso(t):
    return t.isoformat() if t is not None else None


def _lens(session, subject, decision, purpose, reads, access) -> Lens:
    return Lens(subject, decision, None, session, purpose, reads, access)


# -- incidents --

def _incident_model(session, i: Incident, detail: bool) -> dict:
    """The incident as its owner sees it; the document's pointers are what agreements' incident scopes list
    (a list leaves the timeline and attachments out)."""
    body = {"category": i.category, "severity": i.severity, "title": i.title, "summary": i.summary,
            "occurred_at": _iso(i.occurred_at), "location": i.location, "found": i.found,
            "declarations": i.declarations, "containers": i.containers, "conveyance": i.conveyance,
            "parties": i.parties, "indicators": i.indicators, "reported_by": i.reported_by, "review": i.review}
    if detail:
        entries = session.scalars(select(IncidentEntry).where(IncidentEntry.incident_id == i.id)
                                  .order_by(IncidentEntry.at, IncidentEntry.id)).all()
        files = session.execute(select(IncidentAttachment, Attachment.media_type, Attachment.size)
                                .join(Attachment, Attachment.sha256 == IncidentAttachment.sha256)
                                .where(IncidentAttachment.incident_id == i.id)
                                .order_by(IncidentAttachment.added_at)).all()
        body["timeline"] = [{"at": _iso(e.at), "actor": e.actor, "kind": e.kind, "text": e.text} for e in entries]
        body["attachments"] = [{"sha256": a.sha256, "name": a.name, "media_type": mt, "size": size,
                                "added_at": _iso(a.added_at)} for a, mt, size in files]
    return {"id": envelope(i.id), "owner_agency": envelope(i.owner_agency), "status": envelope(i.status),
            "reported_at": envelope(_iso(i.reported_at)), "updated_at": envelope(_iso(i.updated_at)),
            "document": document(body)}


def _visible_incident(session, subject, incident_id, purpose, reads, access):
    i = session.get(Incident, incident_id)
    if i is None:
        raise NotFound(f"incident {incident_id} not found")
    decision = authorize(subject, "read", incident_ref(i), purpose, session=session, access=access)
    decision.require(f"incident {incident_id}")
    note_read(reads, f"incident/{i.id}", decision)
    return i, decision


def get_incident(session, subject, incident_id: str, purpose: str | None = None, reads: list | None = None, *,
                 access) -> dict:
    """One incident, cut to what the subject may see of it; another agency's out of scope answers 404."""
    i, decision = _visible_incident(session, subject, incident_id, purpose, reads, access)
    return cut(_incident_model(session, i, True), _lens(session, subject, decision, purpose, reads, access))


def list_incidents(session, subject, *, purpose: str | None = None, status: str | None = None,
                   category: str | None = None, limit: int = 50, offset: int = 0, reads: list | None = None,
                   access) -> dict:
    """The incidents the subject may see, newest first, filtered in the query before paging."""
    where = [incident_scope(subject, purpose, session=session, access=access)]
    if status:
        where.append(Incident.status == status)
    if category:
        where.append(Incident.category == category)
    total = session.scalar(select(func.count()).select_from(Incident).where(*where))
    rows = session.scalars(select(Incident).where(*where).order_by(Incident.reported_at.desc(), Incident.id)
                           .limit(limit).offset(offset)).all()
    items = []
    for i in rows:
        decision = authorize(subject, "read", incident_ref(i), purpose, session=session, access=access)
        if not decision.allowed:  # the scope and the decision are the same rule; a gap shows nothing
            continue
        note_read(reads, f"incident/{i.id}", decision)
        items.append(cut(_incident_model(session, i, False), _lens(session, subject, decision, purpose, reads, access)))
    return {"total": total, "limit": limit, "offset": offset, "items": items}


def attachment(session, subject, incident_id: str, sha256: str, purpose: str | None = None,
               reads: list | None = None, *, access) -> tuple[bytes, str]:
    """An attachment's bytes and media type, where the subject's view of the incident covers its attachments."""
    i, decision = _visible_incident(session, subject, incident_id, purpose, reads, access)
    link = session.get(IncidentAttachment, (i.id, sha256))
    if link is None or not Lens(subject, decision, None).covers("/attachments"):
        raise NotFound(f"attachment {sha256} not found on incident {incident_id}")
    a = session.get(Attachment, sha256)
    return a.data, a.media_type


# -- notices --

def _notice_model(session, n: Notice, subject) -> dict:
    deliveries = session.scalars(select(NoticeDelivery).where(NoticeDelivery.notice_id == n.id)
                                 .order_by(NoticeDelivery.agency)).all()
    answered = [d for d in deliveries if d.feedback_at is not None]
    hits = [d for d in answered if d.result in ("hit", "seizure")]
    body = {"title": n.title, "summary": n.summary, "purpose": n.purpose, "indicators": n.indicators,
            "recommended_action": n.recommended_action, "valid_from": _iso(n.valid_from),
            "valid_until": _iso(n.valid_until), "feedback_due_at": _iso(n.feedback_due_at),
            "incident_id": n.incident_id, "issued_by": n.issued_by}
    feedback = lambda d: {"agency": d.agency, "agreement": d.agreement, "delivered_at": _iso(d.delivered_at),  # noqa
                          "action_taken": d.action_taken, "result": d.result, "note": d.feedback_note,
                          "by": d.feedback_by, "at": _iso(d.feedback_at)}
    model = {"id": envelope(n.id), "issuer_agency": envelope(n.issuer_agency), "issued_at": envelope(_iso(n.issued_at)),
             "document": document(body),
             # the issuer's measure of its notice: every recipient's feedback, hits and hit rate
             "deliveries": assessment([feedback(d) for d in deliveries], n.issuer_agency),
             "stats": assessment({"recipients": len(deliveries), "answered": len(answered), "hits": len(hits),
                                  "hit_rate": round(len(hits) / len(answered), 3) if answered else None},
                                 n.issuer_agency)}
    own = next((d for d in deliveries if d.agency == subject.agency), None)
    if own is not None:  # a recipient sees its own feedback, never another recipient's
        model["my_feedback"] = assessment(feedback(own), own.agency)
    return model


def _visible_notice(session, subject, notice_id, reads, access):
    from concord.access.records import notice

    n = session.get(Notice, notice_id)
    if n is None:
        raise NotFound(f"notice {notice_id} not found")
    decision = notice(subject, "read", NoticeAt(n.id, n.issuer_agency, n.purpose), session, access)
    decision.require(f"notice {notice_id}")
    note_read(reads, f"notice/{n.id}", decision)
    return n, decision


def get_notice(session, subject, notice_id: str, reads: list | None = None, *, access) -> dict:
    """A notice: the issuer's whole with feedback and hit rate; a recipient's cut to its agreement's fields."""
    n, decision = _visible_notice(session, subject, notice_id, reads, access)
    return cut(_notice_model(session, n, subject), _lens(session, subject, decision, n.purpose, reads, access))


def list_notices(session, subject, *, limit: int = 50, offset: int = 0, reads: list | None = None, access) -> dict:
    """Notices the subject's agency issued or received, newest first."""
    from concord.access.records import notice

    where = notice_scope(subject, access=access)
    total = session.scalar(select(func.count()).select_from(Notice).where(where))
    items = []
    for n in session.scalars(select(Notice).where(where).order_by(Notice.issued_at.desc(), Notice.id)
                             .limit(limit).offset(offset)):
        decision = notice(subject, "read", NoticeAt(n.id, n.issuer_agency, n.purpose), session, access)
        if decision.allowed:
            note_read(reads, f"notice/{n.id}", decision)
            items.append(cut(_notice_model(session, n, subject),
                             _lens(session, subject, decision, n.purpose, reads, access)))
    return {"total": total, "limit": limit, "offset": offset, "items": items}


# -- operations --

def _operation_model(session, op: Operation, full: bool) -> dict:
    out = {"id": envelope(op.id), "name": envelope(op.name), "lead_agency": envelope(op.lead_agency),
           "status": envelope(op.status), "starts_at": envelope(_iso(op.starts_at)),
           "ends_at": envelope(_iso(op.ends_at)), "incident_id": envelope(op.incident_id),
           "template": envelope(op.template)}
    if not full:
        return out
    members = session.scalars(select(OperationMember).where(OperationMember.operation_id == op.id)
                              .order_by(OperationMember.added_at, OperationMember.user_id)).all()
    tasks = session.scalars(select(OperationTask).where(OperationTask.operation_id == op.id)
                            .order_by(OperationTask.due_at, OperationTask.id)).all()
    thread = session.scalars(select(OperationMessage).where(OperationMessage.operation_id == op.id)
                             .order_by(OperationMessage.at, OperationMessage.id)).all()
    return out | {
        "members": envelope([{"user_id": m.user_id, "agency": m.agency, "role": m.role} for m in members]),
        "tasks": envelope([{"id": t.id, "title": t.title, "owner": t.owner, "owner_agency": t.owner_agency,
                            "due_at": _iso(t.due_at), "status": t.status, "escalation": t.escalation,
                            "report": t.report, "done_at": _iso(t.done_at)} for t in tasks]),
        "thread": envelope([{"id": m.id, "author": m.author, "agency": m.agency, "at": _iso(m.at), "text": m.text}
                            for m in thread])}


def get_operation(session, subject, operation_id: str, *, access) -> dict:
    """An operation's own records (members, tasks, thread), for its member agencies only."""
    op = session.get(Operation, operation_id)
    decision = operation(subject, "read", OperationAt(op.id, op.lead_agency), session) if op else None
    if decision is None or not decision.allowed:
        raise NotFound(f"operation {operation_id} not found")
    return cut(_operation_model(session, op, True), _lens(session, subject, decision, None, None, access))


def list_operations(session, subject, *, limit: int = 50, offset: int = 0, access) -> dict:
    """The operations with a member of the subject's agency, latest first."""
    where = operation_scope(subject)
    total = session.scalar(select(func.count()).select_from(Operation).where(where))
    items = []
    for op in session.scalars(select(Operation).where(where).order_by(Operation.created_at.desc(), Operation.id)
                              .limit(limit).offset(offset)):
        decision = operation(subject, "read", OperationAt(op.id, op.lead_agency), session)
        if decision.allowed:
            items.append(cut(_operation_model(session, op, False), _lens(session, subject, decision, None, None,
                                                                         access)))
    return {"total": total, "limit": limit, "offset": offset, "items": items}
