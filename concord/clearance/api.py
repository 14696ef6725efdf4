"""Agency task queues and decisions; the trader's answer to a request for documents."""

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from concord.access.deps import audited_read, concord_app, current_subject, purpose
from concord.clearance.messages import AssignTask, DecideTask, SupplyDocuments
from concord.clearance.queries import agency_officers, inspection_results, task_queue, workload
from concord.bounds import MAX_OFFSET, MAX_PAGE, BoundedRoute
from concord.clearance.schemas import AssignmentIn, DecisionIn, SupplyIn

router = APIRouter(prefix="/api/v1", tags=["clearance"], route_class=BoundedRoute)
TASK_STATUSES = Literal["open", "all", "approved", "approved_with_conditions", "documents_requested", "held",
                        "inspection_required", "refused", "superseded", "withdrawn"]


@router.get("/tasks")
def tasks(status: TASK_STATUSES | None = Query(None, description="open (default), all, or one status"),
          overdue: bool | None = None,
          assignee: str | None = Query(None, max_length=64, description="an officer's user id, or - for unassigned"),
          limit: int = Query(50, ge=1, le=MAX_PAGE), offset: int = Query(0, ge=0, le=MAX_OFFSET),
          subject=Depends(current_subject), app=Depends(concord_app)):
    """The caller's agency's queue, earliest deadline first."""
    with app.sessions() as s:
        return task_queue(s, subject, app.clock.now(), status=status, overdue=overdue, assignee=assignee,
                          limit=limit, offset=offset, access=app.access)


@router.get("/tasks/workload")
def task_workload(subject=Depends(current_subject), app=Depends(concord_app)):
    """A supervisor's agency: open and overdue tasks per assigned officer, and the officers tasks may be given to."""
    with app.sessions() as s:
        return {"workload": workload(s, subject, app.clock.now(), access=app.access),
                "officers": agency_officers(s, subject, access=app.access)}


@router.post("/tasks/{task_id}/assignment")
def assign(body: AssignmentIn, task_id: str = Path(max_length=32), subject=Depends(current_subject),
           app=Depends(concord_app)):
    """A supervisor gives an open task of the agency to one of its officers (audited; the event is the agency's)."""
    return app.bus.handle(AssignTask(task_id=task_id, officer=body.officer), subject=subject)


@router.post("/tasks/{task_id}/decisions")
def decide(task_id: str, body: DecisionIn, subject=Depends(current_subject), app=Depends(concord_app)):
    return app.bus.handle(DecideTask(task_id=task_id, decision=body.decision, reason=body.reason,
                                     conditions=body.conditions, documents=body.documents,
                                     inspection=body.inspection.model_dump() if body.inspection else None,
                                     decision_id=body.decision_id), subject=subject)


@router.post("/declarations/{declaration_id}/documents")
def supply(declaration_id: str, body: SupplyIn, subject=Depends(current_subject), app=Depends(concord_app)):
    """The trader supplies requested documents; the task returns to the agency."""
    return app.bus.handle(SupplyDocuments(declaration_id=declaration_id, task_id=body.task_id,
                                          documents=[d.model_dump() for d in body.documents]), subject=subject)


@router.get("/inspection-results")
def list_inspection_results(request: Request, limit: int = Query(50, ge=1, le=MAX_PAGE),
                            offset: int = Query(0, ge=0, le=MAX_OFFSET),
                            why: str | None = Depends(purpose), subject=Depends(current_subject),
                            app=Depends(concord_app)):
    """Inspection results the caller's agency may see: its own, and those an agreement shares for the purpose."""
    return audited_read(request, subject, why, lambda s, reads: inspection_results(
        s, subject, purpose=why, limit=limit, offset=offset, reads=reads, access=app.access))
