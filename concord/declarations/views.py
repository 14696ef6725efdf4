"""The read models of a declaration, built whole with every field classified (concord.access.exits), for one cut."""

from __future__ import annotations

from concord.access.exits import (REASON, Field, assessment, doc, document, envelope, note, outcome, party, reason,
                                  scoped, step)
from concord.access.policy import DeclarationAt, Ref

WATCHLIST_HIT = ("kind", "entry_id", "agency", "lane", "forced")
SCREENING_HIT = ("kind", "party", "entry_id", "entry_ref", "list", "owner_agency", "fingerprint", "lane",
                 "force_lane", "decision")


def _iso(at):
    return at.isoformat() if at else None


def facets_of(d) -> tuple[str, str, str]:
    """What an agreement's condition is checked against, for a resource that concerns this declaration."""
    return d.hs_chapters, d.origins, d.office_of_entry


def decision_ref(task, facets) -> Ref:
    """An agency's decisions on its task are its inspection results: its `inspection_result` scopes share them."""
    return Ref("inspection_result", task.id, task.agency, facets)


def risk_reason(r: dict, facets, lead: str):
    """A risk reason with its owner: the lead's own reasons as they are; another agency's intelligence as a reason
    field, which others see only under the owner's agreement or grant, else as hit / no-hit with whom to ask."""
    kind = r.get("kind")
    if kind == "model" and "inputs" in r:  # what explains it on request (RiskStep._model_reason): kept, not shown
        return {k: v for k, v in r.items() if k != "inputs"}
    if kind == "watchlist" and r.get("agency"):
        owner = r["agency"]
        stub = {k: r[k] for k in WATCHLIST_HIT if k in r} | {
            "hit": True, "ask_agency": owner,
            "how": f"POST /api/v1/access-requests with resource watchlist_entry/{r['entry_id']}"}
    elif kind == "screening" and r.get("owner_agency"):
        owner = r["owner_agency"]
        if r.get("sharing") == "full":  # a list its owner shares in full with every agency
            return r
        stub = {k: r[k] for k in SCREENING_HIT if k in r} | {"hit": True, "ask_agency": owner}
    else:
        return r
    if owner == lead:
        return r
    return reason(r, owner, Ref("watchlist_entry", r.get("entry_id", ""), owner, facets), stub)


def risk_model(risk: dict, facets, lead: str):
    return assessment(risk | {"reasons": [risk_reason(r, facets, lead) for r in risk.get("reasons", [])]})


def _decided(t, facets) -> dict:
    """What an agency decided on its task: addressed to the trader, so the trader and the lead see it too."""
    last, ref = t.last_decision or {}, decision_ref(t, facets)
    out = {}
    if t.status == "documents_requested":
        out["requested_documents"] = outcome(last.get("documents", []), t.agency, ref, "/documents")
    if last.get("reason") and t.status != "open":
        out["reason"] = outcome(last.get("reason"), t.agency, ref, "/reason")
        out["conditions"] = outcome(last.get("conditions", []), t.agency, ref, "/conditions")
    return out


def step_model(t, agency_names: dict, facets):
    view = {"task_id": t.id, "agency": t.agency, "agency_name": agency_names.get(t.agency, t.agency),
            "task_type": t.task_type, "status": t.status, "due_at": t.due_at.isoformat(),
            "decided_at": _iso(t.decided_at)}
    return step({k: envelope(v) for k, v in view.items()} | _decided(t, facets) | {
        "reasons": assessment(t.reasons, t.agency), "overdue": assessment(t.overdue_raised, t.agency)}, t.agency)


def outcome_reason(d, tasks, lead: str):
    """Why the declaration ended: the refusing agency's reason, or the trader's own words when cancelled."""
    if d.outcome_reason is None:
        return envelope(None)
    if d.status == "cancelled":
        return note(d.outcome_reason)
    refused = next((t for t in tasks if t.status == "refused"), None)
    if refused is None:  # no refusing task to name an owner: the lead's alone (deny by default)
        return assessment(d.outcome_reason)
    return outcome(d.outcome_reason, refused.agency, decision_ref(refused, facets_of(d)), "/reason")


