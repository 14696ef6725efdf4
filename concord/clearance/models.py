"""An agency's task on one declaration version, and the decisions recorded on it."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from concord.db import Base
from concord.errors import Conflict, InvalidDocument, Problem

CLEARED = ("approved", "approved_with_conditions")
TERMINAL = CLEARED + ("refused", "superseded", "withdrawn")

# decision kind -> the task status it leads to
DECISIONS = {
    "approve": "approved",
    "approve_with_conditions": "approved_with_conditions",
    "request_documents": "documents_requested",
    "hold": "held",
    "require_inspection": "inspection_required",
    "refuse": "refused",
}


class AgencyTask(Base):
    __tablename__ = "agency_tasks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    declaration_id: Mapped[str] = mapped_column(ForeignKey("declarations.id"))
    declaration_version: Mapped[int]
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    task_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(28))
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    overdue_raised: Mapped[bool] = mapped_column(default=False)
    reasons: Mapped[list]  # which rules engaged the agency, on which items, on which legal basis
    fields: Mapped[list]  # JSON pointers the agency may see (data minimisation)
    last_decision: Mapped[dict | None]
    assignee: Mapped[str | None] = mapped_column(String(64))  # the officer a supervisor gave it to; None: the queue's

    __table_args__ = (
        Index("ix_agency_tasks_queue", "agency", "status", "due_at"),
        Index("ix_agency_tasks_declaration", "declaration_id", "agency"),
        Index("ix_agency_tasks_assignee", "agency", "assignee", "status"),
        # the SLA check (handlers.late_tasks); not led by status, or SQLite picks it for a declaration's open tasks
        Index("ix_agency_tasks_due", "overdue_raised", "status", "due_at"),
    )

    @property
    def cleared(self) -> bool:
        return self.status in CLEARED

    @property
    def open(self) -> bool:
        return self.status not in TERMINAL

    def decide(self, kind: str, reason: str, at: datetime) -> str:
        """Apply a decision; a decided task cannot be moved again (status only moves forward)."""
        if kind not in DECISIONS:
            raise InvalidDocument("unknown decision", [Problem("/decision", f"use one of: {', '.join(DECISIONS)}")])
        if not self.open:
            raise Conflict(f"task {self.id} is already {self.status}; a later decision cannot change it")
        if kind == "request_documents" and self.status == "documents_requested":
            raise Conflict(f"task {self.id} already awaits documents from the trader")
        self.status = DECISIONS[kind]
        if not self.open:
            self.decided_at = at
        return self.status


class TaskDecision(Base):
    __tablename__ = "task_decisions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # ours, never the client's
    task_id: Mapped[str] = mapped_column(ForeignKey("agency_tasks.id"), index=True)
    client_id: Mapped[str | None] = mapped_column(String(32))  # the officer client's decision_id, unique per task
    kind: Mapped[str] = mapped_column(String(28))
    reason: Mapped[str] = mapped_column(Text)
    conditions: Mapped[list]
    documents: Mapped[list]  # requested document types, for request_documents
    inspection: Mapped[dict | None]  # result and findings when the decision follows an inspection
    officer: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime]

    # a retried request is recorded once per task; the same client id on another task is another decision
    __table_args__ = (Index("ix_task_decisions_client", "task_id", "client_id", unique=True),)


class SuppliedDocument(Base):
    """A document the trader supplied in answer to an agency's request."""

    __tablename__ = "supplied_documents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    declaration_id: Mapped[str] = mapped_column(ForeignKey("declarations.id"), index=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("agency_tasks.id"))
    type: Mapped[str] = mapped_column(String(8))
    reference: Mapped[str] = mapped_column(String(70))
    item: Mapped[int | None]
    supplied_at: Mapped[datetime]
