"""Response teams and joint operations: a closed group of agencies for a limited time, with tasks and a thread.

An overdue task is escalated twice: first to the operation's supervisor, then (ESCALATE_AGAIN later, still
open) to the lead agency's coordinator. `EscalateOverdueTasks` does it; the server runs it periodically."""

from __future__ import annotations

from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy import select

from concord.access.models import User
from concord.clock import as_utc
from concord.errors import Conflict, Forbidden, InvalidDocument, NotFound, Problem, problems_from
from concord.ids import new_id
from concord.incidents.handlers import incident_ref, require_officer
from concord.incidents.messages import (AddOperationMember, AssignOperationTask, CompleteOperationTask,
                                        EscalateOverdueTasks, OpenOperation, OperationMemberAdded,
                                        OperationMessagePosted, OperationOpened, OperationTaskAssigned,
                                        OperationTaskCompleted, OperationTaskEscalated, PostOperationMessage)
from concord.incidents.models import Incident, Operation, OperationMember, OperationMessage, OperationTask
from concord.incidents.schemas import OperationIn, TaskDoneIn, TaskIn

ESCALATE_AGAIN = timedelta(hours=2)  # after the supervisor was told, the lead agency is
MANAGERS = ("coordinator", "supervisor")


def _ref(op: Operation) -> dict:
    return {"agency": op.lead_agency, "operation_id": op.id, "lead_agency": op.lead_agency}


def _member(uow, op: Operation, user_id: str, agency: str, role: str) -> None:
    uow.session.add(OperationMember(operation_id=op.id, user_id=user_id, agency=agency, role=role,
                                    added_at=uow.clock.now()))
    uow.record(OperationMemberAdded(**_ref(op), user_id=user_id, role=role))


def _agency_user(s, user_id: str, where: str) -> User:
    u = s.get(User, user_id)
    if u is None or u.agency is None:
        raise InvalidDocument("unknown member", [Problem(where, f"no agency user '{user_id}'")])
    return u


def open_operation(cmd: OpenOperation, uow, *, access) -> dict:
    """An agency opens an operation (for one of its incidents, or planned) and names its members and their roles."""
    from concord.access.policy import authorize

    subject = uow.subject
    require_officer(subject, "open operations")
    try:
        doc = OperationIn.model_validate(cmd.document)
    except ValidationError as e:
        raise InvalidDocument("the operation has faults; nothing was stored", problems_from(e)) from None
    with uow:
        s = uow.session
        if doc.incident_id is not None:
            i = s.get(Incident, doc.incident_id)
            if i is None or not authorize(subject, "read", incident_ref(i), None, session=s, access=access).allowed:
                raise NotFound(f"incident {doc.incident_id} not found")
        users = {}
        for n, m in enumerate(doc.members):
            users[m.user_id] = (_agency_user(s, m.user_id, f"/members/{n}/user_id"), m.role)
        op = Operation(id=new_id("OPS"), name=doc.name, lead_agency=subject.agency, incident_id=doc.incident_id,
                       starts_at=doc.starts_at, ends_at=doc.ends_at, template=[t.model_dump() for t in doc.template],
                       status="active", created_by=subject.user_id, created_at=uow.clock.now())
        s.add(op)
        s.flush()
        uow.record(OperationOpened(**_ref(op)))
        _member(uow, op, subject.user_id, subject.agency, "coordinator")
        for user_id, (u, role) in users.items():
            if user_id != subject.user_id:
                _member(uow, op, user_id, u.agency, role)
        uow.audit("operation:opened", f"operation/{op.id}", owner=op.lead_agency,
                  detail={"members": sorted(users), "incident": doc.incident_id})
        uow.commit()
        return {"id": op.id, "status": op.status}


