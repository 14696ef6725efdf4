"""An agency's task queue."""

from sqlalchemy import func, select

from concord.access.exits import Lens, assessment, cut, envelope, outcome, step
from concord.access.policy import Decision
from concord.clearance.models import TERMINAL, AgencyTask
from concord.errors import Forbidden, InvalidDocument, Problem

UNASSIGNED = "-"  # the assignee filter's value for tasks no officer has been given


def task_queue(session, subject, now, *, status: str | None = None, overdue: bool | None = None,
               assignee: str | None = None, limit: int = 50, offset: int = 0, access) -> dict:
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
    if assignee is not None:  # "-": the tasks no officer has been given yet
        where.append(AgencyTask.assignee.is_(None) if assignee == UNASSIGNED else AgencyTask.assignee == assignee)
    total = session.scalar(select(func.count()).select_from(AgencyTask).where(*where))
    rows = session.scalars(select(AgencyTask).where(*where).order_by(AgencyTask.due_at, AgencyTask.id)
                           .limit(limit).offset(offset)).all()
    # The queue holds the agency's own tasks only; it goes through the same cut as every other exit all the same.
    lens = Lens(subject, Decision(True, (), "own-agency"), access.lead_of(session), session, access=access)
    return {"total": total, "limit": limit, "offset": offset, "items": cut([step({
        "task_id": envelope(t.id), "declaration_id": envelope(t.declaration_id),
        "declaration_version": envelope(t.declaration_version), "task_type": envelope(t.task_type),
        "status": envelope(t.status), "created_at": envelope(t.created_at.isoformat()),
        "due_at": envelope(t.due_at.isoformat()), "overdue": envelope(t.open and t.due_at < now),
        "assignee": envelope(t.assignee),
        "reasons": assessment(t.reasons, t.agency), "last_decision": outcome(t.last_decision, t.agency)}, t.agency)
        for t in rows], lens)}


def inspection_results(session, subject, *, purpose: str | None, limit: int = 50, offset: int = 0,
                       reads: list | None = None, access) -> dict:
    """Inspection results: the caller's agency's own, and other agencies' where an agreement shares them."""
    from sqlalchemy import and_, or_

    from concord.access.policy import Ref, _condition
    from concord.clearance.models import TaskDecision
    from concord.declarations.models import Declaration as D

    if subject.agency is None:
        raise Forbidden("inspection results are shared between agencies")
    scopes = access.book.matching(subject.agency, "inspection_result", purpose, access.now())
    visible = or_(AgencyTask.agency == subject.agency,
                  *[and_(AgencyTask.agency == s.provider, _condition(s, D)) for s in scopes])
    q = (select(TaskDecision, AgencyTask, D).join(AgencyTask, AgencyTask.id == TaskDecision.task_id)
         .join(D, D.id == AgencyTask.declaration_id).where(_has_inspection(TaskDecision), visible))
    total = session.scalar(select(func.count()).select_from(q.subquery()))
    # Each field is the owning agency's outcome: its own agency sees it all, others what the owner's scope lists.
    lens = Lens(subject, Decision(True, (), "inspection-results"), None, session, purpose, reads, access)
    models = []
    for dec, task, d in session.execute(q.order_by(TaskDecision.decided_at.desc()).limit(limit).offset(offset)):
        inspection = dec.inspection or {}
        record = {"declaration_id": d.id, "task_type": task.task_type, "result": inspection.get("result"),
                  "findings": inspection.get("findings"), "decision": dec.kind,
                  "decided_at": dec.decided_at.isoformat(), "hs_chapters": d.hs_chapters.strip(",").split(","),
                  "origins": d.origins.strip(",").split(",")}
        ref = Ref("inspection_result", dec.id, task.agency, (d.hs_chapters, d.origins, d.office_of_entry))
        models.append({"id": envelope(dec.id), "agency": envelope(task.agency)} | {
            k: outcome(v, task.agency, ref, f"/{k}") for k, v in record.items()})
    return {"total": total, "limit": limit, "offset": offset, "items": cut(models, lens)}


def _has_inspection(TaskDecision):
    """Decisions that carry an inspection: a decision without one is stored as JSON null, not SQL NULL."""
    from sqlalchemy import String, cast

    return cast(TaskDecision.inspection, String) != "null"  # SQL NULL fails this too


def decisions_per_officer(session, subject, since, *, access) -> list[dict]:
    """A supervisor's view of the agency's own work: decisions per officer and kind since `since`, most first."""
    from concord.clearance.models import TaskDecision

    if subject.agency is None or not subject.has("supervisor"):
        raise Forbidden("workload figures are for an agency's supervisors")
    rows = session.execute(select(TaskDecision.officer, TaskDecision.kind, func.count())
                           .join(AgencyTask, AgencyTask.id == TaskDecision.task_id)
                           .where(AgencyTask.agency == subject.agency, TaskDecision.decided_at >= since)
                           .group_by(TaskDecision.officer, TaskDecision.kind)).all()
    per: dict = {}
    for officer, kind, n in rows:
        per.setdefault(officer, {})[kind] = n
    # Counts of the agency's own decisions: the same cut as the queue, with the agency as owner of every field.
    lens = Lens(subject, Decision(True, (), "own-agency"), access.lead_of(session), session, access=access)
    return cut([step({"officer": envelope(o), "decisions": envelope(k), "total": envelope(sum(k.values()))},
                     subject.agency) for o, k in sorted(per.items(), key=lambda x: -sum(x[1].values()))], lens)


def _supervised(subject, what: str) -> None:
    if subject.agency is None or not subject.has("supervisor"):
        raise Forbidden(f"{what} are for an agency's supervisors")


def workload(session, subject, now, *, access) -> list[dict]:
    """A supervisor's view of the agency's open tasks per assigned officer (None: not assigned), with the overdue."""
    from sqlalchemy import case

    _supervised(subject, "workload figures")
    rows = session.execute(select(AgencyTask.assignee, func.count(), func.sum(case((AgencyTask.due_at < now, 1),
                                                                                  else_=0)))
                           .where(AgencyTask.agency == subject.agency, AgencyTask.status.not_in(TERMINAL))
                           .group_by(AgencyTask.assignee)).all()
    lens = Lens(subject, Decision(True, (), "own-agency"), access.lead_of(session), session, access=access)
    return cut([step({"officer": envelope(o), "open": envelope(n), "overdue": envelope(int(late or 0))},
                     subject.agency) for o, n, late in sorted(rows, key=lambda r: (r[0] is None, -r[1], r[0] or ""))],
               lens)


def agency_officers(session, subject, *, access) -> list[dict]:
    """The active officers and supervisors of the supervisor's own agency: whom a task may be given to."""
    from concord.access.models import User

    _supervised(subject, "the agency's officers")
    users = session.scalars(select(User).where(User.agency == subject.agency, User.active.is_(True))
                            .order_by(User.id)).all()
    lens = Lens(subject, Decision(True, (), "own-agency"), access.lead_of(session), session, access=access)
    return cut([step({"id": envelope(u.id), "name": envelope(u.name)}, subject.agency) for u in users
                if set(u.roles) & {"officer", "supervisor"}], lens)
