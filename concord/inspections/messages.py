"""Commands and events of joint inspections."""

from dataclasses import dataclass, field
from datetime import datetime

from concord.messaging.messages import Command, Event


@dataclass(kw_only=True)
class RequestInspection(Command):
    """Ask for a physical examination; every agency that needs one on the declaration is invited to the same slot."""

    declaration_id: str
    not_before: datetime | None = None
    facility: str | None = None


@dataclass(kw_only=True)
class AnswerInvitation(Command):
    inspection_id: str
    accept: bool
    reason: str = ""


@dataclass(kw_only=True)
class RescheduleInspection(Command):
    inspection_id: str
    reason: str
    not_before: datetime | None = None


@dataclass(kw_only=True)
class RecordNoShow(Command):
    inspection_id: str
    party: str  # "trader" (the goods or the trader's representative were not presented) or an agency code


@dataclass(kw_only=True)
class StartInspection(Command):
    inspection_id: str


@dataclass(kw_only=True)
class RecordFinding(Command):
    inspection_id: str
    result: str
    findings: str
    seals_before: list = field(default_factory=list)
    seals_after: list = field(default_factory=list)
    photos: list = field(default_factory=list)  # [{media_type, content: bytes}]
    samples: list = field(default_factory=list)  # [{description, laboratory}]


@dataclass(kw_only=True)
class RecordLabResult(Command):
    sample_id: str
    result: str
    detail: str = ""


@dataclass(kw_only=True)
class InspectionRequested(Event):
    name = "inspection.requested"
    inspection_id: str
    facility: str
    agencies: list = field(default_factory=list)


@dataclass(kw_only=True)
class InspectionProposed(Event):
    """A slot proposed to every agency invited (again after a reschedule or a no-show)."""

    name = "inspection.proposed"
    inspection_id: str
    facility: str
    bay: int
    slot_start: str
    slot_end: str
    agencies: list = field(default_factory=list)


@dataclass(kw_only=True)
class InvitationAnswered(Event):
    name = "inspection.invitation_answered"
    inspection_id: str
    accepted: bool
    reason: str = ""


@dataclass(kw_only=True)
class InspectionConfirmed(Event):
    """Every agency accepted: the trader's one appointment."""

    name = "inspection.confirmed"
    inspection_id: str
    facility: str
    bay: int
    slot_start: str
    slot_end: str


@dataclass(kw_only=True)
class InspectionRescheduled(Event):
    name = "inspection.rescheduled"
    inspection_id: str
    reason: str


@dataclass(kw_only=True)
class InspectionNoShow(Event):
    name = "inspection.no_show"
    inspection_id: str
    party: str


@dataclass(kw_only=True)
class InspectionStarted(Event):
    """The goods were moved to the bay: once for all the agencies of the inspection."""

    name = "inspection.started"
    inspection_id: str
    bay: int
    containers: list = field(default_factory=list)


@dataclass(kw_only=True)
class FindingRecorded(Event):
    """One agency's finding. The hook for incidents and notices: an in-process subscriber gets every field (the
    declaration and agency in the envelope, what was found, seals, photos' digests, samples, containers); the
    event stream cuts the finding's fields to its agency and whom its agreements name."""

    name = "inspection.finding_recorded"
    inspection_id: str
    finding_id: str
    task_id: str
    result: str
    findings: str
    seals_before: list = field(default_factory=list)
    seals_after: list = field(default_factory=list)
    photos: list = field(default_factory=list)
    samples: list = field(default_factory=list)
    containers: list = field(default_factory=list)


@dataclass(kw_only=True)
class LabResultRecorded(Event):
    name = "inspection.lab_result_recorded"
    inspection_id: str
    sample_id: str
    task_id: str
    result: str


@dataclass(kw_only=True)
class InspectionFinished(Event):
    """Every agency present has recorded its finding: the goods leave the bay. `outcome` is the trader's one
    outcome: irregular if any agency found an irregularity, awaiting_laboratory while samples are out."""

    name = "inspection.finished"
    inspection_id: str
    outcome: str


@dataclass(kw_only=True)
class InspectionOutcomeSettled(Event):
    """The last laboratory result is back: the inspection's final outcome."""

    name = "inspection.outcome_settled"
    inspection_id: str
    outcome: str
