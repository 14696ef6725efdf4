"""Enforcement screens: the board of incidents the agency may see (live), an incident, the operations the agency is a
member of with their thread and tasks, and risk information notices with their feedback form.

Reads call concord.incidents.queries with access=app.access, the API's own functions, so every field is cut by the
same decision; writes are the API's commands through the bus, checked by the API's own bodies."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from concord.access.deps import audited_read
from concord.agreements.models import PURPOSES
from concord.console.forms import problems_of_validation
from concord.console.web import PAGE, form, redirect, render, signed_in, tr
from concord.errors import ConcordError, Forbidden
from concord.incidents import queries
from concord.incidents.messages import (ChangeIncidentStatus, CompleteOperationTask, GiveNoticeFeedback,
                                        PostOperationMessage)
from concord.incidents.models import NEXT_STATUS
from concord.incidents.schemas import FEEDBACK_ACTIONS, RESULTS, FeedbackIn, MessageIn, StatusIn, TaskDoneIn

router = APIRouter(prefix="/console", include_in_schema=False)
INCIDENT_STATUSES = ("reported", "triaged", "responding", "closed")
POLL_SECONDS = 20  # the board refreshes on the stream's incident events (console/live.py); this is a fallback


def _agency(request: Request, signed) -> None:
    if signed.subject.agency is None or signed.subject.is_trader:
        raise Forbidden(tr(request, "Incidents, operations and notices are the work of agencies."))


def _purpose(value: str) -> str | None:
    """The purpose a cross-agency read states, from the controlled list (anything else: none)."""
    return value if value in PURPOSES else None


def _pages(total: int) -> int:
    return max(1, -(-total // PAGE))


# -- incidents --

def _board(request: Request, signed, status: str, purpose: str, page: int) -> dict:
    _agency(request, signed)
    app, subject, why = request.app.state.concord, signed.subject, _purpose(purpose)
    board = audited_read(request, subject, why, lambda s, reads: queries.list_incidents(
        s, subject, purpose=why, status=status if status in INCIDENT_STATUSES else None, limit=PAGE,
        offset=(page - 1) * PAGE, reads=reads, access=app.access))
    return {"board": board, "status_filter": status if status in INCIDENT_STATUSES else "", "purpose": why or "",
            "purposes": PURPOSES, "statuses": INCIDENT_STATUSES, "page": page, "pages": _pages(board["total"]),
            "poll": POLL_SECONDS}


@router.get("/incidents")
def incidents(request: Request, status: str = Query("", max_length=24), purpose: str = Query("", max_length=64),
              page: int = Query(1, ge=1, le=10_000), signed=Depends(signed_in)):
    """The agency's incidents, and other agencies' that an agreement shares for the purpose stated."""
    return render(request, "incidents.html", signed, **_board(request, signed, status, purpose, page))


@router.get("/incidents/live")
def incidents_live(request: Request, status: str = Query("", max_length=24), purpose: str = Query("", max_length=64),
                   page: int = Query(1, ge=1, le=10_000), signed=Depends(signed_in)):
    """The board's list alone, for HTMX."""
    return render(request, "_incidents.html", signed, **_board(request, signed, status, purpose, page))


def _incident_page(request: Request, signed, incident_id: str, purpose: str, status: int = 200, **extra):
    _agency(request, signed)
    app, subject, why = request.app.state.concord, signed.subject, _purpose(purpose)
    i = audited_read(request, subject, why, lambda s, reads: queries.get_incident(
        s, subject, incident_id[:32], why, reads, access=app.access))
    own = i.get("owner_agency") == subject.agency and subject.has("officer", "supervisor")
    return render(request, "incident.html", signed, status=status, i=i, doc=i.get("document", {}),
                  purpose=why or "", next_statuses=NEXT_STATUS.get(i.get("status"), ()) if own else (),
                  values=extra.pop("values", {}), errors=extra.pop("errors", {}), **extra)


@router.get("/incidents/{incident_id}")
def incident(incident_id: str, request: Request, purpose: str = Query("", max_length=64),
             signed=Depends(signed_in)):
    return _incident_page(request, signed, incident_id, purpose, done=request.query_params.get("done"))