def _operation(uow, operation_id: str, roles: tuple | None, what: str, *, live: bool = True):
    """The operation and the caller's membership; non-members are told it does not exist."""
    s = uow.session
    op = s.get(Operation, operation_id, with_for_update=True)
    me = s.get(OperationMember, (operation_id, uow.subject.user_id)) if op is not None else None
    if op is None or me is None:
        from concord.access.records import OperationAt, operation

        if op is not None and operation(uow.subject, "read", OperationAt(op.id, op.lead_agency), s).allowed:
            raise Forbidden(f"only members of operation {op.id} {what}")
        raise NotFound(f"operation {operation_id} not found")
    if roles is not None and me.role not in roles:
        raise Forbidden(f"only the operation's {' or '.join(roles)} {what}")
    if live and not as_utc(op.starts_at) <= uow.clock.now() < as_utc(op.ends_at):
        raise Conflict(f"operation {op.id} runs from {as_utc(op.starts_at).isoformat()} to "
                       f"{as_utc(op.ends_at).isoformat()}; it is closed to changes now")
    return op, me


def add_operation_member(cmd: AddOperationMember, uow) -> dict:
    """The coordinator or supervisor adds a member in a named role."""
    with uow:
        op, _ = _operation(uow, cmd.operation_id, MANAGERS, "add members")
        if cmd.role not in ("coordinator", "supervisor", "member", "observer"):
            raise InvalidDocument("unknown role", [Problem("/role", "coordinator, supervisor, member or observer")])
        u = _agency_user(uow.session, cmd.user_id, "/user_id")
        if uow.session.get(OperationMember, (op.id, u.id)) is not None:
            raise Conflict(f"{u.id} is already a member of operation {op.id}")
        _member(uow, op, u.id, u.agency, cmd.role)
        uow.audit("operation:member:added", f"operation/{op.id}", owner=op.lead_agency, detail={"user": u.id})
        uow.commit()
        return {"operation_id": op.id, "user_id": u.id, "agency": u.agency, "role": cmd.role}


def assign_operation_task(cmd: AssignOperationTask, uow) -> dict:
    """The coordinator or supervisor gives a member a task with a due time."""
    try:
        doc = TaskIn.model_validate({"title": cmd.title, "owner": cmd.owner, "due_at": cmd.due_at})
    except ValidationError as e:
        raise InvalidDocument("the task has faults; nothing was stored", problems_from(e)) from None
    with uow:
        op, _ = _operation(uow, cmd.operation_id, MANAGERS, "assign tasks")
        owner = uow.session.get(OperationMember, (op.id, doc.owner))
        if owner is None:
            raise InvalidDocument("the owner must be a member", [Problem("/owner", f"'{doc.owner}' is not a member "
                                                                                  f"of operation {op.id}")])
        if doc.due_at.tzinfo is None:
            raise InvalidDocument("give due_at with its UTC offset", [Problem("/due_at", "e.g. 2026-06-01T12:00:00Z")])
        now = uow.clock.now()
        t = OperationTask(id=new_id("OTK"), operation_id=op.id, title=doc.title, owner=owner.user_id,
                          owner_agency=owner.agency, due_at=doc.due_at, status="open", escalation=0,
                          escalated_at=None, report=None, created_at=now, done_at=None)
        uow.session.add(t)
        uow.record(OperationTaskAssigned(**_ref(op), task_id=t.id, owner=t.owner, due_at=doc.due_at.isoformat()))
        uow.audit("operation:task:assigned", f"operation/{op.id}", owner=op.lead_agency, detail={"task": t.id})
        uow.commit()
        return {"id": t.id, "operation_id": op.id, "owner": t.owner, "due_at": doc.due_at.isoformat(), "status": "open"}


def _report(template: list, report: dict) -> dict:
    """The task's report checked against the operation's template: required fields present, types right."""
    kinds = {"text": str, "number": (int, float), "boolean": bool}
    names = {f["name"]: f for f in template}
    problems = [Problem(f"/report/{k}", f"not a field of the operation's template ({', '.join(names) or 'none'})")
                for k in report if k not in names]
    for name, f in names.items():
        value = report.get(name)
        if value is None:
            if f["required"]:
                problems.append(Problem(f"/report/{name}", "required by the operation's template"))
        elif not isinstance(value, kinds[f["type"]]) or (f["type"] == "number" and isinstance(value, bool)):
            problems.append(Problem(f"/report/{name}", f"must be a {f['type']}"))
    if problems:
        raise InvalidDocument("the report does not follow the operation's template", problems)
    return report


