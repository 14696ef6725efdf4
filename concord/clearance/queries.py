"""An agency's task queue."""

from sqlalchemy import func, select

from concord.clearance.models import TERMINAL, AgencyTask
from concord.errors import Forbidden, InvalidDocument, Problem


def task_queue(session, subject, now, *, status: str | None = None, overdue: bool | None = None,
               limit: int = 50, offset: int = 0) -> dict:
    """The caller's agency's tasks, oldest deadline first, with overdue ones flagged."""
    if subject.agency is None:
        raise Forbidden("task queues belong to agencies; traders follow their declarations")
    if not 1 <= limit <= 500:
        raise InvalidDocument("bad page size", [Problem("/limit", "limit must be between 1 and 500")])
    where = [AgencyTask.agency == subject.agency]
    if status == "open" or status is None:
        where.append(AgencyTask.status.not_in(TERMINAL))
    elif status != "all":
        where.append(AgencyTask.status == status)
    if overdue is not None:
        where.append(AgencyTask.due_at < now if overdue else AgencyTask.due_at >= now)
    total = session.scalar(select(func.count()).select_from(AgencyTask).where(*where))
    rows = session.scalars(select(AgencyTask).where(*where).order_by(AgencyTask.due_at, AgencyTask.id)
                           .limit(limit).offset(offset)).all()
    return {"total": total, "limit": limit, "offset": offset, "items": [
        {"task_id": t.id, "declaration_id": t.declaration_id, "declaration_version": t.declaration_version,
         "task_type": t.task_type, "status": t.status, "created_at": t.created_at.isoformat(),
         "due_at": t.due_at.isoformat(), "overdue": t.open and t.due_at < now,
         "reasons": t.reasons, "last_decision": t.last_decision} for t in rows]}