@router.get("/incidents/{incident_id}/attachments/{sha256}")
def attachment(incident_id: str, sha256: str, request: Request, purpose: str = Query("", max_length=64),
               signed=Depends(signed_in)):
    """An attachment's bytes where the subject's view of the incident covers /attachments (the API's query)."""
    _agency(request, signed)
    app, subject, why = request.app.state.concord, signed.subject, _purpose(purpose)
    data, media_type = audited_read(request, subject, why, lambda s, reads: queries.attachment(
        s, subject, incident_id[:32], sha256[:64].lower(), why, reads, access=app.access))
    return Response(data, media_type=media_type, headers={
        "X-Content-Type-Options": "nosniff", "Content-Disposition": "attachment", "Cache-Control": "no-store"})


def _errors_of(e: Exception) -> dict:
    if isinstance(e, ValidationError):
        return problems_of_validation(e)
    return {p.pointer: p.message for p in getattr(e, "problems", [])} or {"": e.message}


@router.post("/incidents/{incident_id}/status")
async def change_status(incident_id: str, request: Request, signed=Depends(signed_in)):
    """The owner moves its incident on (reported -> triaged -> responding -> closed with its review)."""
    fields = await form(request, signed)
    app = request.app.state.concord
    body = {"status": fields.get("status", ""), "note": fields.get("note", "").strip()}
    if body["status"] == "closed":
        body["review"] = {k: fields.get(f"review_{k}", "").strip() for k in ("summary", "what_worked", "to_improve")}
    try:
        given = StatusIn.model_validate(body)  # the API's own body: the same bounds and messages
        await run_in_threadpool(app.bus.handle, ChangeIncidentStatus(
            incident_id=incident_id[:32], status=given.status, note=given.note,
            review=given.review.model_dump() if given.review else None), subject=signed.subject)
    except (ValidationError, ConcordError) as e:
        if isinstance(e, ConcordError) and e.status == 404:
            raise
        return _incident_page(request, signed, incident_id, "", status=422 if isinstance(e, ValidationError)
                              else e.status, values=fields, errors=_errors_of(e))
    return redirect(f"/console/incidents/{incident_id[:32]}?done=status")


# -- operations --

@router.get("/operations")
def operations(request: Request, page: int = Query(1, ge=1, le=10_000), signed=Depends(signed_in)):
    """The operations with a member of the subject's agency."""
    _agency(request, signed)
    app = request.app.state.concord
    with app.sessions() as s:
        result = queries.list_operations(s, signed.subject, limit=PAGE, offset=(page - 1) * PAGE, access=app.access)
    return render(request, "operations.html", signed, result=result, page=page, pages=_pages(result["total"]))


def _operation_page(request: Request, signed, operation_id: str, status: int = 200, **extra):
    _agency(request, signed)
    app = request.app.state.concord
    with app.sessions() as s:
        op = queries.get_operation(s, signed.subject, operation_id[:32], access=app.access)
    template = op.get("template") or []  # the report's fields, from the member's own read
    me = next((m for m in op.get("members", []) if m["user_id"] == signed.subject.user_id), None)
    leads = me is not None and me["role"] in ("coordinator", "supervisor")
    return render(request, "operation.html", signed, status=status, op=op, report_fields=template, me=me, leads=leads,
                  values=extra.pop("values", {}), errors=extra.pop("errors", {}), **extra)


@router.get("/operations/{operation_id}")
def operation(operation_id: str, request: Request, signed=Depends(signed_in)):
    return _operation_page(request, signed, operation_id, done=request.query_params.get("done"))


@router.post("/operations/{operation_id}/messages")
async def post_message(operation_id: str, request: Request, signed=Depends(signed_in)):
    fields = await form(request, signed)
    app = request.app.state.concord
    try:
        given = MessageIn.model_validate({"text": fields.get("text", "").strip()})
        await run_in_threadpool(app.bus.handle, PostOperationMessage(operation_id=operation_id[:32], text=given.text),
                                subject=signed.subject)
    except (ValidationError, ConcordError) as e:
        if isinstance(e, ConcordError) and e.status == 404:
            raise
        return _operation_page(request, signed, operation_id, status=422 if isinstance(e, ValidationError)
                               else e.status, values=fields, errors=_errors_of(e))
    return redirect(f"/console/operations/{operation_id[:32]}?done=message#thread")


