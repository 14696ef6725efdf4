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


def inspection_results(session, subject, *, purpose: str | None, limit: int = 50, offset: int = 0,
                       reads: list | None = None) -> dict:
    """Inspection results: the caller's agency's own, and other agencies' where an agreement shares them."""
    from sqlalchemy import and_, or_

    from concord.access.policy import Ref, _condition, authorize
    from concord.access.redaction import redact
    from concord.clearance.models import TaskDecision
    from concord.declarations.models import Declaration as D
    from concord.declarations.queries import note_read

    if subject.agency is None:
        raise Forbidden("inspection results are shared between agencies")
    scopes = session.info["book"].matching(subject.agency, "inspection_result", purpose, session.info["clock"].now())
    visible = or_(AgencyTask.agency == subject.agency,
                  *[and_(AgencyTask.agency == s.provider, _condition(s, D)) for s in scopes])
    q = (select(TaskDecision, AgencyTask, D).join(AgencyTask, AgencyTask.id == TaskDecision.task_id)
         .join(D, D.id == AgencyTask.declaration_id).where(_has_inspection(TaskDecision), visible))
    total = session.scalar(select(func.count()).select_from(q.subquery()))
    items = []
    for dec, task, d in session.execute(q.order_by(TaskDecision.decided_at.desc()).limit(limit).offset(offset)):
        record = {"id": dec.id, "declaration_id": d.id, "agency": task.agency, "task_type": task.task_type,
                  "result": dec.inspection.get("result"), "findings": dec.inspection.get("findings"),
                  "decision": dec.kind, "decided_at": dec.decided_at.isoformat(),
                  "hs_chapters": d.hs_chapters.strip(",").split(","), "origins": d.origins.strip(",").split(",")}
        ref = Ref("inspection_result", dec.id, task.agency, (d.hs_chapters, d.origins, d.office_of_entry))
        decision = authorize(subject, "read", ref, purpose, session=session)
        note_read(reads, f"inspection_result/{dec.id}", decision)
        items.append(redact(record, decision.view) | {"id": dec.id, "agency": task.agency})
    return {"total": total, "limit": limit, "offset": offset, "items": items}


def _has_inspection(TaskDecision):
    """Decisions that carry an inspection: a decision without one is stored as JSON null, not SQL NULL."""
    from sqlalchemy import String, cast

    return cast(TaskDecision.inspection, String) != "null"  # SQL NULL fails this too