def complete_operation_task(cmd: CompleteOperationTask, uow) -> dict:
    """The task's owner (or a manager) reports it done, with the template's fields."""
    try:
        report = TaskDoneIn.model_validate({"report": cmd.report}).report
    except ValidationError as e:
        raise InvalidDocument("the report has faults; nothing was stored", problems_from(e)) from None
    with uow:
        op, me = _operation(uow, cmd.operation_id, None, "report on tasks")
        t = uow.session.get(OperationTask, cmd.task_id, with_for_update=True)
        if t is None or t.operation_id != op.id:
            raise NotFound(f"task {cmd.task_id} not found in operation {op.id}")
        if me.user_id != t.owner and me.role not in MANAGERS:
            raise Forbidden(f"only {t.owner} or the operation's coordinator or supervisor report on it")
        if t.status == "done":
            raise Conflict(f"task {t.id} is already done")
        t.report, t.status, t.done_at = _report(op.template, report), "done", uow.clock.now()
        uow.record(OperationTaskCompleted(**_ref(op), task_id=t.id, owner=t.owner))
        uow.audit("operation:task:done", f"operation/{op.id}", owner=op.lead_agency, detail={"task": t.id})
        uow.commit()
        return {"id": t.id, "operation_id": op.id, "status": t.status}


def post_operation_message(cmd: PostOperationMessage, uow) -> dict:
    """A member writes to the operation's thread (observers read it)."""
    text = cmd.text.strip()
    if not 1 <= len(text) <= 4000:
        raise InvalidDocument("write the message", [Problem("/text", "1 to 4,000 characters")])
    with uow:
        op, me = _operation(uow, cmd.operation_id, ("coordinator", "supervisor", "member"), "write to its thread")
        m = OperationMessage(id=new_id("OMS"), operation_id=op.id, author=me.user_id, agency=me.agency,
                             at=uow.clock.now(), text=text)
        uow.session.add(m)
        uow.record(OperationMessagePosted(**_ref(op), message_id=m.id, author=m.author))
        uow.audit("operation:message:posted", f"operation/{op.id}", owner=op.lead_agency, detail={"message": m.id})
        uow.commit()
        return {"id": m.id, "operation_id": op.id, "at": m.at.isoformat()}


def escalate_overdue_tasks(cmd: EscalateOverdueTasks, uow) -> int:
    """Each overdue open task goes to the operation's supervisor, then to the lead agency; returns escalations."""
    with uow:
        s = uow.session
        now = uow.clock.now()
        late = s.scalars(select(OperationTask).where(OperationTask.status == "open", OperationTask.due_at < now,
                                                     OperationTask.escalation < 2).with_for_update()).all()
        count = 0
        for t in late:
            if t.escalation == 1 and now < as_utc(t.escalated_at) + ESCALATE_AGAIN:
                continue
            op = s.get(Operation, t.operation_id)
            members = s.scalars(select(OperationMember).where(OperationMember.operation_id == op.id)
                                .order_by(OperationMember.added_at, OperationMember.user_id)).all()
            supervisor = next((m for m in members if m.role == "supervisor" and m.user_id != t.owner), None)
            level = 2 if t.escalation == 1 or supervisor is None else 1
            to = supervisor if level == 1 else next((m for m in members if m.role == "coordinator"
                                                     and m.agency == op.lead_agency), None)
            t.escalation, t.escalated_at = level, now
            uow.record(OperationTaskEscalated(**_ref(op), task_id=t.id, level=level,
                                              to_user=to.user_id if to else None,
                                              to_agency=to.agency if to else op.lead_agency))
            uow.audit("operation:task:escalated", f"operation/{op.id}", owner=op.lead_agency,
                      detail={"task": t.id, "level": level}, actor="system")
            count += 1
        uow.commit()
        return count
