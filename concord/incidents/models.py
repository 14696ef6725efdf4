"""Incidents and seizures, joint operations and risk information notices, as stored."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from concord.db import Base

CATEGORIES = ("seizure", "interception", "suspicious_consignment", "security_event", "health_event")
SEVERITIES = ("low", "medium", "high", "critical")
# status -> the statuses it may move to; closing needs a post-incident review
NEXT_STATUS = {"reported": ("triaged", "closed"), "triaged": ("responding", "closed"), "responding": ("closed",),
               "closed": ()}
MEMBER_ROLES = ("coordinator", "supervisor", "member", "observer")


class Incident(Base):
    """What an agency found (or saw happen), where and when, and what it points at.

    The facets (hs_chapters, origins, office_of_entry) carry the same names as the declaration's, so that an
    agreement's condition selects incidents with the same SQL (concord.access.policy._condition)."""

    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_agency: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    reported_by: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(24))
    severity: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime]
    location: Mapped[dict]  # {office, place, country}
    found: Mapped[list]  # [{goods, hs_code, origin, quantity, unit, concealment}]
    declarations: Mapped[list]  # linked declaration ids
    containers: Mapped[list]
    conveyance: Mapped[str | None] = mapped_column(String(200))
    parties: Mapped[list]  # [{role, name, id}]
    indicators: Mapped[dict]  # concord.hunting.indicators.Indicators, JSON
    review: Mapped[dict | None]  # the post-incident review, written when it closes
    hs_chapters: Mapped[str] = mapped_column(String(400))  # ",09,08," of what was found
    origins: Mapped[str] = mapped_column(String(800))  # ",EC,CO,"
    office_of_entry: Mapped[str] = mapped_column(String(8))  # the office where it happened ("" if none)
    reported_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_incidents_owner", "owner_agency", "reported_at"),)


class IncidentEntry(Base):
    """One line of an incident's timeline: reported, a status change, an attachment, a note."""

    __tablename__ = "incident_entries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(24))
    text: Mapped[str] = mapped_column(Text)


class Attachment(Base):
    """A photo or report, stored once by its SHA-256 whatever the number of incidents that cite it."""

    __tablename__ = "attachments"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    stored_at: Mapped[datetime]


class IncidentAttachment(Base):
    __tablename__ = "incident_attachments"

    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("attachments.sha256"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime]


class Operation(Base):
    """A response team or joint operation: a closed group of agencies for a limited time (CENcomm-style)."""

    __tablename__ = "operations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    lead_agency: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    incident_id: Mapped[str | None] = mapped_column(ForeignKey("incidents.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    template: Mapped[list]  # [{name, type: text|number|boolean, required}] what members report
    status: Mapped[str] = mapped_column(String(12))  # active | closed
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class OperationMember(Base):
    __tablename__ = "operation_members"

    operation_id: Mapped[str] = mapped_column(ForeignKey("operations.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(12))
    added_at: Mapped[datetime]

    __table_args__ = (Index("ix_operation_members_agency", "agency", "operation_id"),)


class OperationTask(Base):
    __tablename__ = "operation_tasks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    operation_id: Mapped[str] = mapped_column(ForeignKey("operations.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(64))  # a member
    owner_agency: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(8))  # open | done
    escalation: Mapped[int] = mapped_column(Integer, default=0)  # 0 none, 1 the supervisor, 2 the lead agency
    escalated_at: Mapped[datetime | None]
    report: Mapped[dict | None]  # the template's fields, when done
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_operation_tasks_due", "status", "due_at"),)


class OperationMessage(Base):
    __tablename__ = "operation_messages"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    operation_id: Mapped[str] = mapped_column(ForeignKey("operations.id"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    agency: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    text: Mapped[str] = mapped_column(Text)


class Notice(Base):
    """A risk information notice: indicators, a validity window and what the recipients should do."""

    __tablename__ = "risk_notices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    issuer_agency: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    issued_by: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(40))  # the purpose the agreements must cover
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    indicators: Mapped[dict]
    recommended_action: Mapped[str] = mapped_column(String(24))
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    feedback_due_at: Mapped[datetime]
    incident_id: Mapped[str | None] = mapped_column(String(32))
    issued_at: Mapped[datetime]

    __table_args__ = (Index("ix_risk_notices_issuer", "issuer_agency", "issued_at"),)


class NoticeDelivery(Base):
    """A notice as it reached one agency (under which agreement), and that agency's feedback."""

    __tablename__ = "notice_deliveries"

    notice_id: Mapped[str] = mapped_column(ForeignKey("risk_notices.id"), primary_key=True)
    agency: Mapped[str] = mapped_column(String(16), primary_key=True)
    agreement: Mapped[str] = mapped_column(String(60))  # KEY/vN that entitled it
    delivered_at: Mapped[datetime]
    action_taken: Mapped[str | None] = mapped_column(String(24))
    result: Mapped[str | None] = mapped_column(String(12))  # no_hit | hit | seizure
    feedback_note: Mapped[str | None] = mapped_column(Text)
    feedback_by: Mapped[str | None] = mapped_column(String(64))
    feedback_at: Mapped[datetime | None]
    overdue_raised: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (Index("ix_notice_deliveries_agency", "agency", "notice_id"),)
