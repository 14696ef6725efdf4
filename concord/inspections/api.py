"""Joint inspection routes: request, answer, reschedule, no-show, start, findings, laboratory results, photos."""

from fastapi import APIRouter, Depends, Request, Response
from fastapi.params import Path

from concord.access.deps import audited_read, concord_app, current_subject, purpose
from concord.bounds import BoundedRoute
from concord.inspections import queries
from concord.inspections.messages import (AnswerInvitation, RecordFinding, RecordLabResult, RecordNoShow,
                                          RequestInspection, RescheduleInspection, StartInspection)
from concord.inspections.schemas import (FINDING_BODY_BYTES, AnswerIn, FindingIn, FindingIncidentIn, FindingNoticeIn,
                                         LabResultIn, NoShowIn, RequestIn, RescheduleIn)

router = APIRouter(prefix="/api/v1", tags=["inspections"], route_class=BoundedRoute)


def _id():
    """A record id in the path: looked up, never stored; one Path per parameter (FastAPI keeps its alias on it)."""
    return Path(max_length=32)



@router.post("/declarations/{declaration_id}/inspections", status_code=201)
def request_inspection(body: RequestIn, response: Response, declaration_id: str = _id(),
                       subject=Depends(current_subject), app=Depends(concord_app)):
    """An officer asks for a physical examination; every agency that needs one is invited to the same slot
    (200 with `replayed` when the declaration's inspection already invites the caller's agency)."""
    result = app.bus.handle(RequestInspection(declaration_id=declaration_id, not_before=body.not_before,
                                              facility=body.facility), subject=subject)
    response.status_code = 200 if result["replayed"] else 201
    response.headers["Location"] = f"/api/v1/inspections/{result['id']}"
    return result


@router.get("/declarations/{declaration_id}/inspections")
def declaration_inspections(request: Request, declaration_id: str = _id(), why: str | None = Depends(purpose),
                            subject=Depends(current_subject), app=Depends(concord_app)):
    """The declaration's inspections: for the trader one appointment and one outcome; for an agency its own
    findings and others' as agreements share them."""
    return audited_read(request, subject, why, lambda s, reads: queries.declaration_inspections(
        s, subject, declaration_id, purpose=why, reads=reads, access=app.access))


@router.get("/inspections/{inspection_id}")
def get_inspection(request: Request, inspection_id: str = _id(), why: str | None = Depends(purpose),
                   subject=Depends(current_subject), app=Depends(concord_app)):
    return audited_read(request, subject, why, lambda s, reads: queries.get_inspection(
        s, subject, inspection_id, purpose=why, reads=reads, access=app.access))


@router.post("/inspections/{inspection_id}/answer")
def answer(body: AnswerIn, inspection_id: str = _id(), subject=Depends(current_subject), app=Depends(concord_app)):
    """The caller's agency accepts the proposed slot, or declines it with a reason (a later slot is proposed)."""
    return app.bus.handle(AnswerInvitation(inspection_id=inspection_id, accept=body.accept, reason=body.reason),
                          subject=subject)


@router.post("/inspections/{inspection_id}/reschedule")
def reschedule(body: RescheduleIn, inspection_id: str = _id(), subject=Depends(current_subject),
               app=Depends(concord_app)):
    """The trader, an invited agency or customs asks for another slot; every agency is asked again."""
    return app.bus.handle(RescheduleInspection(inspection_id=inspection_id, reason=body.reason,
                                               not_before=body.not_before), subject=subject)


@router.post("/inspections/{inspection_id}/no-show")
def no_show(body: NoShowIn, inspection_id: str = _id(), subject=Depends(current_subject), app=Depends(concord_app)):
    """Customs at the facility records that the goods (party `trader`) or an agency did not come."""
    return app.bus.handle(RecordNoShow(inspection_id=inspection_id, party=body.party), subject=subject)


