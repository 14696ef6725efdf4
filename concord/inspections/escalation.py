"""A finding becomes an incident or a notice in one step, prefilled from the finding and its declaration.

The draft is built from what the officer's agency may see: its own finding, and the declaration as the access rule
cuts it for that agency (goods, HS codes, origins, containers, conveyance, parties the agency's view covers). A field
the agency cannot read never reaches the incident, which is then the agency's own record like any other."""

from __future__ import annotations

import re
from datetime import timedelta

from concord.clock import as_utc
from concord.declarations.queries import get_declaration
from concord.errors import NotFound
from concord.inspections.models import InspectionFinding, JointInspection

QUANTITY = re.compile(r"^\d{1,15}(\.\d{1,3})?$")  # the incident's quantity format; anything else is left out
PARTY_ROLES = ("importer", "exporter")


def incident_draft(session, subject, finding_id: str, *, purpose: str | None = None, reads: list | None = None,
                   access) -> dict:
    """The incident document a finding becomes, for an officer of the agency that recorded it; 404 otherwise."""
    f = session.get(InspectionFinding, finding_id)
    insp = session.get(JointInspection, f.inspection_id) if f is not None else None
    if insp is None or subject is None or subject.agency != f.agency or not subject.has("officer", "supervisor"):
        raise NotFound(f"finding {finding_id} not found among your agency's findings")
    declaration = get_declaration(session, subject, insp.declaration_id, {}, purpose, reads, access=access)
    doc = declaration.get("document") or {}
    transport = doc.get("transport") or {}
    found = [_found(item) for item in doc.get("items") or () if isinstance(item, dict)]
    goods = next((x["goods"] for x in found), "goods")
    parties = [{"role": role, "name": p["name"], **({"id": p["id"]} if p.get("id") else {})}
               for role in PARTY_ROLES if isinstance(p := doc.get(role), dict) and p.get("name")]
    office = doc.get("office_of_entry")
    return {
        "category": "suspicious_consignment" if f.result == "irregular" else "interception",
        "severity": "medium",
        "title": f"{f.result} finding at inspection {insp.id}: {goods}"[:200],
        "summary": (f"{f.findings}\n\nFrom {f.agency}'s finding {f.id} at joint inspection {insp.id} "
                    f"({insp.facility}, bay {insp.bay}) on declaration {insp.declaration_id}.")[:4000],
        "occurred_at": as_utc(f.recorded_at).isoformat(),
        "location": {"place": f"{insp.facility} bay {insp.bay}"[:200], **({"office": office} if office else {})},
        "found": found[:100],
        "declarations": [insp.declaration_id],
        "containers": list(transport.get("containers") or [])[:1000],
        **({"conveyance": transport["conveyance"]} if transport.get("conveyance") else {}),
        "parties": parties,
    }


def notice_draft(incident: dict, now, given: dict) -> dict:
    """The notice a finding makes, from its incident draft: the declaration's containers, conveyance, parties and
    HS codes (six digits) with their origins as indicators, valid 30 days, feedback due in 7, unless `given`."""
    found = incident["found"]
    indicators = {"containers": incident["containers"],
                  "conveyances": [incident["conveyance"]] if incident.get("conveyance") else [],
                  "parties": [p.get("id") or p["name"] for p in incident["parties"]],
                  "hs": sorted({x["hs_code"][:6] for x in found if x.get("hs_code")}),
                  "origins": sorted({x["origin"] for x in found if x.get("origin")})}
    return {"title": incident["title"], "summary": incident["summary"], "indicators": indicators,
            "valid_until": (now + timedelta(days=30)).isoformat(),
            "feedback_due_at": (now + timedelta(days=7)).isoformat()} | given


def _found(item: dict) -> dict:
    out = {"goods": str(item.get("description") or f"HS {item.get('hs_code', '')}".strip())[:500] or "goods"}
    for key in ("hs_code", "origin", "unit"):
        if item.get(key):
            out[key] = item[key]
    quantity = str(item.get("quantity") or "")
    if QUANTITY.match(quantity):
        out["quantity"] = quantity
    return out