def declaration_model(d, version, tasks, supplied, agency_names: dict, lead: str, basis: str) -> dict:
    """The declaration whole: envelope, document, steps, risk and outcome, each field with its class."""
    facets = facets_of(d)
    pending = [step(f"{agency_names.get(t.agency, t.agency)}: {t.task_type.replace('_', ' ')} "
                    f"({t.status.replace('_', ' ')})", t.agency) for t in tasks if t.open]
    if d.status == "cleared":
        pending.append(doc("goods arrival at " + d.office_of_entry, "/office_of_entry", stub="goods arrival"))
    return {"id": envelope(d.id), "lrn": doc(d.lrn, "/lrn"), "type": doc(d.type, "/type"),
            "status": envelope(d.status), "version": envelope(d.version),
            "office_of_entry": doc(d.office_of_entry, "/office_of_entry"), "lodged_at": envelope(_iso(d.lodged_at)),
            "arrived_at": envelope(_iso(d.arrived_at)), "released_at": envelope(_iso(d.released_at)),
            "outcome_reason": outcome_reason(d, tasks, lead),
            "steps": [step_model(t, agency_names, facets) for t in tasks], "pending": pending,
            "document": document(version.document), "access_basis": envelope(basis),
            "lane": assessment(d.lane), "risk": risk_model(version.risk, facets, lead),
            "engagements": assessment(version.engagements),
            "supplied_documents": [step({"task_id": s.task_id, "type": s.type, "reference": s.reference,
                                         "item": s.item}, agency) for s, agency in supplied]}


def list_item(d) -> dict:
    return {"id": envelope(d.id), "lrn": doc(d.lrn, "/lrn"), "type": doc(d.type, "/type"),
            "status": envelope(d.status), "version": envelope(d.version), "lodged_at": envelope(_iso(d.lodged_at)),
            "released_at": envelope(_iso(d.released_at))}


def export_row(d, content: dict) -> dict:
    return {"id": envelope(d.id), "status": envelope(d.status), "version": envelope(d.version),
            "document": document(content)}


def version_at(d, v, tasks, chapters_origins) -> DeclarationAt:
    """The declaration as version v stood: its facets, and the agencies its routing engaged, with their fields."""
    engaged: dict = {}
    for t in tasks:
        if t.declaration_version == v.version and t.fields != ["/"]:
            e = engaged.setdefault(t.agency, {"fields": set(), "rules": set()})
            e["fields"] |= set(t.fields)
            e["rules"] |= {r.get("rule", "") for r in t.reasons}
    engaged = {a: {"fields": sorted(e["fields"]), "rules": sorted(e["rules"])} for a, e in engaged.items()}
    chapters, origins = chapters_origins
    return DeclarationAt(d.id, d.trader_id, chapters, origins, v.document.get("office_of_entry", ""), engaged)


def version_model(v, decision) -> object:
    """One version, under the decision for that version: hidden where the subject could not have seen it."""
    return scoped({"version": envelope(v.version), "submitted_at": envelope(v.submitted_at.isoformat()),
                   "submitted_by": party(v.submitted_by), "document": document(v.document),
                   "lane": assessment(v.risk.get("lane")), "engagements": assessment(v.engagements)}, decision)


