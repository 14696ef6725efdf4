"""Agency tasks: created from engagements, decided by officers, settled into one release."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import false, select

from concord.clearance.messages import (AssignTask, CheckDeadlines, DecideTask, DocumentsRequested, DocumentsSupplied,
                                        GoodsInspected, SupplyDocuments, TaskCreated, TaskDecided, TaskOverdue,
                                        TaskReassigned)
from concord.clearance.models import CLEARED, TERMINAL, AgencyTask, SuppliedDocument, TaskDecision
from concord.declarations.messages import DeclarationRefused, GoodsCleared, GoodsReleased
from concord.declarations.models import TERMINAL as DECLARATION_TERMINAL
from concord.declarations.models import Declaration
from concord.errors import Conflict, Forbidden, InvalidDocument, NotFound, Problem
from concord.ids import new_id

# What customs itself does in each lane: green and blue release without control (blue is audited later).
CUSTOMS_LANE_TASKS = {"yellow": ("document_check", 4), "red": ("inspection", 24)}


def open_tasks(uow, declaration, engagements, lane: str, lead: str) -> list[SimpleNamespace]:
    """Stage the customs task for the lane and one task per engaged agency."""
    now = uow.clock.now()
    task_type, sla = CUSTOMS_LANE_TASKS.get(lane, ("document_check", 0))
    customs_reason = {"rule": f"LANE-{lane.upper()}", "description": f"customs risk lane {lane}",
                      "legal_basis": "customs control on the basis of risk analysis", "items": []}
    wanted = [(lead, task_type, sla, [customs_reason], ["/"])]
    wanted += [(e.agency, e.task_type, e.sla_hours, e.reasons, e.fields) for e in engagements]
    tasks, events = [], []
    for agency, kind, hours, reasons, fields in wanted:
        t = SimpleNamespace(id=new_id("TSK"), declaration_id=declaration.id, declaration_version=declaration.version,
                            agency=agency, task_type=kind, status="open", created_at=now,
                            due_at=now + timedelta(hours=hours), decided_at=None, overdue_raised=False,
                            reasons=reasons, fields=fields, last_decision=None)
        tasks.append(t)
        uow.stage(AgencyTask, t.__dict__)  # the same dict: later changes before commit are written
        events.append(uow.record(TaskCreated(declaration_id=declaration.id, agency=agency, task_id=t.id,
                                             task_type=kind, due_at=t.due_at.isoformat(),
                                             rules=[r["rule"] for r in reasons])))
    if lane not in CUSTOMS_LANE_TASKS:  # green and blue: customs releases without control
        customs = tasks[0]
        customs.status, customs.decided_at = "approved", now
        customs.last_decision = {"decision": "approve", "reason": f"lane {lane}: released without control",
                                 "officer": "system", "at": now.isoformat()}
    # Every task of this version is created here, so this commit knows how many agencies must examine the
    # goods; with fewer than two there is no joint inspection to propose, and the handler that would look it up
    # again after the commit (inspections.propose_when_joint: a unit of work and two queries) is skipped.
    # Not a payload field: it never leaves the process.
    # One event carries the count: the handler invites every examining agency at once, so the others' units of
    # work (a locked read and two queries each, three round trips on PostgreSQL) would find nothing to add.
    examining = [t.status == "open" and t.task_type == "inspection" for t in tasks]
    examiners = len({t.agency for t, e in zip(tasks, examining) if e})
    first = examining.index(True) if examiners else -1
    for n, event in enumerate(events):
        event.examiners = examiners if n == first else min(examiners, 1)
    return tasks


def next_status(arrived: bool, tasks) -> tuple[str, object | None]:
    """The declaration status its current tasks imply, and the refusing task if any."""
    refused = next((t for t in tasks if t.status == "refused"), None)
    if refused is not None:
        return "refused", refused
    if all(t.status in CLEARED for t in tasks):
        return ("released" if arrived else "cleared"), None
    if any(t.status == "documents_requested" for t in tasks):
        return "documents_requested", None
    return "under_control", None


def settle(uow, declaration, tasks) -> None:
    """Move the declaration to the status its current tasks imply; release only when all cleared and arrived."""
    if declaration.status in DECLARATION_TERMINAL:
        return
    now = uow.clock.now()
    current = [t for t in tasks if t.declaration_version == declaration.version]
    status, refused = next_status(declaration.arrived_at is not None, current)
    if status == "refused":
        reason = (refused.last_decision or {}).get("reason", "")
        declaration.outcome_reason = f"{refused.agency}: {reason}"
        for t in current:
            if t.status not in TERMINAL:
                t.status = "withdrawn"
        uow.record(DeclarationRefused(declaration_id=declaration.id, reason=reason, by_agency=refused.agency))
    elif status == "released":
        declaration.released_at = now
        uow.record(GoodsReleased(declaration_id=declaration.id, version=declaration.version))
    elif status == "cleared" and declaration.status != "cleared":
        uow.record(GoodsCleared(declaration_id=declaration.id, version=declaration.version, awaiting=["goods arrival"]))
    declaration.status, declaration.updated_at = status, now


def tasks_of(session, declaration_id: str) -> list[AgencyTask]:
    return list(session.scalars(select(AgencyTask).where(AgencyTask.declaration_id == declaration_id)))


# What settle and a decision read of a task and of a declaration (uow.fetch: plain rows, no ORM objects)
TASK_COLUMNS = ("declaration_id", "declaration_version", "agency", "task_type", "status", "decided_at", "last_decision")
SETTLED_COLUMNS = ("status", "version", "arrived_at", "released_at", "updated_at", "outcome_reason", "office_of_entry")


def tasks_to_settle(uow, declaration_id: str, *, holding=None) -> list:
    """The declaration's tasks as rows settle can change (`holding`, a task row already fetched, stands for its own)."""
    tasks = uow.fetch(AgencyTask, TASK_COLUMNS, declaration_id=declaration_id)
    return [holding if holding is not None and t.id == holding.id else t for t in tasks]


