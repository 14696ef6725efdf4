"""Read side: what each subject may see of declarations, filtered in the query; each read model (views.py) is
built whole and cut in one pass by the exit rule (concord.access.exits)."""

from __future__ import annotations

from sqlalchemy import func, select

from concord.access.exits import Lens, assessment, cut, envelope, may_see
from concord.access.policy import authorize, declaration_scope
from concord.clearance.models import AgencyTask, SuppliedDocument
from concord.declarations import views
from concord.declarations.models import Declaration, DeclarationVersion, facets
from concord.errors import Forbidden, InvalidDocument, NotFound, Problem
from concord.messaging.models import EventRecord


def _visible(session, subject, declaration_id: str, purpose: str | None, reads: list | None, access):
    d = session.get(Declaration, declaration_id)
    if d is None:
        raise NotFound(f"declaration {declaration_id} not found")
    decision = authorize(subject, "read", d, purpose, session=session, access=access).require(
        f"declaration {declaration_id}")
    note_read(reads, f"declaration/{d.id}", decision)
    return d, decision


def note_read(reads: list | None, resource: str, decision) -> None:
    """Collect cross-agency reads; the API writes them to the audit log (own data and traders' own are not)."""
    if reads is not None and decision.basis not in ("owner", "role:lead-agency", "own-agency"):
        reads.append((resource, decision))


def _lens(session, subject, decision, purpose, reads, access) -> Lens:
    return Lens(subject, decision, access.lead_of(session), session, purpose, reads, access)


def get_declaration(session, subject, declaration_id: str, agency_names: dict, purpose: str | None = None,
                    reads: list | None = None, *, access) -> dict:
    """The declaration as the subject may see it: one status, every pending step, the allowed fields."""
    d, decision = _visible(session, subject, declaration_id, purpose, reads, access)
    version = session.get(DeclarationVersion, (d.id, d.version))
    tasks = session.scalars(select(AgencyTask).where(AgencyTask.declaration_id == d.id,
                                                     AgencyTask.declaration_version == d.version)).all()
    agency_of = {t.id: t.agency for t in session.scalars(select(AgencyTask).where(AgencyTask.declaration_id == d.id))}
    supplied = [(s, agency_of.get(s.task_id)) for s in session.scalars(
        select(SuppliedDocument).where(SuppliedDocument.declaration_id == d.id))]
    lens = _lens(session, subject, decision, purpose, reads, access)
    return cut(views.declaration_model(d, version, tasks, supplied, agency_names, lens.lead, decision.basis), lens)


def explanation(session, subject, declaration_id: str, purpose: str | None = None, reads: list | None = None, *,
                access, models) -> dict:
    """The model's explanation of the declaration's current version, for a green one explained on request
    (RiskStep._model_reason): from the inputs stored at its assessment, so exactly what it would have shown."""
    d, decision = _visible(session, subject, declaration_id, purpose, reads, access)
    lens = _lens(session, subject, decision, purpose, reads, access)
    if not may_see(assessment(True), lens):  # working data: asked for only by whoever may see the assessment
        raise Forbidden(f"the risk assessment of declaration {d.id} is the lead agency's working data")
    risk = session.get(DeclarationVersion, (d.id, d.version)).risk
    reason = next((r for r in risk.get("reasons", ()) if r.get("kind") == "model"), None)
    if reason is None:
        raise NotFound(f"declaration {d.id} version {d.version} was assessed without a learned model: its lane "
                       f"comes from its rules, watchlists and random draw (see its risk reasons)")
    if "inputs" in reason:
        inputs = dict(reason["inputs"])
        contributions = models.explain_stored(session, risk["versions"]["model"], inputs.pop("item"), inputs)
    else:
        contributions = reason.get("contributions", [])
    return cut({"declaration_id": envelope(d.id), "version": envelope(d.version), "explanation": assessment({
        "model": risk["versions"]["model"], "score": reason["score"], "lane": risk["lane"],
        "contributions": contributions})}, lens)


def lodged_between(lodged_from=None, lodged_to=None) -> list:
    """The conditions for declarations lodged from one day to another (both whole UTC days, `lodged_to` included)."""
    from datetime import datetime, time, timedelta, timezone

    day = lambda d: datetime.combine(d, time(0), tzinfo=timezone.utc)  # noqa: E731
    return ([Declaration.lodged_at >= day(lodged_from)] if lodged_from else []) + (
        [Declaration.lodged_at < day(lodged_to + timedelta(days=1))] if lodged_to else [])


