"""Agency task queues and decisions; the trader's answer to a request for documents."""

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from concord.access.deps import audited_read, concord_app, current_subject, purpose
from concord.clearance.messages import DecideTask, SupplyDocuments
from concord.clearance.queries import inspection_results, task_queue
from concord.bounds import MAX_OFFSET, MAX_PAGE, BoundedRoute
from concord.clearance.schemas import DecisionIn, SupplyIn

router = APIRouter(prefix="/api/v1", tags=["clearance"], route_class=BoundedRoute)
TASK_STATUSES = Literal["open", "all", "approved", "approved_with_conditions", "documents_requested", "held",
                        "inspection_required", "refused", "superseded", "withdrawn"]


@router.get("/tasks")
def tasks(status: TASK_STATUSES | None = Query(None, description="open (default), all, or one status"),
          overdue: bool | None = None, limit: int = Query(50, ge=1, le=MAX_PAGE),
          offset: int = Query(0, ge=0, le=MAX_OFFSET),
          subject=Depends(current_subject), app=Depends(concord_app)):
    """The caller's agency's queue, earliest deadline first."""
    with app.sessions() as s:
        return task_queue(s, subject, app.clock.now(), status=status, overdue=overdue, limit=limit, offset=offset,
                          access=app.access)


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