def _report_of(fields: dict, template: list) -> dict:
    """The completion form's report: one input per template field, typed as the template says (blank: left out,
    so the handler says what is required)."""
    report: dict = {}
    for f in template:
        raw = fields.get(f"report_{f['name']}", "").strip()
        if f.get("type") == "boolean":
            report[f["name"]] = raw == "yes"
        elif raw and f.get("type") == "number":
            try:
                report[f["name"]] = float(raw) if "." in raw else int(raw)
            except ValueError:
                report[f["name"]] = raw  # the handler names the field and the type it wants
        elif raw:
            report[f["name"]] = raw
    return report


@router.post("/operations/{operation_id}/tasks/{task_id}/done")
async def complete_task(operation_id: str, task_id: str, request: Request, signed=Depends(signed_in)):
    fields = await form(request, signed)
    app = request.app.state.concord
    with app.sessions() as s:  # the member's own read first: an outsider learns nothing, not even the template
        template = queries.get_operation(s, signed.subject, operation_id[:32], access=app.access).get("template")
    try:
        given = TaskDoneIn.model_validate({"report": _report_of(fields, template or [])})
        await run_in_threadpool(app.bus.handle, CompleteOperationTask(
            operation_id=operation_id[:32], task_id=task_id[:32], report=given.report), subject=signed.subject)
    except (ValidationError, ConcordError) as e:
        if isinstance(e, ConcordError) and e.status == 404:
            raise
        errors = {f"{task_id}{k}": v for k, v in _errors_of(e).items()}
        return _operation_page(request, signed, operation_id, status=422 if isinstance(e, ValidationError)
                               else e.status, values=fields, errors=errors)
    return redirect(f"/console/operations/{operation_id[:32]}?done=task")


# -- notices --

@router.get("/notices")
def notices(request: Request, page: int = Query(1, ge=1, le=10_000), signed=Depends(signed_in)):
    """Notices the agency issued or received."""
    _agency(request, signed)
    app, subject = request.app.state.concord, signed.subject
    result = audited_read(request, subject, None, lambda s, reads: queries.list_notices(
        s, subject, limit=PAGE, offset=(page - 1) * PAGE, reads=reads, access=app.access))
    return render(request, "notices.html", signed, result=result, page=page, pages=_pages(result["total"]))


def _notice_page(request: Request, signed, notice_id: str, status: int = 200, **extra):
    _agency(request, signed)
    app, subject = request.app.state.concord, signed.subject
    n = audited_read(request, subject, None, lambda s, reads: queries.get_notice(
        s, subject, notice_id[:32], reads, access=app.access))
    mine = n.get("my_feedback")
    may_answer = mine is not None and mine.get("at") is None and subject.has("officer", "supervisor")
    return render(request, "notice.html", signed, status=status, n=n, doc=n.get("document", {}), mine=mine,
                  may_answer=may_answer, actions=FEEDBACK_ACTIONS, results=RESULTS,
                  values=extra.pop("values", {}), errors=extra.pop("errors", {}), **extra)


@router.get("/notices/{notice_id}")
def notice(notice_id: str, request: Request, signed=Depends(signed_in)):
    return _notice_page(request, signed, notice_id, done=request.query_params.get("done"))


@router.post("/notices/{notice_id}/feedback")
async def feedback(notice_id: str, request: Request, signed=Depends(signed_in)):
    """A recipient's feedback: the action taken and its result (the API's GiveNoticeFeedback)."""
    fields = await form(request, signed)
    app = request.app.state.concord
    try:
        given = FeedbackIn.model_validate({"action_taken": fields.get("action_taken", ""),
                                           "result": fields.get("result", ""), "note": fields.get("note", "").strip()})
        await run_in_threadpool(app.bus.handle, GiveNoticeFeedback(
            notice_id=notice_id[:32], action_taken=given.action_taken, result=given.result, note=given.note),
            subject=signed.subject)
    except (ValidationError, ConcordError) as e:
        if isinstance(e, ConcordError) and e.status == 404:
            raise
        return _notice_page(request, signed, notice_id, status=422 if isinstance(e, ValidationError) else e.status,
                            values=fields, errors=_errors_of(e))
    return redirect(f"/console/notices/{notice_id[:32]}?done=feedback")
