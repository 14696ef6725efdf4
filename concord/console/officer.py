"""Officer screens: the agency's task queue, a task with the declaration in the agency's view, the decision form,
arrival (customs), and search within the officer's view. Data comes from the API's own query functions."""

import secrets
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from concord.access.deps import audited_read
from concord.clearance.messages import DecideTask
from concord.clearance.queries import task_queue
from concord.clearance.schemas import DecisionIn
from concord.console.forms import problems_of_validation
from concord.console.web import PAGE, tr, form, redirect, render, signed_in
from concord.declarations import queries
from concord.declarations.messages import RecordArrival
from concord.errors import ConcordError, Forbidden, NotFound

router = APIRouter(prefix="/console", include_in_schema=False)
DECISIONS = ("approve", "approve_with_conditions", "request_documents", "hold", "require_inspection", "refuse")


def names(app, session) -> dict:
    return {code: a.name for code, a in app.directory.current(session).agencies.items()}


def countdown(due_at: str, now: datetime) -> tuple[str, bool]:
    """'3 h 20 min' left, or overdue by as much."""
    left = datetime.fromisoformat(due_at) - now
    minutes = int(abs(left.total_seconds()) // 60)
    return (f"{minutes // 60} h {minutes % 60:02d} min", left.total_seconds() < 0)


@router.get("/tasks")
def tasks(request: Request, page: int = Query(1, ge=1, le=10_000), signed=Depends(signed_in)):
    """The agency's open tasks: overdue first (they are the earliest deadlines), then by deadline."""
    app, subject = request.app.state.concord, signed.subject
    if subject.agency is None or not subject.has("officer", "supervisor"):
        raise Forbidden(tr(request, "Task queues are for agency officers."))
    now = app.clock.now()
    with app.sessions() as s:
        queue = task_queue(s, subject, now, status="open", limit=PAGE, offset=(page - 1) * PAGE, access=app.access)
    for item in queue["items"]:
        item["left"], item["late"] = countdown(item["due_at"], now)
    return render(request, "tasks.html", signed, queue=queue, page=page, pages=max(1, -(-queue["total"] // PAGE)))


@router.get("/tasks/{task_id}")
def task(task_id: str, request: Request, signed=Depends(signed_in)):
    app = request.app.state.concord
    declaration, step = _task(request, signed, task_id)
    now = app.clock.now()
    left, late = countdown(step["due_at"], now)
    return render(request, "task.html", signed, d=declaration, step=step, left=left, late=late,
                  decisions=DECISIONS, decision_id=secrets.token_hex(8), values={}, errors={})


def _task(request: Request, signed, task_id: str):
    """The task's declaration in the agency's view (get_declaration, through authorize) and the task's step."""
    app, subject = request.app.state.concord, signed.subject
    if subject.agency is None or len(task_id) > 32:
        raise NotFound(f"task {task_id[:32]} not found")
    from concord.clearance.models import AgencyTask

    with app.sessions() as s:
        row = s.get(AgencyTask, task_id)
        declaration_id = row.declaration_id if row is not None and row.agency == subject.agency else None
    if declaration_id is None:  # another agency's task answers like a missing one
        raise NotFound(f"task {task_id} not found")
    d = audited_read(request, subject, None, lambda s, reads: queries.get_declaration(
        s, subject, declaration_id, names(app, s), None, reads, access=app.access))
    step = next((st for st in d.get("steps", []) if st.get("task_id") == task_id), None)
    if step is None:  # a task of an older version: the declaration has moved on
        step = {"task_id": task_id, "agency": subject.agency, "status": "superseded", "due_at": row.due_at.isoformat(),
                "reasons": row.reasons, "task_type": row.task_type}
    return d, step


@router.post("/tasks/{task_id}/decision")
async def decide(task_id: str, request: Request, signed=Depends(signed_in)):
    fields = await form(request, signed)
    app = request.app.state.concord
    body = {"decision": fields.get("decision", ""), "reason": fields.get("reason", "").strip(),
            "conditions": [c.strip() for c in fields.get("conditions", "").splitlines() if c.strip()],
            "documents": [c.strip().upper() for c in fields.get("documents", "").replace(",", " ").split()],
            "decision_id": fields.get("decision_id") or None}
    errors = {}
    try:
        decision = DecisionIn.model_validate(body)  # the API's own body: the same bounds and messages
        command = DecideTask(task_id=task_id, decision=decision.decision, reason=decision.reason,
                             conditions=decision.conditions, documents=decision.documents,
                             decision_id=decision.decision_id)
        await run_in_threadpool(app.bus.handle, command, subject=signed.subject)  # as the API's sync route
    except ValidationError as e:
        errors = problems_of_validation(e)
    except ConcordError as e:
        if e.status == 404:
            raise
        errors = {p.pointer: p.message for p in getattr(e, "problems", [])} or {"": e.message}
    if errors:
        d, step = _task(request, signed, task_id)
        left, late = countdown(step["due_at"], app.clock.now())
        return render(request, "task.html", signed, status=422, d=d, step=step, left=left, late=late,
                      decisions=DECISIONS, decision_id=secrets.token_hex(8), values=fields, errors=errors)
    return redirect(f"/console/tasks?done={task_id}")


@router.post("/declarations/{declaration_id}/arrival")
async def arrival(declaration_id: str, request: Request, signed=Depends(signed_in)):
    """Customs records that the goods are presented (the API's RecordArrival)."""
    fields = await form(request, signed)
    app = request.app.state.concord
    command = RecordArrival(declaration_id=declaration_id, location=fields.get("location", "")[:70] or None)
    await run_in_threadpool(app.bus.handle, command, subject=signed.subject)
    return redirect(f"/console/declarations/{declaration_id}")
