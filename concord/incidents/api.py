"""Incidents, joint operations and risk information notices through the API."""

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from concord.access.deps import audited_read, concord_app, current_subject, purpose
from concord.bounds import MAX_OFFSET, MAX_PAGE, BoundedRoute, read_body
from concord.incidents import queries
from concord.incidents.handlers import ATTACHMENT_TYPES, MAX_ATTACHMENT
from concord.incidents.messages import (AddAttachment, AddOperationMember, AssignOperationTask, ChangeIncidentStatus,
                                        CompleteOperationTask, GiveNoticeFeedback, IssueNotice, OpenOperation,
                                        PostOperationMessage, RecordIncident)
from concord.incidents.models import CATEGORIES
from concord.incidents.schemas import (FeedbackIn, IncidentIn, MemberIn, MessageIn, NoticeIn, OperationIn, StatusIn,
                                       TaskDoneIn, TaskIn)

router = APIRouter(prefix="/api/v1", tags=["incidents"], route_class=BoundedRoute)
INCIDENT_STATUSES = Literal["reported", "triaged", "responding", "closed"]
SHA256 = Path(pattern=r"^[0-9a-f]{64}$", description="the attachment's SHA-256, lower-case hex")
_BINARY = {t: {"schema": {"type": "string", "format": "binary"}} for t in ATTACHMENT_TYPES}
_UPLOAD = {"requestBody": {"required": True, "content": _BINARY}, "x-max-body-bytes": MAX_ATTACHMENT}