def list_declarations(session, subject, *, status: str | None = None, limit: int = 50, offset: int = 0,
                      purpose: str | None = None, reads: list | None = None, access, count_cap: int | None = None,
                      lodged_from=None, lodged_to=None) -> dict:
    """Declarations the subject may see (lodged between two days, when given); the scope is part of the query, so
    totals reveal nothing hidden. With `count_cap`, counting stops past that many (and past this page): `complete`
    says whether `total` is exact, `more` whether a next page exists."""
    if not 1 <= limit <= 500:
        raise InvalidDocument("bad page size", [Problem("/limit", "limit must be between 1 and 500")])
    where = [declaration_scope(subject, purpose, session=session, access=access)]
    if status:
        where.append(Declaration.status == status)
    where += lodged_between(lodged_from, lodged_to)
    page = {}
    if count_cap is None:  # every visible row: for an agency, its ids as a set read through indexes
        total = session.scalar(select(func.count()).select_from(Declaration).where(
            declaration_scope(subject, purpose, session=session, access=access, as_set=True), *where[1:]))
    else:  # an agency's exact count visits all its rows (34,753 of 100,000: 0.25 s), more than the page costs
        cap = max(count_cap, offset + limit)
        counted = session.scalar(select(func.count()).select_from(  # ordered: the prefix is an index's
            select(Declaration.id).where(*where).order_by(Declaration.lodged_at.desc(), Declaration.id.desc())
            .limit(cap + 1).subquery()))
        total, page = min(counted, cap), {"complete": counted <= cap, "more": counted > offset + limit}
    rows = session.scalars(select(Declaration).where(*where).order_by(Declaration.lodged_at.desc(), Declaration.id.desc())
                           .limit(limit).offset(offset)).all()
    items = []
    for d in rows:
        decision = authorize(subject, "read", d, purpose, session=session, access=access)
        note_read(reads, f"declaration/{d.id}", decision)
        items.append(cut(views.list_item(d), _lens(session, subject, decision, purpose, reads, access)))
    return {"total": total, "limit": limit, "offset": offset, "items": items} | page


def timeline(session, subject, declaration_id: str, purpose: str | None = None, reads: list | None = None, *,
             access) -> list[dict]:
    """Every milestone with its time; an agency sees the shared milestones and its own tasks'."""
    d, decision = _visible(session, subject, declaration_id, purpose, reads, access)
    tasks = session.scalars(select(AgencyTask).where(AgencyTask.declaration_id == d.id)).all()
    lens = _lens(session, subject, decision, purpose, reads, access)
    events = session.scalars(select(EventRecord).where(EventRecord.declaration_id == d.id).order_by(EventRecord.seq))
    return cut([views.event_model(e, d, tasks, lens.lead) for e in events], lens)


def export_declarations(session, subject, *, purpose: str | None, reads: list | None = None, batch: int = 500,
                        access):
    """Every declaration the subject may see, each cut to its view: the bulk exit path, same rule as a read."""
    where = declaration_scope(subject, purpose, session=session, access=access)
    last = ""
    while True:
        rows = session.execute(select(Declaration, DeclarationVersion.document)
                               .join(DeclarationVersion, (DeclarationVersion.declaration_id == Declaration.id)
                                     & (DeclarationVersion.version == Declaration.version))
                               .where(where, Declaration.id > last).order_by(Declaration.id).limit(batch)).all()
        if not rows:
            return
        for d, document in rows:
            decision = authorize(subject, "read", d, purpose, session=session, access=access)
            if not decision.allowed:  # the scope and the rule agree; this guards against any drift between them
                continue
            note_read(reads, f"declaration/{d.id}", decision)
            yield cut(views.export_row(d, document), _lens(session, subject, decision, purpose, reads, access))
        last = rows[-1][0].id


def versions(session, subject, declaration_id: str, purpose: str | None = None, reads: list | None = None, *,
             access) -> list:
    """The versions the subject could have seen, oldest first, each cut to the view it had of that version."""
    d, decision = _visible(session, subject, declaration_id, purpose, reads, access)
    rows = session.scalars(select(DeclarationVersion).where(DeclarationVersion.declaration_id == d.id)
                           .order_by(DeclarationVersion.version)).all()
    tasks = session.scalars(select(AgencyTask).where(AgencyTask.declaration_id == d.id)).all()
    models = []
    for v in rows:
        at = d if v.version == d.version else views.version_at(d, v, tasks, facets(v.document))
        seen = decision if at is d else authorize(subject, "read", at, purpose, session=session, access=access)
        if at is not d and seen.allowed:
            note_read(reads, f"declaration/{d.id}", seen)
        models.append(views.version_model(v, seen))
    return cut(models, _lens(session, subject, decision, purpose, reads, access))


def _texts(value):
    """Every text and number in a cut read model (its values, not its keys)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)
    elif value is not None:
        yield str(value)
