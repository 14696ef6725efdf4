"""Commands and events of incidents, joint operations and risk information notices.

`IncidentRecorded` and `NoticeIssued` carry the record's id, its owner agency and its indicators (the shape of
concord.hunting.indicators.Indicators, as JSON) so that a hunt can subscribe to them without reading the record.
The relay cuts every event for each audience (concord.incidents.audiences): a field leaves only where the reader
of the record could see it."""

from dataclasses import dataclass, field

from concord.messaging.messages import Command, Event


@dataclass(kw_only=True)
class RecordIncident(Command):
    document: dict  # schemas.IncidentIn, JSON mode


@dataclass(kw_only=True)
class ChangeIncidentStatus(Command):
    incident_id: str
    status: str  # triaged | responding | closed
    note: str = ""
    review: dict | None = None  # schemas.ReviewIn: required to close


@dataclass(kw_only=True)
class AddAttachment(Command):
    incident_id: str
    name: str
    media_type: str  # as the client declared it; checked against the content's magic bytes
    data: bytes


@dataclass(kw_only=True)
class OpenOperation(Command):
    document: dict  # schemas.OperationIn


@dataclass(kw_only=True)
class AddOperationMember(Command):
    operation_id: str
    user_id: str
    role: str


@dataclass(kw_only=True)
class AssignOperationTask(Command):
    operation_id: str
    title: str
    owner: str
    due_at: str  # ISO 8601


@dataclass(kw_only=True)
class CompleteOperationTask(Command):
    operation_id: str
    task_id: str
    report: dict = field(default_factory=dict)  # the operation template's fields


@dataclass(kw_only=True)
class PostOperationMessage(Command):
    operation_id: str
    text: str


@dataclass(kw_only=True)
class EscalateOverdueTasks(Command):
    """Overdue operation tasks go to the operation's supervisor, and later to the lead agency (periodic job)."""


@dataclass(kw_only=True)
class IssueNotice(Command):
    document: dict  # schemas.NoticeIn


@dataclass(kw_only=True)
class GiveNoticeFeedback(Command):
    notice_id: str
    action_taken: str
    result: str
    note: str = ""


@dataclass(kw_only=True)
class CheckNoticeFeedback(Command):
    """Raise NoticeFeedbackOverdue once per recipient that has not answered by the deadline (periodic job)."""


@dataclass(kw_only=True)
class IncidentRecorded(Event):
    name = "incident.recorded"
    incident_id: str
    owner_agency: str
    category: str
    severity: str
    indicators: dict = field(default_factory=dict)


@dataclass(kw_only=True)
class IncidentStatusChanged(Event):
    name = "incident.status_changed"
    incident_id: str
    owner_agency: str
    status: str


@dataclass(kw_only=True)
class NoticeIssued(Event):
    name = "notice.issued"
    notice_id: str
    owner_agency: str
    indicators: dict = field(default_factory=dict)
    valid_until: str = ""
    feedback_due_at: str = ""
    recommended_action: str = ""  # what the hunt the notice starts does to matching declarations


@dataclass(kw_only=True)
class NoticeFeedbackGiven(Event):
    name = "notice.feedback_given"
    notice_id: str
    owner_agency: str
    from_agency: str
    result: str


@dataclass(kw_only=True)
class NoticeFeedbackOverdue(Event):
    name = "notice.feedback_overdue"
    notice_id: str
    owner_agency: str
    recipient: str
    feedback_due_at: str


@dataclass(kw_only=True)
class OperationOpened(Event):
    name = "operation.opened"
    operation_id: str
    lead_agency: str


@dataclass(kw_only=True)
class OperationMemberAdded(Event):
    name = "operation.member_added"
    operation_id: str
    lead_agency: str
    user_id: str
    role: str


@dataclass(kw_only=True)
class OperationTaskAssigned(Event):
    name = "operation.task_assigned"
    operation_id: str
    lead_agency: str
    task_id: str
    owner: str
    due_at: str


@dataclass(kw_only=True)
class OperationTaskCompleted(Event):
    name = "operation.task_completed"
    operation_id: str
    lead_agency: str
    task_id: str
    owner: str


@dataclass(kw_only=True)
class OperationTaskEscalated(Event):
    name = "operation.task_escalated"
    operation_id: str
    lead_agency: str
    task_id: str
    level: int  # 1: to the supervisor, 2: to the lead agency
    to_user: str | None
    to_agency: str


@dataclass(kw_only=True)
class OperationMessagePosted(Event):
    name = "operation.message_posted"
    operation_id: str
    lead_agency: str
    message_id: str
    author: str
