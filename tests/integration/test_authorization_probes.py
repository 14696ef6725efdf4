"""Every user of the demo config tries every mutating action outside its mandate: each is refused, nothing is written.

After the probes, one user inside each mandate does the same action, which must succeed: a probe answered 404 by a
wrong path would otherwise pass for a refusal."""

import hashlib
from datetime import timedelta

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from concord.access.messages import IssueToken
from concord.access.models import User
from concord.agreements.messages import DraftAgreement, RequestAccess
from concord.agreements.models import SharingAgreement
from concord.app import create_app
from concord.clearance.messages import DecideTask
from concord.clearance.models import AgencyTask
from concord.declarations.messages import SubmitDeclaration
from concord.declarations.schemas import parse_declaration
from concord.risk.messages import AddWatchlistEntry, CreateRule
from concord.schema import metadata
from support import declaration, demo_config_text, item, subjects

VET_FDA = "SOP-VET-FDA-FOOD-RESULTS"
WHY = "named in an open case, needs a look urgently"


def as_(app, user, command):
    return app.bus.handle(command, subject=subjects(app)[user])


def agreement_doc(**changes) -> dict:
    (row,) = [a for a in yaml.safe_load(demo_config_text())["agreements"] if a["key"] == VET_FDA]
    row = {k: v for k, v in row.items() if k != "signed_by"}
    return row | {"valid_from": row["valid_from"].isoformat(), "valid_until": row["valid_until"].isoformat()} | changes


def state(app) -> str:
    """A digest of every row outside the audit log (refusals may one day be logged as denials; nothing else)."""
    digest = hashlib.sha256()
    with app.engine.connect() as c:
        for table in metadata.sorted_tables:
            if not table.name.startswith("audit"):
                rows = c.execute(select(table).order_by(*table.primary_key.columns)).all()
                digest.update(f"{table.name}:{sorted(map(repr, rows))}".encode())
    return digest.hexdigest()


@pytest.fixture
def world(concord):
    lodge = lambda doc: as_(concord, "hollandfoods", SubmitDeclaration(
        document=parse_declaration(doc).model_dump(mode="json")))["id"]
    w = {"textiles": lodge(declaration()),
         "bananas": lodge(declaration(lrn="B", items=[item("080390", "Bananas", "EC", documents=["N851"])]))}
    with concord.sessions() as s:
        w["nppo_task"] = s.scalar(select(AgencyTask.id).where(AgencyTask.declaration_id == w["bananas"],
                                                              AgencyTask.agency == "NPPO"))
        w["vet_fda"] = s.scalar(select(SharingAgreement.id).where(SharingAgreement.key == VET_FDA))
        users = {u.id: u for u in s.scalars(select(User))}
    as_(concord, "nppo-officer", DecideTask(task_id=w["nppo_task"], decision="request_documents",
                                            reason="certificate illegible", documents=["N851"]))
    w["proposal"] = as_(concord, "vet-liaison", DraftAgreement(document=agreement_doc(title="Results, v2"),
                                                               amend=True))["id"]
    w["entry"] = as_(concord, "nppo-officer", AddWatchlistEntry(entry={
        "kind": "party", "value": {"name": "Verdant Seeds Trading Ltd", "country": "KE"}, "reason": "seed potatoes",
        "severity": "medium", "expires_at": (concord.clock.now() + timedelta(days=30)).isoformat()}))["id"]
    w["rule"] = as_(concord, "cus-officer", CreateRule(rule={
        "id": "PROBE-RULE", "name": "Every declaration", "expression": "true", "rationale": "probe target"}))["id"]
    w["request"] = as_(concord, "env-officer", RequestAccess(resource=f"declaration/{w['textiles']}",
                                                              purpose="environmental_protection",
                                                              justification=WHY))["id"]
    issued = {u: as_(concord, "admin", IssueToken(user_id=u)) for u in users}
    w["token"] = issued["mar-officer"]["token_id"]
    web = create_app(concord, background=False)
    w["http"] = {u: TestClient(web, headers={"Authorization": f"Bearer {t['token']}"}) for u, t in issued.items()}
    w["users"] = users
    return w


def officers(users, agency=None):
    return {u for u, row in users.items() if row.agency and (agency is None or row.agency == agency)
            and {"officer", "supervisor"} & set(row.roles)}


