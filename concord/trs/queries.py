"""Loading the milestones of the declarations a reader may see, and cutting the figures by the access rule.

What each reader gets (counts are exits too, so every figure is computed over what the reader may see):

| reader | declarations counted | holders shown | per-agency rows (decision times, SLA breaches) |
|---|---|---|---|
| lead agency (officer, supervisor, auditor, administrator) | all | every agency by name | every agency |
| partner agency officer or supervisor | those it may list (engaged, granted, or agreed for the purpose) | itself, trader, terminal, carrier; the others merged as "other agencies" | its own |
| trader | its own | every agency by name (its declarations' steps are its to see) | every agency engaged on them |
| anyone else | none | none | none |"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from concord.access.exits import Lens, cut, envelope, step
from concord.access.policy import WHOLE, Decision, authorize, declaration_scope
from concord.clearance.models import AgencyTask
from concord.clock import as_utc
from concord.declarations.models import Declaration, DeclarationVersion
from concord.errors import InvalidDocument, NotFound, Problem
from concord.messaging.models import EventRecord
from concord.trs import figures
from concord.trs.milestones import (TERMINAL_HOLDERS, first, intervals, milestones, with_declared_arrival,
                                   with_decisions)

CHUNK = 500
MAX_DAYS = 366  # one report covers at most a year of arrivals


def _lens(session, subject, access) -> Lens:
    lead = access.lead_of(session)
    if subject.is_trader:
        decision = Decision(True, WHOLE, "owner")
    elif subject.lead and subject.has("officer", "supervisor", "auditor", "administrator"):
        decision = Decision(True, WHOLE, "role:lead-agency")
    else:
        decision = Decision(True, (), "own-agency")
    return Lens(subject, decision, lead, session, access=access)


def declared_arrival(document: dict) -> datetime | None:
    try:
        return as_utc(datetime.fromisoformat(document["arrival"]))
    except (KeyError, TypeError, ValueError):
        return None


def mask_for(lens: Lens):
    """A partner agency sees its own holding time by name and the other agencies' merged."""
    if lens.whole:
        return lambda h: h
    own = lens.subject.agency
    return lambda h: h if h in TERMINAL_HOLDERS or h == own else figures.OTHER_AGENCIES


def load(session, subject, start: datetime, end: datetime, *, purpose: str | None, access) -> list[figures.Record]:
    """The declarations arriving (or, not arrived, lodged) in [start, end) that the subject may list."""
    if end <= start or (end - start).days > MAX_DAYS:
        raise InvalidDocument("bad period", [Problem("/to", f"'to' must be after 'from', at most {MAX_DAYS} days")])
    lead = access.lead_of(session)
    when = func.coalesce(Declaration.arrived_at, Declaration.lodged_at)
    scope = declaration_scope(subject, purpose, session=session, access=access)
    # Columns, not mapped objects: a month of a port is tens of thousands of rows, and the ORM's identity map and
    # per-object state cost more than the figures themselves.
    decls = session.execute(select(Declaration.id, Declaration.version, Declaration.lane, Declaration.office_of_entry,
                                   Declaration.hs_chapters, Declaration.lodged_at, Declaration.released_at)
                            .where(scope, when >= start, when < end).order_by(Declaration.id)).all()
    out = []
    for i in range(0, len(decls), CHUNK):
        chunk = decls[i:i + CHUNK]
        ids = [d.id for d in chunk]
        events: dict = {}
        for did, name, at, agency, payload in session.execute(
                select(EventRecord.declaration_id, EventRecord.name, EventRecord.occurred_at, EventRecord.agency,
                       EventRecord.payload).where(EventRecord.declaration_id.in_(ids))
                .order_by(EventRecord.declaration_id, EventRecord.seq)):
            events.setdefault(did, []).append((name, at, agency, payload or {}))
        current = {d.id: d.version for d in chunk}
        docs = {did: document for did, version, document in session.execute(
            select(DeclarationVersion.declaration_id, DeclarationVersion.version, DeclarationVersion.document)
            .where(DeclarationVersion.declaration_id.in_(ids))) if version == current[did]}
        tasks: dict = {}
        decided: dict = {}
        for t in session.execute(select(AgencyTask.id, AgencyTask.declaration_id, AgencyTask.agency,
                                        AgencyTask.created_at, AgencyTask.due_at, AgencyTask.decided_at,
                                        AgencyTask.status).where(AgencyTask.declaration_id.in_(ids))):
            tasks.setdefault(t.declaration_id, []).append(
                figures.TaskFacts(t.agency, t.created_at, t.due_at, t.decided_at, t.status))
            decided.setdefault(t.declaration_id, []).append((t.id, t.agency, t.decided_at, t.status))
        for d in chunk:
            doc = docs.get(d.id) or {}
            ms = with_declared_arrival(with_decisions(milestones(events.get(d.id, [])), decided.get(d.id, [])),
                                       declared_arrival(doc))
            out.append(figures.Record(
                d.id, d.lane, d.office_of_entry, (doc.get("transport") or {}).get("mode"),
                d.hs_chapters.strip(",").split(","), d.lodged_at, first(ms, "arrival"), d.released_at, first(ms, "exit"), ms, intervals(ms, lead),
                tasks.get(d.id, []), first(ms, "cleared") or (d.released_at if d.released_at else None)))
    return out


