"""What each subject may see of a joint inspection: one read model, every field classified, cut in one pass.

| field | class | who sees it |
|---|---|---|
| id, status, facility, bay, slot, times, agencies, history (what, when) | envelope | whoever may read the declaration |
| containers | document `/transport/containers` | where the subject's view covers it |
| history reasons | assessment (the lead's) | the lead agency |
| invitations (status, answered) | step of the invited agency | that agency, the lead and the trader |
| an invitation's reason | assessment of its agency | that agency and the lead |
| outcome (the trader's one outcome) | outcome of the lead | the lead and the trader; others per agreement |
| findings (result, text, seals, photos, samples) | reason of the recording agency | that agency; others only under an
  `inspection_result` agreement scope (its fields), else a stub: which agency recorded one |"""

from __future__ import annotations

from sqlalchemy import select

from concord.access.exits import REASON, Field, Lens, assessment, cut, doc, envelope, outcome, step
from concord.access.policy import Ref, authorize
from concord.declarations.models import Declaration
from concord.declarations.queries import note_read
from concord.declarations.views import facets_of
from concord.errors import NotFound
from concord.inspections.models import (InspectionAttachment, InspectionFinding, InspectionInvitation,
                                        InspectionSample, JointInspection)


def _iso(at):
    return at.isoformat() if at else None


def finding_value(f: InspectionFinding, samples: list[InspectionSample]) -> dict:
    """One agency's finding whole, under the field names its `inspection_result` scopes list (/result, /findings)."""
    return {"finding_id": f.id, "agency": f.agency, "result": f.result, "final_result": f.final_result,
            "findings": f.findings, "seals_before": f.seals_before, "seals_after": f.seals_after,
            "photos": f.photos, "officer": f.officer, "recorded_at": f.recorded_at.isoformat(),
            "samples": [{"id": x.id, "description": x.description, "laboratory": x.laboratory,
                         "sent_at": x.sent_at.isoformat(), "result": x.result, "detail": x.detail,
                         "result_at": _iso(x.result_at)} for x in samples]}


def inspection_model(insp: JointInspection, d, invitations, findings, samples: dict, lead: str) -> dict:
    facets = facets_of(d)
    return {
        "id": envelope(insp.id), "declaration_id": envelope(d.id), "status": envelope(insp.status),
        "facility": envelope(insp.facility), "bay": envelope(insp.bay),
        "slot_start": envelope(insp.slot_start.isoformat()), "slot_end": envelope(insp.slot_end.isoformat()),
        "agencies": envelope(list(insp.agencies)), "containers": doc(list(insp.containers), "/transport/containers"),
        "requested_at": envelope(insp.requested_at.isoformat()), "confirmed_at": envelope(_iso(insp.confirmed_at)),
        "started_at": envelope(_iso(insp.started_at)), "finished_at": envelope(_iso(insp.finished_at)),
        "reschedules": envelope(insp.reschedules),
        "history": [{k: envelope(h.get(k)) for k in ("at", "what", "from", "to")} | {
            "reason": assessment(h.get("reason"))} for h in insp.history],
        "outcome": outcome(insp.outcome, lead, Ref("inspection_result", insp.id, lead, facets), "/result"),
        "invitations": [step({"agency": envelope(i.agency), "status": envelope(i.status),
                              "answered_at": envelope(_iso(i.answered_at)),
                              "reason": assessment(i.reason, i.agency)}, i.agency) for i in invitations],
        "findings": [Field(finding_value(f, samples.get(f.id, [])), REASON, f.agency,
                           ref=Ref("inspection_result", f.id, f.agency, facets),
                           stub={"agency": f.agency, "finding_id": f.id, "recorded": True}) for f in findings],
    }


def _load(session, insp):
    invitations = list(session.scalars(select(InspectionInvitation).where(
        InspectionInvitation.inspection_id == insp.id).order_by(InspectionInvitation.invited_at,
                                                                 InspectionInvitation.agency)))
    findings = list(session.scalars(select(InspectionFinding).where(InspectionFinding.inspection_id == insp.id)
                                    .order_by(InspectionFinding.recorded_at, InspectionFinding.agency)))
    samples: dict = {}
    if findings:
        for x in session.scalars(select(InspectionSample).where(
                InspectionSample.finding_id.in_([f.id for f in findings])).order_by(InspectionSample.id)):
            samples.setdefault(x.finding_id, []).append(x)
    return invitations, findings, samples


def _lens_for(session, subject, d, purpose, reads, access) -> Lens:
    decision = authorize(subject, "read", d, purpose, session=session, access=access)
    if not decision.allowed:
        raise NotFound("inspection not found")
    note_read(reads, f"declaration/{d.id}", decision)
    return Lens(subject, decision, access.lead_of(session), session, purpose, reads, access)


def get_inspection(session, subject, inspection_id: str, *, purpose: str | None = None, reads: list | None = None,
                   access) -> dict:
    """One inspection as the subject may see it (404 where it may not read the declaration)."""
    insp = session.get(JointInspection, inspection_id)
    d = session.get(Declaration, insp.declaration_id) if insp is not None else None
    if d is None:
        raise NotFound(f"inspection {inspection_id} not found")
    try:
        lens = _lens_for(session, subject, d, purpose, reads, access)
    except NotFound:
        raise NotFound(f"inspection {inspection_id} not found") from None
    return cut(inspection_model(insp, d, *_load(session, insp), lens.lead), lens)


def declaration_inspections(session, subject, declaration_id: str, *, purpose: str | None = None,
                            reads: list | None = None, access) -> dict:
    """The declaration's inspections, latest first: for the trader, one appointment and one outcome."""
    d = session.get(Declaration, declaration_id)
    if d is None:
        raise NotFound(f"declaration {declaration_id} not found")
    try:
        lens = _lens_for(session, subject, d, purpose, reads, access)
    except NotFound:
        raise NotFound(f"declaration {declaration_id} not found") from None
    rows = session.scalars(select(JointInspection).where(JointInspection.declaration_id == d.id)
                           .order_by(JointInspection.requested_at.desc(), JointInspection.id.desc())).all()
    items = [inspection_model(i, d, *_load(session, i), lens.lead) for i in rows]
    return {"declaration_id": d.id, "items": cut(items, lens)}


def attachment(session, subject, inspection_id: str, sha256: str, *, purpose: str | None = None,
               reads: list | None = None, access) -> InspectionAttachment:
    """A photo, to a subject whose cut of the inspection shows a finding that names it; else not found."""
    seen = get_inspection(session, subject, inspection_id, purpose=purpose, reads=reads, access=access)
    named = {p.get("sha256") for f in seen.get("findings", []) for p in f.get("photos", []) or []}
    row = session.get(InspectionAttachment, sha256) if sha256 in named else None
    if row is None:
        raise NotFound(f"attachment {sha256} not found")
    return row
