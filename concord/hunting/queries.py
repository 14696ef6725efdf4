"""The hunt's report: what its issuer may see of the declarations it matched, cut per declaration.

A declaration the reader may not read is not in the report at all, nor in its count; nor is one that the reader
may read but not on any field that matched (the match itself is data of the hidden field)."""

from __future__ import annotations

import re

from sqlalchemy import select

from concord.access.exits import Lens, cut, doc, envelope, step
from concord.access.policy import authorize
from concord.declarations.models import Declaration
from concord.declarations.queries import note_read
from concord.errors import InvalidDocument, NotFound, Problem
from concord.hunting.models import Hunt, HuntMatch

_INDEX = re.compile(r"/\d+(?=/|$)")


def visible_hunt(session, subject, hunt_id: str) -> Hunt:
    """The hunt, to its issuing agency's readers and the lead agency's; to anyone else it does not exist."""
    hunt = session.get(Hunt, hunt_id)
    if hunt is None or subject is None or subject.is_trader or not subject.has("officer", "supervisor", "auditor") \
            or (subject.agency != hunt.agency and not subject.lead):
        raise NotFound(f"hunt {hunt_id} not found")
    return hunt


def _covers(lens: Lens, pointer: str) -> bool:
    return lens.covers(pointer) or lens.covers(_INDEX.sub("/*", pointer))


def _value(document: dict, pointer: str):
    node = document
    for part in pointer.strip("/").split("/"):
        node = node[int(part)] if isinstance(node, list) else node.get(part) if part else node
    return node


def hunt_report(session, subject, hunt_id: str, *, purpose: str | None = None, limit: int = 100, offset: int = 0,
                reads: list | None = None, access) -> dict:
    """The hunt and its matches as the reader may see them; totals count only what is shown."""
    from concord.declarations.models import DeclarationVersion

    if not 1 <= limit <= 500:
        raise InvalidDocument("bad page size", [Problem("/limit", "limit must be between 1 and 500")])
    hunt = visible_hunt(session, subject, hunt_id)
    lead = access.lead_of(session)
    rows = session.execute(
        select(HuntMatch, Declaration, DeclarationVersion.document)
        .join(Declaration, Declaration.id == HuntMatch.declaration_id)
        .join(DeclarationVersion, (DeclarationVersion.declaration_id == Declaration.id)
              & (DeclarationVersion.version == Declaration.version))
        .where(HuntMatch.hunt_id == hunt.id).order_by(HuntMatch.declaration_id)).all()
    items = []
    for m, d, document in rows:
        decision = authorize(subject, "read", d, purpose, session=session, access=access)
        if not decision.allowed:
            continue
        lens = Lens(subject, decision, lead, session, purpose, reads, access)
        hits = [h for h in m.hits if h["pointer"] != "/" and _covers(lens, h["pointer"])]
        if not hits and not lens.whole:
            continue
        note_read(reads, f"declaration/{d.id}", decision)
        model = {"declaration_id": envelope(d.id), "status": envelope(d.status),
                 "lodged_at": envelope(d.lodged_at.isoformat()), "pending": envelope(m.pending),
                 "hits": [{"indicator": envelope(h["indicator"]), "pointer": envelope(h["pointer"]),
                           "value": doc(_value(document, h["pointer"]) if h["pointer"] != "/" else None,
                                        _INDEX.sub("/*", h["pointer"]) if not lens.covers(h["pointer"])
                                        else h["pointer"])} for h in hits]}
        if m.task_id:
            model["hold"] = step({"task_id": m.task_id, "agency": hunt.action.get("agency")},
                                 hunt.action.get("agency") or hunt.agency)
        items.append(cut(model, lens))
    page = items[offset:offset + limit]
    return {"hunt": _hunt_model(hunt), "total": len(items), "limit": limit, "offset": offset, "items": page}


def _hunt_model(hunt: Hunt) -> dict:
    """The hunt itself: its issuer's own record (only its issuer and the lead reach this)."""
    return {"id": hunt.id, "agency": hunt.agency, "source": hunt.source, "indicators": hunt.indicators,
            "action": hunt.action, "lookback_days": hunt.lookback_days, "valid_until": hunt.valid_until.isoformat(),
            "started_at": hunt.started_at.isoformat(), "started_by": hunt.started_by,
            "watchlist_entries": hunt.watchlist_entries, "rule_id": hunt.rule_id}


def hunts_of(session, subject, agency: str | None = None) -> list[dict]:
    """The hunts of the reader's agency (the lead: every agency's, or the one named)."""
    if subject is None or subject.is_trader or not subject.has("officer", "supervisor", "auditor"):
        return []
    q = select(Hunt).order_by(Hunt.started_at.desc())
    if not subject.lead:
        q = q.where(Hunt.agency == subject.agency)
    elif agency:
        q = q.where(Hunt.agency == agency)
    return [_hunt_model(h) for h in session.scalars(q.limit(500))]