def _owned(value, holder: str | None):
    """A figure about one agency is that agency's step; one about the trader, terminal or carrier is not."""
    if holder is None or holder in TERMINAL_HOLDERS or holder == figures.OTHER_AGENCIES:
        return envelope(value)
    return step(envelope(value), holder)


def report_model(rep: dict, lens: Lens) -> dict:
    """The figures, classified: aggregates over the reader's declarations are envelope; an agency's own rows and
    its holding time are that agency's steps (shown to it and to readers of whole records)."""
    split = ("holders", "holders_after_arrival", "agencies", "longest_holder")
    model = {k: envelope(v) for k, v in rep.items() if k not in split}
    model["holders"] = {phase: [_owned(r, r["holder"]) for r in rows] for phase, rows in rep["holders"].items()}
    model["holders_after_arrival"] = [_owned(r, r["holder"]) for r in rep["holders_after_arrival"]]
    model["longest_holder"] = _owned(rep["longest_holder"], rep["longest_holder"])
    model["agencies"] = {a: step(envelope(row), a) for a, row in rep["agencies"].items()}
    return cut(model, lens)


def trs_report(session, subject, start: datetime, end: datetime, *, as_of: datetime, purpose: str | None = None,
               access) -> dict:
    """The TRS figures over [start, end) as the subject may see them."""
    lens = _lens(session, subject, access)
    records = load(session, subject, start, end, purpose=purpose, access=access)
    return report_model(figures.report(records, start=start, end=end, as_of=as_of, mask=mask_for(lens)), lens)


def declaration_milestones(session, subject, declaration_id: str, *, purpose: str | None = None, access) -> dict:
    """One declaration's milestones and holders, to a subject who may read the declaration and see its steps."""
    d = session.get(Declaration, declaration_id)
    decision = authorize(subject, "read", d, purpose, session=session, access=access) if d else None
    if d is None or not decision.allowed:
        raise NotFound(f"declaration {declaration_id} not found")
    lens = Lens(subject, decision, access.lead_of(session), session, purpose, None, access)
    rows = session.execute(select(EventRecord.name, EventRecord.occurred_at, EventRecord.agency, EventRecord.payload)
                           .where(EventRecord.declaration_id == d.id).order_by(EventRecord.seq)).all()
    tasks = session.scalars(select(AgencyTask).where(AgencyTask.declaration_id == d.id)).all()
    version = session.get(DeclarationVersion, (d.id, d.version))
    ms = with_declared_arrival(with_decisions(milestones([(n, at, a, p or {}) for n, at, a, p in rows]),
                                              [(t.id, t.agency, t.decided_at, t.status) for t in tasks]),
                               declared_arrival(version.document if version else {}))
    mask = mask_for(lens)

    model = {"declaration_id": envelope(d.id),
             "milestones": [_owned({"milestone": m.name, "at": m.at.isoformat(), "agency": m.agency,
                                   "task_id": m.task_id}, m.agency) for m in ms],
             "intervals": [envelope({"start": iv.start.isoformat(), "end": iv.end.isoformat(),
                                     "holder": mask(iv.holder), "phase": iv.phase, "hours": round(iv.hours, 4)})
                           for iv in intervals(ms, lens.lead)]}
    return cut(model, lens)