def actions(w) -> list[tuple]:
    """(name, method, path, body, who may do it) in the order in which the controls can run one after another."""
    users, lead = w["users"], officers(w["users"], "CUS")
    return [
        ("agreement draft", "POST", "/api/v1/agreements", agreement_doc(key="SOP-VET-FDA-PROBE"),
         {"vet-liaison", "fda-liaison"}),
        ("agreement amend", "PUT", f"/api/v1/agreements/{VET_FDA}", agreement_doc(title="Results, v3"),
         {"vet-liaison", "fda-liaison"}),
        ("agreement sign", "POST", f"/api/v1/agreements/{w['proposal']}/signatures", None,
         {"vet-liaison", "fda-liaison"}),
        ("agreement suspend", "POST", f"/api/v1/agreements/{w['vet_fda']}/status",
         {"status": "suspended", "reason": "review"}, {"vet-liaison", "fda-liaison"}),
        ("agreement resume", "POST", f"/api/v1/agreements/{w['vet_fda']}/status",
         {"status": "active", "reason": "review done"}, {"fda-liaison"}),  # after FDA's own suspension only
        ("access-request decide", "POST", f"/api/v1/access-requests/{w['request']}/decision",
         {"grant": True, "reason": "case confirmed", "hours": 2}, {"cus-liaison"}),
        ("access request", "POST", "/api/v1/access-requests",
         {"resource": f"declaration/{w['bananas']}", "purpose": "criminal_investigation", "justification": WHY},
         officers(users) - lead),
        ("break-glass", "POST", "/api/v1/break-glass",
         {"resource": f"declaration/{w['bananas']}", "purpose": "criminal_investigation", "justification": WHY},
         officers(users)),
        ("documents supply", "POST", f"/api/v1/declarations/{w['bananas']}/documents",
         {"task_id": w["nppo_task"], "documents": [{"type": "N851", "reference": "EC-PHYTO-2"}]}, {"hollandfoods"}),
        ("task decision", "POST", f"/api/v1/tasks/{w['nppo_task']}/decisions",
         {"decision": "approve", "reason": "certificate checked"}, officers(users, "NPPO")),
        ("arrival", "POST", f"/api/v1/declarations/{w['bananas']}/arrival", {}, lead),
        ("outcome", "POST", "/api/v1/risk/outcomes", {"declaration_id": w["textiles"], "result": "compliant"}, lead),
        ("declaration amend", "PUT", f"/api/v1/declarations/{w['textiles']}", declaration(), {"hollandfoods"}),
        ("declaration cancel", "POST", f"/api/v1/declarations/{w['textiles']}/cancel", {"reason": "buyer withdrew"},
         {"hollandfoods"}),
        ("rule create", "POST", "/api/v1/risk/rules", {"id": "PROBE-NEW", "name": "Every declaration",
                                                       "expression": "true", "rationale": "probe"}, lead),
        ("rule retire", "POST", f"/api/v1/risk/rules/{w['rule']}/retire", {"reason": "no longer needed"}, lead),
        ("watchlist add", "POST", "/api/v1/risk/watchlist", {
            "kind": "container", "value": {"number": "MSCU1234566"}, "reason": "seen before", "severity": "high",
            "expires_at": "2026-12-31T00:00:00+00:00"}, officers(users)),
        ("screening decision", "POST", "/api/v1/screening/decisions", {
            "fingerprint": "a" * 32, "entry_id": w["entry"], "decision": "false_positive",
            "reason": "another company"}, officers(users, "NPPO")),
        ("watchlist remove", "DELETE", f"/api/v1/risk/watchlist/{w['entry']}?reason=stale", None,
         officers(users, "NPPO")),
        ("config load", "PUT", "/api/v1/config", demo_config_text(), {"admin"}),
        ("token issue", "POST", "/api/v1/tokens", {"user": "cus-officer"}, {"admin"}),
        ("token revoke", "DELETE", f"/api/v1/tokens/{w['token']}", None, {"admin"}),
        ("agreement revoke", "POST", f"/api/v1/agreements/{w['vet_fda']}/status",
         {"status": "revoked", "reason": "ended"}, {"vet-liaison"}),
    ]


def send(client, method, path, body):
    if isinstance(body, str):
        return client.request(method, path, content=body.encode(), headers={"content-type": "application/yaml"})
    return client.request(method, path, json=body)


def test_every_user_is_refused_outside_its_mandate(world, concord):
    if concord.lanes is not None:  # PostgreSQL: the fixture's lane decisions reach the exchange's table now, not
        concord.lanes.exchange()   # during the probes (a decision a refused probe caused would still show)
    before, probes, failures = state(concord), 0, []
    for name, method, path, body, allowed in actions(world):
        for user, client in world["http"].items():
            if user in allowed:
                continue
            probes += 1
            r = send(client, method, path, body)
            if r.status_code not in (403, 404, 409):  # refused by role, by scope or by state; never 2xx, never 422
                failures.append(f"{user} {name}: {r.status_code} {r.text[:200]}")
    assert failures == [], "\n".join(failures)
    assert state(concord) == before, "a refused probe wrote something"
    print(f"\nauthorization probes: {probes}, failures: {len(failures)}")
    assert probes > 400

    controls = {"agreement resume": "fda-liaison", "agreement amend": "vet-liaison"}
    for name, method, path, body, allowed in actions(world):
        user = controls.get(name) or sorted(allowed)[0]
        r = send(world["http"][user], method, path, body)
        assert 200 <= r.status_code < 300, f"control {user} {name}: {r.status_code} {r.text[:300]}"