def _page(limit: int = Query(50, ge=1, le=MAX_PAGE), offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> dict:
    return {"limit": limit, "offset": offset}


# -- incidents --

@router.post("/incidents", status_code=201)
def record_incident(body: IncidentIn, subject=Depends(current_subject), app=Depends(concord_app)):
    """Report an incident or seizure for the caller's agency; it is shared only as agreements say."""
    return app.bus.handle(RecordIncident(document=body.model_dump(mode="json")), subject=subject)


@router.get("/incidents")
def list_incidents(request: Request, status: INCIDENT_STATUSES | None = None,
                   category: Literal[CATEGORIES] | None = None, page=Depends(_page),  # type: ignore[valid-type]
                   why: str | None = Depends(purpose), subject=Depends(current_subject), app=Depends(concord_app)):
    """The caller's agency's incidents, and other agencies' that an agreement shares for the stated purpose."""
    return audited_read(request, subject, why, lambda s, reads: queries.list_incidents(
        s, subject, purpose=why, status=status, category=category, reads=reads, access=app.access, **page))


@router.get("/incidents/{incident_id}")
def get_incident(request: Request, incident_id: str = Path(max_length=32), why: str | None = Depends(purpose),
                 subject=Depends(current_subject), app=Depends(concord_app)):
    """One incident: the owner's whole; another agency's, the fields its agreement lists (else 404)."""
    return audited_read(request, subject, why, lambda s, reads: queries.get_incident(
        s, subject, incident_id, why, reads, access=app.access))


@router.post("/incidents/{incident_id}/status")
def change_status(body: StatusIn, incident_id: str = Path(max_length=32), subject=Depends(current_subject),
                  app=Depends(concord_app)):
    """reported -> triaged -> responding -> closed (with the post-incident review)."""
    return app.bus.handle(ChangeIncidentStatus(incident_id=incident_id, status=body.status, note=body.note,
                                               review=body.review.model_dump() if body.review else None),
                          subject=subject)


@router.post("/incidents/{incident_id}/attachments", status_code=201, openapi_extra=_UPLOAD)
async def add_attachment(request: Request, incident_id: str = Path(max_length=32),
                         name: str = Query(min_length=1, max_length=200, description="file name, e.g. hold.jpg"),
                         subject=Depends(current_subject), app=Depends(concord_app)):
    """Attach a photo (JPEG, PNG) or report (PDF), at most 8 MiB; stored once by its SHA-256."""
    from starlette.concurrency import run_in_threadpool

    data = await read_body(request, MAX_ATTACHMENT, "attachment")
    return await run_in_threadpool(app.bus.handle, AddAttachment(
        incident_id=incident_id, name=name, media_type=request.headers.get("content-type", ""), data=data),
        subject=subject)


@router.get("/incidents/{incident_id}/attachments/{sha256}", response_class=Response,
            responses={200: {"description": "the file", "content": {t: {} for t in ATTACHMENT_TYPES}}})
def get_attachment(request: Request, incident_id: str = Path(max_length=32), sha256: str = SHA256,
                   why: str | None = Depends(purpose), subject=Depends(current_subject), app=Depends(concord_app)):
    """An attachment's bytes, where the caller's view of the incident covers /attachments."""
    data, media_type = audited_read(request, subject, why, lambda s, reads: queries.attachment(
        s, subject, incident_id, sha256, why, reads, access=app.access))
    return Response(data, media_type=media_type, headers={"X-Content-Type-Options": "nosniff",
                                                          "Content-Disposition": "attachment"})


# -- operations --

@router.post("/operations", status_code=201)
def open_operation(body: OperationIn, subject=Depends(current_subject), app=Depends(concord_app)):
    """Open a response team or joint operation with members of several agencies in named roles."""
    return app.bus.handle(OpenOperation(document=body.model_dump(mode="json")), subject=subject)


@router.get("/operations")
def list_operations(page=Depends(_page), subject=Depends(current_subject), app=Depends(concord_app)):
    """The operations with a member of the caller's agency."""
    with app.sessions() as s:
        return queries.list_operations(s, subject, access=app.access, **page)


@router.get("/operations/{operation_id}")
def get_operation(operation_id: str = Path(max_length=32), subject=Depends(current_subject), app=Depends(concord_app)):
    """An operation's members, tasks and thread (member agencies only; others: 404)."""
    with app.sessions() as s:
        return queries.get_operation(s, subject, operation_id, access=app.access)


@router.post("/operations/{operation_id}/members", status_code=201)
def add_member(body: MemberIn, operation_id: str = Path(max_length=32), subject=Depends(current_subject),
               app=Depends(concord_app)):
    return app.bus.handle(AddOperationMember(operation_id=operation_id, user_id=body.user_id, role=body.role),
                          subject=subject)


@router.post("/operations/{operation_id}/tasks", status_code=201)
def assign_task(body: TaskIn, operation_id: str = Path(max_length=32), subject=Depends(current_subject),
                app=Depends(concord_app)):
    return app.bus.handle(AssignOperationTask(operation_id=operation_id, title=body.title, owner=body.owner,
                                              due_at=body.due_at.isoformat()), subject=subject)


@router.post("/operations/{operation_id}/tasks/{task_id}/done")
def complete_task(body: TaskDoneIn, operation_id: str = Path(max_length=32), task_id: str = Path(max_length=32),
                  subject=Depends(current_subject), app=Depends(concord_app)):
    return app.bus.handle(CompleteOperationTask(operation_id=operation_id, task_id=task_id, report=body.report),
                          subject=subject)


@router.post("/operations/{operation_id}/messages", status_code=201)
def post_message(body: MessageIn, operation_id: str = Path(max_length=32), subject=Depends(current_subject),
                 app=Depends(concord_app)):
    return app.bus.handle(PostOperationMessage(operation_id=operation_id, text=body.text), subject=subject)


# -- notices --

@router.post("/notices", status_code=201)
def issue_notice(body: NoticeIn, subject=Depends(current_subject), app=Depends(concord_app)):
    """Issue a risk information notice to the agencies the caller's agreements entitle."""
    return app.bus.handle(IssueNotice(document=body.model_dump(mode="json")), subject=subject)


@router.get("/notices")
def list_notices(request: Request, page=Depends(_page), subject=Depends(current_subject), app=Depends(concord_app)):
    """Notices the caller's agency issued or received."""
    return audited_read(request, subject, None, lambda s, reads: queries.list_notices(
        s, subject, reads=reads, access=app.access, **page))


@router.get("/notices/{notice_id}")
def get_notice(request: Request, notice_id: str = Path(max_length=32), subject=Depends(current_subject),
               app=Depends(concord_app)):
    """A notice: for its issuer with every recipient's feedback and the hit rate."""
    return audited_read(request, subject, None, lambda s, reads: queries.get_notice(
        s, subject, notice_id, reads, access=app.access))


@router.post("/notices/{notice_id}/feedback", status_code=201)
def give_feedback(body: FeedbackIn, notice_id: str = Path(max_length=32), subject=Depends(current_subject),
                  app=Depends(concord_app)):
    """A recipient's feedback: the action taken and its result (no_hit, hit, seizure)."""
    return app.bus.handle(GiveNoticeFeedback(notice_id=notice_id, action_taken=body.action_taken,
                                             result=body.result, note=body.note), subject=subject)
