"""Incidents and risk information notices (concord.incidents) as STIX 2.1 objects, each built from the reader's
own cut of the record (the incidents lane's queries apply the access rule), TLP-marked by what let it be read.

An incident becomes a STIX `incident` (name, description and `x_concord_*` properties: only the fields the reader's
view shows) and, where the view shows its indicators, an `indicator` that `indicates` it. A notice becomes an
`indicator` (its validity, its pattern where the view shows the indicators) with a `course-of-action` (the
recommended action) that `mitigates` it. TLP: its own agency's records TLP:AMBER; under agreements the strictest of
their onward sharing (stix.ONWARD_TLP); under a granted access request or break-glass TLP:AMBER+STRICT."""

from __future__ import annotations

import json
import uuid

import stix2

from concord.clock import as_utc
from concord.hunting.indicators import Indicators
from concord.hunting.sharing import _handling
from concord.hunting.stix import NAMESPACE, ONWARD_TLP, OWN_TLP, identity_of, pattern_of, strictest, tlp_marking

PAGE = 500


def level_of(session, decision) -> str:
    """The TLP level a read's decision gives: own agency, agreements (their handling), grants."""
    if decision.basis == "own-agency":
        return OWN_TLP
    levels = []
    for part in (decision.basis or "").split("+"):
        kind, _, names = part.partition(":")
        if kind == "agreement":
            levels += [ONWARD_TLP.get(_handling(session, a).get("onward_sharing", "forbidden"), "amber+strict")
                       for a in names.split(",") if a]
        else:  # a grant or a break-glass: need to know for this one record
            levels.append("amber+strict")
    return strictest(levels or ["amber+strict"])


def _sid(kind: str, key: str) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, key)}"


def _custom(doc: dict, keys) -> dict:
    return {f"x_concord_{k}": doc[k] for k in keys if doc.get(k) not in (None, [], {}, "")}


def incidents(session, subject, purpose, access, owner: str | None = None,
              reads: list | None = None) -> list[tuple[object, object]]:
    """(STIX object, date added) for every incident the subject may read (of `owner`), each cut to its view;
    the cross-agency reads of those shown go to `reads`."""
    from concord.access.policy import authorize
    from concord.incidents.handlers import incident_ref
    from concord.incidents.models import Incident
    from concord.incidents.queries import list_incidents

    out, offset = [], 0
    while True:
        noted: list = []
        page = list_incidents(session, subject, purpose=purpose, limit=PAGE, offset=offset, reads=noted, access=access)
        shown = {item["id"] for item in page["items"] if not owner or item["owner_agency"] == owner}
        if reads is not None:
            reads += [(r, d) for r, d in noted if r.partition("/")[2] in shown]
        for item in page["items"]:
            if item["id"] not in shown:
                continue
            row = session.get(Incident, item["id"])
            level = level_of(session, authorize(subject, "read", incident_ref(row), purpose, session=session,
                                                access=access))
            out += _incident(item, level, row)
        offset += PAGE
        if offset >= page["total"]:
            return out


def _incident(item: dict, level: str, row) -> list:
    doc, mark = item.get("document") or {}, tlp_marking(level)
    reported, updated = as_utc(row.reported_at), as_utc(row.updated_at)
    who = identity_of(item["owner_agency"])
    common = dict(created_by_ref=who.id, object_marking_refs=[mark.id], allow_custom=True)
    incident = stix2.v21.Incident(
        id=_sid("incident", "incident/" + item["id"]), created=reported, modified=updated,
        name=doc.get("title") or f"{item['owner_agency']} incident {item['id']}",
        description=doc.get("summary"), external_references=[{"source_name": "concord", "external_id": item["id"]}],
        x_concord_status=item["status"], **_custom(doc, ("category", "severity", "occurred_at", "location", "found",
                                                         "containers", "conveyance", "parties", "declarations")),
        **common)
    objects = [mark, who, incident]
    ind = Indicators.model_validate(doc["indicators"]) if doc.get("indicators") else None
    if ind is not None and not ind.empty() and (pattern := pattern_of(ind)):
        indicator = stix2.v21.Indicator(
            id=_sid("indicator", "incident-indicator/" + item["id"]), created=reported,
            modified=updated, name=f"indicators of {incident.name}", pattern=pattern, pattern_type="stix",
            valid_from=reported, **({"x_concord_cel_rule": ind.rule} if ind.rule else {}), **common)
        relation = stix2.v21.Relationship(
            id=_sid("relationship", "incident-indicates/" + item["id"]), created=reported,
            modified=updated, relationship_type="indicates", source_ref=indicator.id,
            target_ref=incident.id, **common)
        objects += [indicator, relation]
    return [(o, reported) for o in objects]


