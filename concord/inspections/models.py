"""A joint inspection, the agencies invited to it, each agency's findings, samples sent to a laboratory, photos."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from concord.db import Base

ACTIVE = ("proposed", "confirmed")  # the slot is held; the goods are not at the bay yet
STATUSES = ACTIVE + ("in_progress", "finished", "cancelled")


class JointInspection(Base):
    """One physical examination of a consignment, at one bay and slot, for every agency that needs one."""

    __tablename__ = "joint_inspections"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    declaration_id: Mapped[str] = mapped_column(ForeignKey("declarations.id"))
    declaration_version: Mapped[int]
    facility: Mapped[str] = mapped_column(String(16))
    bay: Mapped[int]
    slot_start: Mapped[datetime]
    slot_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12))
    agencies: Mapped[list]  # every agency invited, in invitation order
    containers: Mapped[list]  # the containers to bring to the bay (from the declaration's transport)
    requested_at: Mapped[datetime]
    requested_by: Mapped[str] = mapped_column(String(64))
    confirmed_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]  # the goods reached the bay: once per inspection
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(20))  # compliant, irregular, awaiting_laboratory
    outcome_at: Mapped[datetime | None]
    reschedules: Mapped[int] = mapped_column(default=0)
    history: Mapped[list]  # [{at, what, by, reason, slot_start}]: reschedules and no-shows, for the trader's view

    __table_args__ = (Index("ix_joint_inspections_declaration", "declaration_id", "status"),
                      Index("ix_joint_inspections_facility", "facility", "status", "slot_start"))


class InspectionBooking(Base):
    """A bay held for a slot: the primary key makes a double booking fail in the database, whoever races."""

    __tablename__ = "inspection_bookings"

    facility: Mapped[str] = mapped_column(String(16), primary_key=True)
    bay: Mapped[int] = mapped_column(primary_key=True)
    slot_start: Mapped[datetime] = mapped_column(primary_key=True)
    inspection_id: Mapped[str] = mapped_column(ForeignKey("joint_inspections.id"), index=True)


class InspectionInvitation(Base):
    __tablename__ = "inspection_invitations"

    inspection_id: Mapped[str] = mapped_column(ForeignKey("joint_inspections.id"), primary_key=True)
    agency: Mapped[str] = mapped_column(String(16), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("agency_tasks.id"))
    status: Mapped[str] = mapped_column(String(10))  # invited, accepted, declined, no_show
    invited_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    answered_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)


class InspectionFinding(Base):
    """What one agency found: its own record, shared with others only as an agreement says."""

    __tablename__ = "inspection_findings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    inspection_id: Mapped[str] = mapped_column(ForeignKey("joint_inspections.id"))
    agency: Mapped[str] = mapped_column(String(16))
    task_id: Mapped[str] = mapped_column(ForeignKey("agency_tasks.id"))
    officer: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(10))  # compliant, irregular (what the officer saw)
    findings: Mapped[str] = mapped_column(Text)
    seals_before: Mapped[list]
    seals_after: Mapped[list]
    photos: Mapped[list]  # [{sha256, media_type, size}] of InspectionAttachment rows
    recorded_at: Mapped[datetime]
    final_result: Mapped[str | None] = mapped_column(String(10))  # with the laboratory's results, once all are back

    __table_args__ = (Index("ix_inspection_findings_agency", "inspection_id", "agency", unique=True),)


class InspectionSample(Base):
    __tablename__ = "inspection_samples"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    finding_id: Mapped[str] = mapped_column(ForeignKey("inspection_findings.id"), index=True)
    agency: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    laboratory: Mapped[str] = mapped_column(String(200))
    sent_at: Mapped[datetime]
    result: Mapped[str | None] = mapped_column(String(10))  # compliant, irregular
    detail: Mapped[str | None] = mapped_column(Text)
    result_at: Mapped[datetime | None]


class InspectionAttachment(Base):
    """A photo, stored once by its SHA-256 whoever sends it; readable by those who may see a finding naming it."""

    __tablename__ = "inspection_attachments"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int]
    content: Mapped[bytes] = mapped_column(LargeBinary)
    stored_at: Mapped[datetime]
