"""A record the caller may not see and one that does not exist answer alike, on every route that takes an id.

Each case sends the same request twice, once naming a hidden record and once a missing one of the same shape,
and compares the status and the body with the id blanked out (ids, times and fixed-clock values aside)."""

import json
from datetime import timedelta

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from concord.access.messages import IssueToken
from concord.agreements.messages import RequestAccess
from concord.agreements.models import SharingAgreement
from concord.app import create_app
from concord.audit.models import AuditEntry
from concord.clearance.models import AgencyTask
from concord.declarations.messages import SubmitDeclaration
from concord.declarations.schemas import parse_declaration
from concord.ids import new_id
from concord.risk.messages import AddWatchlistEntry, CreateRule
from support import declaration, demo_config_text, item, subjects

JUSTIFY = "named in an open case, needs a look"


def as_(app, user, command):
    return app.bus.handle(command, subject=subjects(app)[user])


@pytest.fixture
def world(concord):
    """A textiles declaration (customs only), a banana one (plant health engaged), an NPPO watchlist entry,
    an access request between ENV and customs, and a client per user with a real token."""
    lodge = lambda doc: as_(concord, "hollandfoods", SubmitDeclaration(
        document=parse_declaration(doc).model_dump(mode="json")))["id"]
    w = {"textiles": lodge(declaration()),
         "bananas": lodge(declaration(lrn="B", items=[item("080390", "Bananas", "EC", documents=["N851"])]))}
    w["eurotech"] = as_(concord, "eurotech", SubmitDeclaration(document=parse_declaration(declaration(
        lrn="E", declarant={"id": "DE345678912", "name": "EuroTech", "country": "DE", "address": "Hafenstrasse 1, "
                            "Hamburg"})).model_dump(mode="json")))["id"]
    with concord.sessions() as s:
        w["eurotech_task"] = s.scalar(select(AgencyTask.id).where(AgencyTask.declaration_id == w["eurotech"]))
        w["nppo_task"] = s.scalar(select(AgencyTask.id).where(AgencyTask.declaration_id == w["bananas"],
                                                              AgencyTask.agency == "NPPO"))
        w["cus_task"] = s.scalar(select(AgencyTask.id).where(AgencyTask.declaration_id == w["textiles"]))
        w["vet_fda"] = s.scalar(select(SharingAgreement.id).where(SharingAgreement.key == "SOP-VET-FDA-FOOD-RESULTS"))
    later = (concord.clock.now() + timedelta(days=30)).isoformat()
    w["entry"] = as_(concord, "nppo-officer", AddWatchlistEntry(entry={
        "kind": "party", "value": {"name": "Verdant Seeds Trading Ltd", "country": "KE"},
        "reason": "uncertified seed potatoes", "severity": "medium", "expires_at": later}))["id"]
    w["rule"] = as_(concord, "cus-officer", CreateRule(rule={
        "id": "ORACLE-TEST", "name": "Any bananas", "expression": "true", "rationale": "a rule to retire"}))["id"]
    w["request"] = as_(concord, "env-officer", RequestAccess(resource=f"declaration/{w['textiles']}",
                                                              purpose="environmental_protection",
                                                              justification=JUSTIFY))["id"]
    with concord.sessions() as s:
        w["audit"] = s.scalar(select(func.max(AuditEntry.seq)).where(AuditEntry.agency != "POL",
                                                                      AuditEntry.owner.is_distinct_from("POL")))
    web = create_app(concord, background=False)
    tokens = {u: as_(concord, "admin", IssueToken(user_id=u))["token"] for u in (
        "pol-officer", "pol-liaison", "fda-officer", "eurotech", "hollandfoods", "nppo-officer", "cus-officer")}
    w["token"] = as_(concord, "admin", IssueToken(user_id="mar-officer"))["token_id"]
    w["http"] = {u: TestClient(web, headers={"Authorization": f"Bearer {t}"}) for u, t in tokens.items()}
    return w


def agreement_body(key: str) -> dict:
    (row,) = [a for a in yaml.safe_load(demo_config_text())["agreements"] if a["key"] == "SOP-VET-FDA-FOOD-RESULTS"]
    row = {k: v for k, v in row.items() if k != "signed_by"} | {"key": key}
    return row | {"valid_from": row["valid_from"].isoformat(), "valid_until": row["valid_until"].isoformat()}


def missing_like(ident) -> str | int:
    """An id of the same shape that names nothing."""
    if isinstance(ident, int):
        return ident + 10_000
    if ident.startswith(("SOP-", "MOU-")):
        return ident[:-1] + ("X" if ident[-1] != "X" else "Y")
    return new_id(ident[:3])