def notices(session, subject, access, issuer: str | None = None,
            reads: list | None = None) -> list[tuple[object, object]]:
    """(STIX object, date added) for every notice the subject's agency issued or received, cut to its view."""
    from concord.access.records import NoticeAt, notice
    from concord.incidents.models import Notice
    from concord.incidents.queries import list_notices

    out, offset = [], 0
    while True:
        noted: list = []
        page = list_notices(session, subject, limit=PAGE, offset=offset, reads=noted, access=access)
        shown = {item["id"] for item in page["items"] if not issuer or item["issuer_agency"] == issuer}
        if reads is not None:
            reads += [(r, d) for r, d in noted if r.partition("/")[2] in shown]
        for item in page["items"]:
            if item["id"] not in shown:
                continue
            row = session.get(Notice, item["id"])
            level = level_of(session, notice(subject, "read", NoticeAt(row.id, row.issuer_agency, row.purpose),
                                             session, access))
            out += _notice(item, level, row)
        offset += PAGE
        if offset >= page["total"]:
            return out


def _notice(item: dict, level: str, row) -> list:
    doc, mark = item.get("document") or {}, tlp_marking(level)
    issued = as_utc(row.issued_at)
    who = identity_of(item["issuer_agency"])
    common = dict(created_by_ref=who.id, object_marking_refs=[mark.id], allow_custom=True)
    ind = Indicators.model_validate(doc["indicators"]) if doc.get("indicators") else None
    pattern = pattern_of(ind) if ind is not None else None
    # Without the indicators in the reader's view, the pattern says "any declaration": the notice is still a notice.
    indicator = stix2.v21.Indicator(
        id=_sid("indicator", "notice/" + item["id"]), created=issued, modified=issued,
        name=doc.get("title") or f"{item['issuer_agency']} notice {item['id']}", description=doc.get("summary"),
        pattern=pattern or "[x-concord-declaration:id != '']", pattern_type="stix",
        valid_from=as_utc(row.valid_from) if doc.get("valid_from") else issued,
        valid_until=as_utc(row.valid_until) if doc.get("valid_until") else None,
        external_references=[{"source_name": "concord", "external_id": item["id"]}],
        **_custom(doc, ("purpose", "feedback_due_at", "incident_id")),
        **({"x_concord_cel_rule": ind.rule} if ind is not None and ind.rule else {}), **common)
    objects = [mark, who, indicator]
    if doc.get("recommended_action"):
        action = stix2.v21.CourseOfAction(
            id=_sid("course-of-action", "notice-action/" + item["id"]), created=issued,
            modified=issued, name=doc["recommended_action"], **common)
        objects += [action, stix2.v21.Relationship(
            id=_sid("relationship", "notice-action-rel/" + item["id"]), created=issued,
            modified=issued, relationship_type="mitigates", source_ref=action.id, target_ref=indicator.id,
            **common)]
    return [(o, issued) for o in objects]


def plain(pairs: list) -> list[tuple[dict, object]]:
    """Objects as JSON dicts, each once (markings and identities repeat across records), in order."""
    seen, out = set(), []
    for o, added in pairs:
        if o.id not in seen:
            seen.add(o.id)
            out.append((json.loads(o.serialize()), added))
    return out
