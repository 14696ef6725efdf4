"""Joint inspections: request, invite, confirm, reschedule, move the goods once (findings: findings.py)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from concord.declarations.models import Declaration
from concord.errors import ConcordError, ConcurrentWrite, Conflict, Forbidden, InvalidDocument, NotFound, Problem
from concord.ids import new_id
from concord.inspections import booking as b
from concord.inspections.messages import (AnswerInvitation, InspectionConfirmed, InspectionNoShow, InspectionProposed,
                                          InspectionRequested, InspectionRescheduled, InspectionStarted,
                                          InvitationAnswered, RecordNoShow, RequestInspection, RescheduleInspection,
                                          StartInspection)
from concord.inspections.models import ACTIVE, InspectionInvitation, JointInspection

log = logging.getLogger(__name__)
RESULTS = ("compliant", "irregular")


def _officer(subject) -> None:
    if subject is None or subject.is_trader or subject.agency is None or not subject.has("officer", "supervisor"):
        raise Forbidden("only agency officers act on inspections")


def _lead_officer(subject, what: str) -> None:
    if subject is None or not (subject.lead and subject.has("officer", "supervisor")):
        raise Forbidden(f"{what} is recorded by customs officers at the facility")


def _inspection(uow, inspection_id: str, *, access) -> tuple[JointInspection, Declaration]:
    """The inspection, if the subject may read its declaration; otherwise as missing as one that is."""
    from concord.access.policy import authorize

    s = uow.session
    insp = s.get(JointInspection, inspection_id, with_for_update=True)
    d = s.get(Declaration, insp.declaration_id, with_for_update=True) if insp is not None else None
    if d is None or uow.subject is None or not authorize(uow.subject, "read", d, session=s, access=access).allowed:
        raise NotFound(f"inspection {inspection_id} not found")
    return insp, d


def _slot_dict(insp) -> dict:
    return dict(facility=insp.facility, bay=insp.bay, slot_start=insp.slot_start.isoformat(),
                slot_end=insp.slot_end.isoformat())


def _propose(uow, insp, d) -> None:
    uow.record(InspectionProposed(declaration_id=d.id, inspection_id=insp.id, agencies=list(insp.agencies),
                                  **_slot_dict(insp)))


def _summary(insp, replayed: bool = False) -> dict:
    return {"id": insp.id, "declaration_id": insp.declaration_id, "status": insp.status, "agencies": list(insp.agencies),
            **_slot_dict(insp), "replayed": replayed}


def _not_before(uow, d, *candidates) -> datetime:
    return max([uow.clock.now(), *[c for c in candidates if c is not None],
                *[x for x in [b.expected_arrival(uow.session, d)] if x is not None]])


def open_inspection(uow, d: Declaration, needed: dict, *, directory, by: str, not_before=None,
                    facility: str | None = None) -> tuple[JointInspection, bool]:
    """Invite every agency in `needed` (agency -> task) to the declaration's one active inspection, creating or
    moving it as capacity requires. Returns the inspection and whether anything changed."""
    s, now = uow.session, uow.clock.now()
    insp = s.scalars(select(JointInspection).where(
        JointInspection.declaration_id == d.id,
        JointInspection.status.in_(ACTIVE + ("in_progress",))).with_for_update()).first()
    snapshot = directory.current(s)
    if insp is not None:
        new = {a: t for a, t in needed.items() if a not in insp.agencies}
        if not new:
            return insp, False
        insp.agencies = list(insp.agencies) + sorted(new)
        joining = insp.status == "in_progress"  # the goods are at the bay: the agency joins there
        for agency, task in sorted(new.items()):
            s.add(InspectionInvitation(inspection_id=insp.id, agency=agency, task_id=task.id,
                                       status="accepted" if joining else "invited", invited_at=now,
                                       answered_at=now if joining else None, answered_by=by if joining else None))
        s.flush()
        if not joining:
            fac = b.facility_for(snapshot, d, insp.agencies, insp.facility)
            if b.still_fits(s, fac, insp):
                insp.status = "proposed"  # the new agency's yes is still to come; the others' stand
            else:
                b.place(s, insp, fac, _not_before(uow, d, not_before))
                b.reinvite(s, insp.id)
                insp.status = "proposed"
            _propose(uow, insp, d)
        uow.audit("inspection:agencies:added", f"inspection/{insp.id}", detail={"agencies": sorted(new)})
        return insp, True
    agencies = sorted(needed)
    fac = b.facility_for(snapshot, d, agencies, facility)
    insp = JointInspection(id=new_id("INS"), declaration_id=d.id, declaration_version=d.version, facility=fac.code,
                           bay=0, slot_start=now, slot_end=now, status="proposed", agencies=agencies,
                           containers=b.containers_of(s, d), requested_at=now, requested_by=by, confirmed_at=None,
                           started_at=None, finished_at=None, outcome=None, outcome_at=None, reschedules=0, history=[])
    s.add(insp)
    s.flush()
    b.place(s, insp, fac, _not_before(uow, d, not_before), fresh=True)
    for agency in agencies:
        s.add(InspectionInvitation(inspection_id=insp.id, agency=agency, task_id=needed[agency].id, status="invited",
                                   invited_at=now))
    uow.record(InspectionRequested(declaration_id=d.id, inspection_id=insp.id, facility=fac.code, agencies=agencies))
    _propose(uow, insp, d)
    uow.audit("inspection:requested", f"inspection/{insp.id}", detail={"declaration": d.id, "agencies": agencies})
    return insp, True


def _commit(uow) -> None:
    """Commit; a bay another request took in the meantime is a conflict to retry, never a double booking."""
    try:
        uow.commit()
    except IntegrityError:
        uow.rollback()
        raise ConcurrentWrite("the slot was taken by another request at the same moment; send the request again") \
            from None


def request_inspection(cmd: RequestInspection, uow, *, directory, access) -> dict:
    """An officer asks for a physical examination: every agency that needs one is invited to the same slot."""
    from concord.access.policy import authorize

    _officer(uow.subject)
    with uow:
        s = uow.session
        d = s.get(Declaration, cmd.declaration_id, with_for_update=True)
        if d is None or not authorize(uow.subject, "read", d, session=s, access=access).allowed:
            raise NotFound(f"declaration {cmd.declaration_id} not found")
        d.ensure_open("inspected")
        tasks = b.current_tasks(s, d)
        needed = b.agencies_needing(s, d, tasks)
        own = next((t for t in tasks if t.agency == uow.subject.agency and t.open), None)
        if own is None and not uow.subject.lead:
            raise Conflict(f"your agency has no open task on declaration {d.id}; only agencies with a task inspect")
        if own is not None:
            needed.setdefault(own.agency, own)
        if not needed:
            raise Conflict(f"no agency has an open task on declaration {d.id} that needs the goods examined")
        insp, changed = open_inspection(uow, d, needed, directory=directory, by=uow.subject.user_id,
                                        not_before=cmd.not_before, facility=cmd.facility)
        _commit(uow)
        return _summary(insp, replayed=not changed)


def needs_goods(event) -> bool:
    """Whether a task event asks for the goods themselves (most tasks are document checks: nothing to do).

    A lodging's tasks say at once how many agencies need the goods (`examiners`, clearance.open_tasks): with
    fewer than two there is nothing joint to propose, and no unit of work is opened to find that out."""
    if getattr(event, "examiners", 2) < 2:
        return False
    return getattr(event, "task_type", None) == "inspection" or getattr(event, "status", None) == "inspection_required"


def propose_when_joint(event, uow, *, directory) -> None:
    """When a second agency needs the goods examined, Concord proposes one joint inspection by itself."""
    if not needs_goods(event):
        return
    with uow:
        s = uow.session
        d = s.get(Declaration, event.declaration_id, with_for_update=True)
        if d is None or d.status in ("released", "refused", "cancelled"):
            return
        needed = b.agencies_needing(s, d)
        if len(needed) < 2:
            return
        try:
            _, changed = open_inspection(uow, d, needed, directory=directory, by="system")
        except ConcordError as e:  # no facility or no capacity: the agencies inspect on their own, and say so
            log.warning("no joint inspection for %s: %s", d.id, e.message)
            return
        if changed:
            _commit(uow)


def answer_invitation(cmd: AnswerInvitation, uow, *, directory, access) -> dict:
    """An invited agency accepts the slot, or declines it with a reason (then a later slot is proposed)."""
    _officer(uow.subject)
    with uow:
        s = uow.session
        insp, d = _inspection(uow, cmd.inspection_id, access=access)
        inv = s.get(InspectionInvitation, (insp.id, uow.subject.agency), with_for_update=True)
        if inv is None:
            raise NotFound(f"inspection {cmd.inspection_id} has no invitation for your agency")
        if insp.status != "proposed":
            if insp.status == "confirmed" and inv.status == "accepted" and cmd.accept:
                return _summary(insp, replayed=True)
            raise Conflict(f"inspection {insp.id} is {insp.status}; ask for a reschedule to change its slot")
        now = uow.clock.now()
        if not cmd.accept and not cmd.reason.strip():
            raise InvalidDocument("say why the slot does not suit", [Problem("/reason", "e.g. no officer free then")])
        inv.status = "accepted" if cmd.accept else "declined"
        inv.answered_at, inv.answered_by, inv.reason = now, uow.subject.user_id, cmd.reason or None
        uow.record(InvitationAnswered(declaration_id=d.id, agency=inv.agency, inspection_id=insp.id,
                                      accepted=cmd.accept, reason=cmd.reason))
        uow.audit("inspection:invitation:answered", f"inspection/{insp.id}", detail={"accepted": cmd.accept})
        if not cmd.accept:
            _move(uow, insp, d, f"{inv.agency} declined: {cmd.reason}", insp.slot_end, directory)
        elif all(i.status == "accepted" for i in b.invitations(s, insp.id) if i.status != "no_show"):
            insp.status, insp.confirmed_at = "confirmed", now
            uow.record(InspectionConfirmed(declaration_id=d.id, inspection_id=insp.id, **_slot_dict(insp)))
        _commit(uow)
        return _summary(insp)


def _move(uow, insp, d, reason: str, not_before, directory, what: str = "rescheduled") -> None:
    """A new slot for everyone: the old bay is released, every agency is asked again."""
    s, now = uow.session, uow.clock.now()
    before = insp.slot_start.isoformat()
    b.place(s, insp, b.facility_for(directory.current(s), d, insp.agencies, insp.facility), _not_before(uow, d, not_before))
    b.reinvite(s, insp.id)
    insp.status, insp.confirmed_at, insp.reschedules = "proposed", None, insp.reschedules + 1
    insp.history = list(insp.history) + [{"at": now.isoformat(), "what": what, "reason": reason,
                                          "by": uow.subject.user_id if uow.subject else "system",
                                          "from": before, "to": insp.slot_start.isoformat()}]
    uow.record(InspectionRescheduled(declaration_id=d.id, inspection_id=insp.id, reason=reason))
    _propose(uow, insp, d)


def reschedule_inspection(cmd: RescheduleInspection, uow, *, directory, access) -> dict:
    """The trader, an invited agency or customs asks for another slot; everyone is asked again."""
    from concord.access.policy import authorize

    with uow:
        insp, d = _inspection(uow, cmd.inspection_id, access=access)
        subject = uow.subject
        invited = subject.agency in insp.agencies
        owner = subject.is_trader and authorize(subject, "amend", d, session=uow.session, access=access).allowed
        if not (owner or subject.lead or invited) or (not owner and not subject.has("officer", "supervisor")):
            raise Forbidden("the trader, an invited agency or customs may ask for another slot")
        if insp.status not in ACTIVE:
            raise Conflict(f"inspection {insp.id} is {insp.status}; only a proposed or confirmed slot can move")
        if not cmd.reason.strip():
            raise InvalidDocument("say why", [Problem("/reason", "e.g. the container is still on the vessel")])
        _move(uow, insp, d, cmd.reason, cmd.not_before or insp.slot_end, directory)
        uow.audit("inspection:rescheduled", f"inspection/{insp.id}", detail={"reason": cmd.reason})
        _commit(uow)
        return _summary(insp)


def record_no_show(cmd: RecordNoShow, uow, *, directory, access) -> dict:
    """At the slot, the goods were not presented (the trader), or an agency did not come."""
    _lead_officer(uow.subject, "a no-show")
    with uow:
        insp, d = _inspection(uow, cmd.inspection_id, access=access)
        now = uow.clock.now()
        if insp.status != "confirmed" or now < insp.slot_start:
            raise Conflict(f"inspection {insp.id} is {insp.status}, slot at {insp.slot_start.isoformat()}; "
                           "a no-show is recorded for a confirmed slot once it has begun")
        if cmd.party == "trader":
            _move(uow, insp, d, "the goods were not presented", now, directory, what="no_show")
        else:
            inv = uow.session.get(InspectionInvitation, (insp.id, cmd.party))
            if inv is None or inv.status != "accepted":
                raise InvalidDocument("no such party", [Problem("/party", "give 'trader' or the code of an agency "
                                                                          "that accepted the slot")])
            inv.status = "no_show"
            insp.history = list(insp.history) + [{"at": now.isoformat(), "what": "no_show", "by": uow.subject.user_id,
                                                  "reason": f"{cmd.party} did not attend"}]
        uow.record(InspectionNoShow(declaration_id=d.id, inspection_id=insp.id, party=cmd.party))
        uow.audit("inspection:no_show", f"inspection/{insp.id}", detail={"party": cmd.party})
        _commit(uow)
        return _summary(insp)


def start_inspection(cmd: StartInspection, uow, *, access) -> dict:
    """The goods reach the bay: once, for every agency of the inspection."""
    _lead_officer(uow.subject, "the goods' move to the bay")
    with uow:
        insp, d = _inspection(uow, cmd.inspection_id, access=access)
        now = uow.clock.now()
        if insp.status == "in_progress":
            return _summary(insp, replayed=True)
        if insp.status != "confirmed":
            raise Conflict(f"inspection {insp.id} is {insp.status}; it starts once every agency has accepted")
        if d.arrived_at is None:
            raise Conflict(f"the goods of declaration {d.id} have not arrived; record their arrival first")
        if not any(i.status == "accepted" for i in b.invitations(uow.session, insp.id)):
            raise Conflict("no agency is present; reschedule the inspection")
        insp.status, insp.started_at = "in_progress", now
        uow.record(InspectionStarted(declaration_id=d.id, inspection_id=insp.id, bay=insp.bay,
                                     containers=list(insp.containers)))
        uow.audit("inspection:started", f"inspection/{insp.id}", detail={"bay": insp.bay})
        uow.commit()
        return _summary(insp)


def cancel_with_declaration(event, uow) -> None:
    """A refused or cancelled declaration's inspection that has not begun is called off and its bay freed."""
    with uow:
        s = uow.session
        rows = s.scalars(select(JointInspection).where(JointInspection.declaration_id == event.declaration_id,
                                                       JointInspection.status.in_(ACTIVE))).all()
        for insp in rows:
            insp.status = "cancelled"
            b.release_bays(s, insp.id)
            uow.audit("inspection:cancelled", f"inspection/{insp.id}", actor="system",
                      detail={"because": event.name})
        if rows:
            uow.commit()