@router.post("/inspections/{inspection_id}/start")
def start(inspection_id: str = _id(), subject=Depends(current_subject), app=Depends(concord_app)):
    """The goods reach the bay: once for every agency of the inspection."""
    return app.bus.handle(StartInspection(inspection_id=inspection_id), subject=subject)


@router.post("/inspections/{inspection_id}/findings", status_code=201,
             openapi_extra={"x-max-body-bytes": FINDING_BODY_BYTES})
def record_finding(body: FindingIn, response: Response, inspection_id: str = _id(), subject=Depends(current_subject),
                   app=Depends(concord_app)):
    """The caller's agency records what it found; photos are stored once by their SHA-256."""
    result = app.bus.handle(RecordFinding(
        inspection_id=inspection_id, result=body.result, findings=body.findings, seals_before=body.seals_before,
        seals_after=body.seals_after, photos=[{"media_type": p.media_type, "content": p.content} for p in body.photos],
        samples=[x.model_dump() for x in body.samples]), subject=subject)
    if result["replayed"]:
        response.status_code = 200
    return result


@router.post("/findings/{finding_id}/incident", status_code=201)
def incident_from_finding(request: Request, body: FindingIncidentIn | None = None, finding_id: str = _id(),
                          why: str | None = Depends(purpose), subject=Depends(current_subject),
                          app=Depends(concord_app)):
    """One step from a finding to an incident of the caller's agency, prefilled with the finding and what the agency
    may see of its declaration (goods, HS codes, containers, conveyance, parties, the declaration's link)."""
    from concord.incidents.messages import RecordIncident
    from concord.inspections.escalation import incident_draft

    draft = audited_read(request, subject, why, lambda s, reads: incident_draft(
        s, subject, finding_id, purpose=why, reads=reads, access=app.access))
    given = body.model_dump(exclude_none=True) if body is not None else {}
    result = app.bus.handle(RecordIncident(document=draft | given), subject=subject)
    return result | {"finding_id": finding_id, "declaration_id": draft["declarations"][0]}


@router.post("/findings/{finding_id}/notice", status_code=201)
def notice_from_finding(request: Request, body: FindingNoticeIn, finding_id: str = _id(),
                        why: str | None = Depends(purpose), subject=Depends(current_subject),
                        app=Depends(concord_app)):
    """One step from a finding to a risk information notice of the caller's agency: its indicators are what the
    agency may see of the finding's declaration (containers, conveyance, parties, HS codes and origins); the
    agreements decide who receives it, and its hunt starts at once."""
    from concord.incidents.messages import IssueNotice
    from concord.inspections.escalation import incident_draft, notice_draft

    draft = audited_read(request, subject, why, lambda s, reads: incident_draft(
        s, subject, finding_id, purpose=why, reads=reads, access=app.access))
    notice = notice_draft(draft, app.clock.now(), body.model_dump(mode="json", exclude_none=True))
    result = app.bus.handle(IssueNotice(document=notice), subject=subject)
    return result | {"finding_id": finding_id, "declaration_id": draft["declarations"][0]}


@router.post("/samples/{sample_id}/result")
def lab_result(body: LabResultIn, sample_id: str = _id(), subject=Depends(current_subject), app=Depends(concord_app)):
    """The laboratory's result on a sample, recorded by the agency that sent it."""
    return app.bus.handle(RecordLabResult(sample_id=sample_id, result=body.result, detail=body.detail),
                          subject=subject)


@router.get("/inspections/{inspection_id}/attachments/{sha256}",
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}})
def get_attachment(request: Request, inspection_id: str = _id(), sha256: str = Path(pattern=r"^[0-9a-f]{64}$"),
                   why: str | None = Depends(purpose), subject=Depends(current_subject), app=Depends(concord_app)):
    """A photo of a finding the caller may see."""
    row = audited_read(request, subject, why, lambda s, reads: queries.attachment(
        s, subject, inspection_id, sha256, purpose=why, reads=reads, access=app.access))
    return Response(row.content, media_type=row.media_type)
