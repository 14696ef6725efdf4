"""Commands and events of agency tasks."""

from dataclasses import dataclass, field

from concord.messaging.messages import Command, Event


@dataclass(kw_only=True)
class DecideTask(Command):
    task_id: str
    decision: str
    reason: str
    conditions: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    inspection: dict | None = None
    decision_id: str | None = None  # the officer client's id: a retried request is recorded once


@dataclass(kw_only=True)
class SupplyDocuments(Command):
    declaration_id: str
    task_id: str
    documents: list[dict]  # {type, reference, item?}


@dataclass(kw_only=True)
class AssignTask(Command):
    task_id: str
    officer: str  # a user id of the task's agency with the officer or supervisor role


@dataclass(kw_only=True)
class CheckDeadlines(Command):
    pass


@dataclass(kw_only=True)
class TaskCreated(Event):
    name = "task.created"
    task_id: str
    task_type: str
    due_at: str
    rules: list = field(default_factory=list)


@dataclass(kw_only=True)
class TaskDecided(Event):
    name = "task.decided"
    task_id: str
    decision: str
    status: str
    reason: str


@dataclass(kw_only=True)
class DocumentsRequested(Event):
    name = "task.documents_requested"
    task_id: str
    documents: list = field(default_factory=list)


@dataclass(kw_only=True)
class DocumentsSupplied(Event):
    name = "task.documents_supplied"
    task_id: str
    documents: list = field(default_factory=list)


@dataclass(kw_only=True)
class GoodsInspected(Event):
    name = "task.goods_inspected"
    task_id: str
    result: str


@dataclass(kw_only=True)
class TaskOverdue(Event):
    name = "task.overdue"
    task_id: str
    due_at: str


@dataclass(kw_only=True)
class TaskReassigned(Event):
    name = "task.reassigned"
    task_id: str
    assignee: str
    previous: str | None = None