def decide_task(cmd: DecideTask, uow) -> dict:
    """Record an officer's decision on their agency's task, then settle the declaration."""
    subject = uow.subject
    with uow:
        s = uow.session
        # the lock makes a concurrent retry a replay
        task = next(iter(uow.fetch(AgencyTask, TASK_COLUMNS, for_update=True, id=cmd.task_id)), None)
        if task is None or subject.agency != task.agency:
            raise NotFound(f"task {cmd.task_id} not found in your agency's queue")
        if not subject.has("officer", "supervisor"):
            raise Forbidden("only an officer or supervisor of the agency can decide its tasks")
        if cmd.decision_id and (done := s.scalar(select(TaskDecision).where(
                TaskDecision.task_id == task.id, TaskDecision.client_id == cmd.decision_id))) is not None:
            if (done.kind, done.reason) != (cmd.decision, cmd.reason):
                raise Conflict(f"decision_id {cmd.decision_id} was used for another decision on task {task.id}; "
                               "give a new decision_id for a new decision")
            return {"task_id": task.id, "decision_id": cmd.decision_id, "status": task.status,
                    "declaration_status": s.get(Declaration, task.declaration_id).status, "replayed": True}
        if not cmd.reason.strip():
            raise InvalidDocument("a decision needs a reason", [Problem("/reason", "say why, e.g. the certificate checked")])
        if cmd.decision == "request_documents" and not cmd.documents:
            raise InvalidDocument("say which documents", [Problem("/documents", "list the document types, e.g. N851")])
        d = uow.fetch(Declaration, SETTLED_COLUMNS, for_update=True, id=task.declaration_id)[0]
        tasks = tasks_to_settle(uow, d.id, holding=task)
        now = uow.clock.now()
        status = task.decide(cmd.decision, cmd.reason, now)
        # A new row nothing reads back in this unit of work: staged for the commit's batched insert, not the ORM's
        decision = uow.stage(TaskDecision, {
            "id": new_id("DEC"), "client_id": cmd.decision_id, "task_id": task.id, "kind": cmd.decision,
            "reason": cmd.reason, "conditions": cmd.conditions, "documents": cmd.documents,
            "inspection": cmd.inspection, "officer": subject.user_id, "decided_at": now})
        task.last_decision = {"decision": cmd.decision, "reason": cmd.reason, "conditions": cmd.conditions,
                              "documents": cmd.documents, "officer": subject.user_id, "at": now.isoformat()}
        ref = dict(declaration_id=d.id, agency=task.agency, task_id=task.id)
        if cmd.inspection:
            uow.record(GoodsInspected(**ref, result=str(cmd.inspection.get("result", "done"))))
        if cmd.decision == "request_documents":
            uow.record(DocumentsRequested(**ref, documents=cmd.documents))
        uow.record(TaskDecided(**ref, decision=cmd.decision, status=status, reason=cmd.reason))
        settle(uow, d, tasks)
        uow.audit("declaration:decision:recorded", f"task/{task.id}", detail={"decision": cmd.decision})
        uow.commit()
        return {"task_id": task.id, "decision_id": cmd.decision_id or decision["id"], "status": status,
                "declaration_status": d.status, "replayed": False}