# Each event's payload fields by class; an event or a field not listed is the lead's alone (deny by default).
_TASK = {"task_id": "envelope"}
EVENT_FIELDS = {
    "declaration.lodged": {"version": "envelope", "trader_id": "party", "lrn": "doc:/lrn"},
    "declaration.accepted": {"version": "envelope"},
    "declaration.amended": {"version": "envelope"},
    "declaration.cancelled": {"reason": "note"},
    "declaration.goods_arrived": {"location": "doc:/office_of_entry"},
    "declaration.cleared": {"version": "envelope", "awaiting": "envelope"},
    "declaration.released": {"version": "envelope"},
    "declaration.goods_exited": {"gate": "doc:/office_of_entry"},
    "declaration.refused": {"by_agency": "envelope", "reason": "outcome:/reason"},
    "task.created": _TASK | {"task_type": "envelope", "due_at": "envelope", "rules": "assessment"},
    "task.decided": _TASK | {"decision": "envelope", "status": "envelope", "reason": "outcome:/reason"},
    "task.documents_requested": _TASK | {"documents": "outcome:/documents"},
    "task.documents_supplied": _TASK | {"documents": "envelope"},
    "task.goods_inspected": _TASK | {"result": "outcome:/result"},
    "task.overdue": _TASK | {"due_at": "envelope"},
    # joint inspections: the appointment is the trader's and every engaged agency's; a finding is its agency's
    "inspection.requested": {"inspection_id": "envelope", "facility": "envelope", "agencies": "envelope"},
    "inspection.proposed": {"inspection_id": "envelope", "facility": "envelope", "bay": "envelope",
                            "slot_start": "envelope", "slot_end": "envelope", "agencies": "envelope"},
    "inspection.invitation_answered": {"inspection_id": "envelope", "accepted": "envelope", "reason": "assessment"},
    "inspection.confirmed": {"inspection_id": "envelope", "facility": "envelope", "bay": "envelope",
                             "slot_start": "envelope", "slot_end": "envelope"},
    "inspection.rescheduled": {"inspection_id": "envelope", "reason": "envelope"},
    "inspection.no_show": {"inspection_id": "envelope", "party": "envelope"},
    "inspection.started": {"inspection_id": "envelope", "bay": "envelope", "containers": "doc:/transport/containers"},
    "inspection.finding_recorded": _TASK | {
        "inspection_id": "envelope", "finding_id": "envelope", "result": "reason:/result",
        "findings": "reason:/findings", "seals_before": "reason:/seals_before", "seals_after": "reason:/seals_after",
        "photos": "reason:/photos", "samples": "reason:/samples", "containers": "doc:/transport/containers"},
    "inspection.lab_result_recorded": _TASK | {"inspection_id": "envelope", "sample_id": "envelope",
                                               "result": "reason:/result"},
    "inspection.finished": {"inspection_id": "envelope", "outcome": "envelope"},
    "inspection.outcome_settled": {"inspection_id": "envelope", "outcome": "envelope"},
}
# The agency's own label for the risk model, and which of its officers works a task (task.reassigned: task_id,
# assignee, previous): the whole event is the agency's working data, for it and the lead; never the trader's.
OWNERS_ONLY = {"risk.outcome_recorded", "task.reassigned"}


def event_model(e, d, tasks: list, lead: str):
    """One timeline event: its envelope, and each payload field with its class and owner."""
    fields = EVENT_FIELDS.get(e.name)
    p = e.payload
    agency = e.agency or p.get("by_agency")
    task = next((t for t in tasks if t.id == p.get("task_id")), None) or next(
        (t for t in tasks if e.name == "declaration.refused" and t.agency == agency and t.status == "refused"), None)
    ref = decision_ref(task, facets_of(d)) if task is not None else None
    head = {"event": envelope(e.name), "at": envelope(e.occurred_at.isoformat()), "agency": envelope(e.agency)}
    if fields is None:
        return assessment(head | {k: envelope(v) for k, v in p.items()}, e.agency if e.name in OWNERS_ONLY else lead)
    body = {}
    for k, v in p.items():
        kind = fields.get(k, "assessment")
        if kind == "envelope":
            body[k] = envelope(v)
        elif kind == "party":
            body[k] = party(v)
        elif kind == "note":
            body[k] = note(v)
        elif kind.startswith("doc:"):
            body[k] = doc(v, kind[4:])
        elif kind.startswith("outcome:") and agency is not None:
            body[k] = outcome(v, agency, ref, kind[8:])
        elif kind.startswith("reason:") and agency is not None:  # its agency's alone; others as agreements say
            body[k] = Field(v, REASON, agency, pointer=kind[7:], ref=ref)
        else:
            body[k] = assessment(v, e.agency)
    model = head | body
    return step(model, e.agency) if e.agency is not None else model
