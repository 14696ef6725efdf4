"""Supervisor screen: the agency's overdue tasks (SLA breaches) and decisions per officer over the last week."""

from datetime import timedelta

from fastapi import APIRouter, Depends, Request

from concord.clearance.queries import decisions_per_officer, task_queue
from concord.console.officer import countdown
from concord.console.web import PAGE, render, signed_in, tr
from concord.errors import Forbidden

router = APIRouter(prefix="/console", include_in_schema=False)
WEEK = timedelta(days=7)


@router.get("/supervisor")
def supervisor(request: Request, signed=Depends(signed_in)):
    app, subject = request.app.state.concord, signed.subject
    if subject.agency is None or not subject.has("supervisor"):
        raise Forbidden(tr(request, "This screen is for an agency's supervisors."))
    now = app.clock.now()
    with app.sessions() as s:
        overdue = task_queue(s, subject, now, status="open", overdue=True, limit=PAGE, access=app.access)
        open_total = task_queue(s, subject, now, status="open", limit=1, access=app.access)["total"]
        officers = decisions_per_officer(s, subject, now - WEEK, access=app.access)
    for item in overdue["items"]:
        item["left"], item["late"] = countdown(item["due_at"], now)
    return render(request, "supervisor.html", signed, overdue=overdue, open_total=open_total, officers=officers)