def assign_task(cmd: AssignTask, uow, *, access) -> dict:
    """A supervisor gives an open task of the agency to one of its officers (or moves it from one to another)."""
    from concord.access.models import User
    from concord.access.policy import Ref, authorize

    subject = uow.subject
    with uow:
        s = uow.session
        task = s.get(AgencyTask, cmd.task_id, with_for_update=True)
        # Another agency's task, like a missing one, is not in the caller's queue: 404 (the API's convention)
        if task is None or not authorize(subject, "assign", Ref("agency_task", task.id, task.agency),
                                         session=s, access=access).allowed:
            raise NotFound(f"task {cmd.task_id} not found in your agency's queue")
        if not subject.has("supervisor"):
            raise Forbidden("only a supervisor of the agency can assign its tasks")
        if not task.open:
            raise Conflict(f"task {task.id} is already {task.status}; only an open task can be reassigned")
        officer = s.get(User, cmd.officer)
        # One message whether the user is unknown, of another agency or not an officer: nothing said about others
        if officer is None or officer.agency != task.agency or not officer.active or not set(officer.roles) & {
                "officer", "supervisor"}:
            raise InvalidDocument("no such officer in your agency", [Problem(
                "/officer", f"give the user id of an active officer or supervisor of {task.agency}")])
        previous = task.assignee
        if previous == officer.id:  # a retried request: already done, nothing recorded twice
            return {"task_id": task.id, "assignee": officer.id, "previous": previous, "replayed": True}
        task.assignee = officer.id
        uow.record(TaskReassigned(declaration_id=task.declaration_id, agency=task.agency, task_id=task.id,
                                  assignee=officer.id, previous=previous))
        uow.audit("task:assignment:changed", f"task/{task.id}", owner=task.agency,
                  detail={"assignee": officer.id, "previous": previous})
        uow.commit()
        return {"task_id": task.id, "assignee": officer.id, "previous": previous, "replayed": False}


def supply_documents(cmd: SupplyDocuments, uow, *, access) -> dict:
    """The trader answers an agency's request; the task returns to the agency's queue."""
    from concord.access.policy import authorize

    with uow:
        s = uow.session
        d = s.get(Declaration, cmd.declaration_id, with_for_update=True)
        if d is None or not authorize(uow.subject, "supply_documents", d, session=s, access=access).allowed:
            raise NotFound(f"declaration {cmd.declaration_id} not found")
        task = s.get(AgencyTask, cmd.task_id)
        if task is None or task.declaration_id != d.id:
            raise NotFound(f"task {cmd.task_id} not found on declaration {d.id}")
        if task.status != "documents_requested":
            raise Conflict(f"task {task.id} is {task.status}; it is not waiting for documents")
        now = uow.clock.now()
        for doc in cmd.documents:
            s.add(SuppliedDocument(id=new_id("SDC"), declaration_id=d.id, task_id=task.id, type=doc["type"],
                                   reference=doc["reference"], item=doc.get("item"), supplied_at=now))
        task.status = "open"
        uow.record(DocumentsSupplied(declaration_id=d.id, agency=task.agency, task_id=task.id,
                                     documents=[x["type"] for x in cmd.documents]))
        settle(uow, d, tasks_of(s, d.id))
        uow.audit("declaration:documents:supplied", f"task/{task.id}")
        uow.commit()
        return {"task_id": task.id, "status": task.status, "declaration_status": d.status}


LATE_STATUSES = ("open", "held", "inspection_required")
LATE_BATCH = 500  # tasks raised per transaction: the write lock is never held for long, however many fell due


def late_tasks(now, *columns):
    """Open tasks whose SLA has passed and whose lateness was not raised yet, oldest due first (ix_agency_tasks_due
    serves it: without it the periodic check read every task ever created, half a second at 400,000 lodgings)."""
    return select(*(columns or (AgencyTask,))).where(
        AgencyTask.overdue_raised == false(),  # not "IS false", which PostgreSQL cannot look up in an index
        AgencyTask.status.in_(LATE_STATUSES), AgencyTask.due_at < now).order_by(AgencyTask.due_at, AgencyTask.id)


def check_deadlines(cmd: CheckDeadlines, uow) -> int:
    """Raise TaskOverdue once for each open task whose SLA has passed.

    The late tasks are looked up without the write lock (lodging's group commits wait on it), then raised in
    batches of LATE_BATCH, each re-checked under the lock (a task decided meanwhile is not raised)."""
    now = uow.clock.now()
    raised = 0
    while True:
        with uow.read() as s:
            ids = s.scalars(late_tasks(now, AgencyTask.id).limit(LATE_BATCH)).all()
        if not ids:
            return raised
        with uow:
            late = uow.session.scalars(late_tasks(now).where(AgencyTask.id.in_(ids))).all()
            for t in late:
                t.overdue_raised = True
                uow.record(TaskOverdue(declaration_id=t.declaration_id, agency=t.agency, task_id=t.id,
                                       due_at=t.due_at.isoformat()))
            if late:
                uow.audit("task:overdue:raised", "tasks", detail={"count": len(late)})
            uow.commit()
        raised += len(late)
        if len(ids) < LATE_BATCH:
            return raised