# name: (user, method, path with {id}, json body with {id} (or None), which record of the world is hidden)
CASES = {
    "declaration read": ("pol-officer", "GET", "/api/v1/declarations/{id}", None, "textiles"),
    "declaration timeline": ("pol-officer", "GET", "/api/v1/declarations/{id}/timeline", None, "textiles"),
    "declaration versions": ("pol-officer", "GET", "/api/v1/declarations/{id}/versions", None, "textiles"),
    "declaration read for a purpose": ("pol-officer", "GET", "/api/v1/declarations/{id}?purpose=criminal_investigation",
                                       None, "textiles"),
    "declaration read by another trader": ("eurotech", "GET", "/api/v1/declarations/{id}", None, "textiles"),
    "declaration amend": ("eurotech", "PUT", "/api/v1/declarations/{id}",
                          declaration(declarant={"id": "DE345678912", "name": "EuroTech", "country": "DE",
                                                     "address": "Hafenstrasse 1, Hamburg"}), "textiles"),
    "declaration cancel": ("eurotech", "POST", "/api/v1/declarations/{id}/cancel", {"reason": "no"}, "textiles"),
    "documents supplied": ("eurotech", "POST", "/api/v1/declarations/{id}/documents",
                           {"task_id": "{id}", "documents": [{"type": "N851", "reference": "X-1"}]}, "textiles"),
    "documents for another trader's task": ("hollandfoods", "POST", "/api/v1/declarations/{bananas}/documents",
                                            {"task_id": "{id}", "documents": [{"type": "N851", "reference": "X-1"}]},
                                            "eurotech_task"),
    "arrival": ("nppo-officer", "POST", "/api/v1/declarations/{id}/arrival", {}, "textiles"),
    "task decision": ("pol-officer", "POST", "/api/v1/tasks/{id}/decisions",
                      {"decision": "approve", "reason": "fine", "decision_id": "x-1"}, "nppo_task"),
    "agreement amend": ("pol-liaison", "PUT", "/api/v1/agreements/{id}", "agreement", "SOP-VET-FDA-FOOD-RESULTS"),
    "agreement sign": ("pol-liaison", "POST", "/api/v1/agreements/{id}/signatures", None, "vet_fda"),
    "agreement status": ("pol-liaison", "POST", "/api/v1/agreements/{id}/status",
                         {"status": "suspended", "reason": "take over"}, "vet_fda"),
    "access request on a declaration": ("pol-officer", "POST", "/api/v1/access-requests",
                                        {"resource": "declaration/{id}", "purpose": "criminal_investigation",
                                         "justification": JUSTIFY}, "textiles"),
    "access request on a watchlist entry": ("fda-officer", "POST", "/api/v1/access-requests",
                                            {"resource": "watchlist_entry/{id}", "provider": "NPPO",
                                             "purpose": "public_health", "justification": JUSTIFY}, "entry"),
    "access request decision": ("pol-liaison", "POST", "/api/v1/access-requests/{id}/decision",
                                {"grant": True, "reason": "fine"}, "request"),
    "watchlist removal": ("pol-officer", "DELETE", "/api/v1/risk/watchlist/{id}?reason=stale", None, "entry"),
    "screening decision": ("cus-officer", "POST", "/api/v1/screening/decisions",
                           {"fingerprint": "f" * 32, "entry_id": "{id}", "decision": "false_positive",
                            "reason": "another company"}, "entry"),
    "rule retirement": ("pol-officer", "POST", "/api/v1/risk/rules/{id}/retire", {"reason": "old"}, "rule"),
    "outcome": ("pol-officer", "POST", "/api/v1/risk/outcomes", {"declaration_id": "{id}", "result": "compliant"},
                "textiles"),
    "audit entry": ("pol-officer", "GET", "/api/v1/audit/entries/{id}", None, "audit"),
    "token revocation": ("pol-officer", "DELETE", "/api/v1/tokens/{id}", None, "token"),
    # last: breaking the glass opens the record (by design, logged and told to its owner) for what follows
    "break-glass": ("pol-officer", "POST", "/api/v1/break-glass",
                    {"resource": "declaration/{id}", "purpose": "criminal_investigation",
                     "justification": JUSTIFY + " urgently now"}, "textiles"),
}


def fill(body, ident):
    if isinstance(body, dict):
        return {k: fill(v, ident) for k, v in body.items()}
    return str(ident) if body == "{id}" else body.replace("{id}", str(ident)) if isinstance(body, str) else body


def answer(world, client, method, path, body, ident):
    if body == "agreement":
        body = agreement_body(str(ident))
    r = client.request(method, path.replace("{id}", str(ident)).replace("{bananas}", world["bananas"]),
                       json=None if body is None else fill(body, ident))
    out = json.loads(r.text.replace(str(ident), "<ID>"))
    if isinstance(out, dict):  # a created record has its own id; everything else must match
        out.pop("id", None)
    return r.status_code, out


def test_hidden_and_missing_answer_alike(world):
    differ = []
    for case, (user, method, path, body, which) in CASES.items():
        hidden = world.get(which, which)
        seen = answer(world, world["http"][user], method, path, body, hidden)
        unseen = answer(world, world["http"][user], method, path, body, missing_like(hidden))
        if seen != unseen or seen[0] not in (201, 403, 404):  # refused, or filed for the provider to decide
            differ.append(f"{case}: hidden {seen} / missing {unseen}")
    assert differ == [], "\n".join(differ)
