"""Placing an inspection: which facility, which slot and bay, which agencies; booking and releasing bays."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from concord.clearance.models import AgencyTask
from concord.clock import as_utc
from concord.declarations.models import Declaration, DeclarationVersion
from concord.errors import Conflict
from concord.inspections.facilities import FacilityConfig, facilities
from concord.inspections.models import InspectionBooking, InspectionInvitation, JointInspection
from concord.inspections.scheduling import Booking, Slot, first_slot, unstaffed


def needs_examination(task) -> bool:
    """An open task that asks for the goods themselves: an inspection task, or a decision requiring one."""
    return task.open and (task.task_type == "inspection" or task.status == "inspection_required")


def current_tasks(session, d: Declaration) -> list[AgencyTask]:
    return list(session.scalars(select(AgencyTask).where(
        AgencyTask.declaration_id == d.id, AgencyTask.declaration_version == d.version).order_by(AgencyTask.id)))


def agencies_needing(session, d: Declaration, tasks=None) -> dict[str, AgencyTask]:
    """Agency -> the open task for which it must examine the goods (the lead first, then by code); `tasks`, the
    declaration's current tasks if the caller has them already."""
    out: dict = {}
    for t in current_tasks(session, d) if tasks is None else tasks:
        if needs_examination(t):
            out.setdefault(t.agency, t)
    return out


def facility_for(snapshot, d: Declaration, agencies, code: str | None = None) -> FacilityConfig:
    """The facility that receives the declaration's goods and has officers of every agency invited."""
    serving = [f for f in facilities(snapshot) if d.office_of_entry in f.offices and (code is None or f.code == code)]
    if not serving:
        raise Conflict(f"no inspection facility{' ' + code if code else ''} receives goods of office "
                       f"{d.office_of_entry}; add one to inspection_facilities in the coordination config")
    staffed = [f for f in serving if not unstaffed(f, agencies)]
    if not staffed:
        missing = unstaffed(serving[0], agencies)
        raise Conflict(f"facility {serving[0].code} has no officers of {', '.join(missing)}; "
                       "add them to its staffing in the coordination config")
    return staffed[0]


def expected_arrival(session, d: Declaration) -> datetime | None:
    """When the goods are expected, if they have not arrived: a slot before it would find no goods."""
    if d.arrived_at is not None:
        return None
    v = session.get(DeclarationVersion, (d.id, d.version))
    return as_utc(datetime.fromisoformat(v.document["arrival"])) if v and v.document.get("arrival") else None


def containers_of(session, d: Declaration) -> list[str]:
    v = session.get(DeclarationVersion, (d.id, d.version))
    return list(((v.document if v else {}).get("transport") or {}).get("containers") or [])


def booked(session, facility: str, exclude: str | None = None, since: datetime | None = None) -> list[Booking]:
    """The slots held at a facility: proposed, confirmed and in-progress inspections (ending after `since`).

    Columns, not entities: a busy facility holds hundreds, and loading each as an ORM object on every proposal
    was a large part of a lodging's time once the calendar had filled."""
    J = JointInspection
    query = select(J.slot_start, J.slot_end, J.bay, J.agencies).where(
        J.facility == facility, J.status.in_(("proposed", "confirmed", "in_progress")), J.id != (exclude or ""))
    if since is not None:
        query = query.where(J.slot_end > since)
    return [Booking(as_utc(start), as_utc(end), bay, frozenset(agencies))
            for start, end, bay, agencies in session.execute(query)]


def place(session, insp: JointInspection, facility: FacilityConfig, not_before: datetime, *, fresh: bool = False) -> Slot:
    """Move the inspection to the first slot that fits from not_before; its old bay is released (a `fresh`
    inspection, created in this transaction, holds none)."""
    slot = first_slot(facility, insp.agencies, not_before, booked(session, facility.code, insp.id, since=not_before))
    if slot is None:
        raise Conflict(f"facility {facility.code} has no slot with a free bay and officers of "
                       f"{', '.join(insp.agencies)} in the next weeks; ask the facility to add capacity")
    if not fresh:
        release_bays(session, insp.id)
    insp.facility, insp.bay, insp.slot_start, insp.slot_end = facility.code, slot.bay, slot.start, slot.end
    session.add(InspectionBooking(facility=facility.code, bay=slot.bay, slot_start=slot.start, inspection_id=insp.id))
    return slot


def release_bays(session, inspection_id: str) -> None:
    session.execute(delete(InspectionBooking).where(InspectionBooking.inspection_id == inspection_id))
    session.flush()


def invitations(session, inspection_id: str) -> list[InspectionInvitation]:
    return list(session.scalars(select(InspectionInvitation).where(
        InspectionInvitation.inspection_id == inspection_id).order_by(InspectionInvitation.invited_at,
                                                                       InspectionInvitation.agency)))


def reinvite(session, inspection_id: str) -> None:
    """A new slot needs every agency's yes again (an agency marked absent stays absent)."""
    for inv in invitations(session, inspection_id):
        if inv.status in ("accepted", "declined"):
            inv.status, inv.answered_at, inv.answered_by, inv.reason = "invited", None, None, None


def still_fits(session, facility: FacilityConfig, insp: JointInspection) -> bool:
    """Whether the inspection's slot still has officers of every agency now invited (its own bay stays its own)."""
    from concord.inspections.scheduling import fits

    return fits(facility, insp.agencies, insp.slot_start, booked(session, facility.code, insp.id)) is not None
