"""A finding becomes an incident in one call, prefilled with what the recording agency may see of the declaration."""

from datetime import datetime, timezone

from fastapi.testclient import TestClient

from concord.access.messages import IssueToken
from concord.app import create_app
from support import declaration, item


def test_a_finding_becomes_an_incident_in_one_call(sqlite_concord):
    app = sqlite_concord
    http = TestClient(create_app(app, background=False), raise_server_exceptions=False)
    auth = {u: {"Authorization": "Bearer " + app.bus.handle(IssueToken(user_id=u))["token"]}
            for u in ("hollandfoods", "cus-officer", "vet-officer", "nppo-officer")}
    doc = declaration(items=[item("030617", "Frozen shrimps", "VN")])
    did = http.post("/api/v1/declarations", json=doc, headers=auth["hollandfoods"]).json()["id"]
    insp = http.post(f"/api/v1/declarations/{did}/inspections", json={}, headers=auth["vet-officer"]).json()["id"]
    assert http.post(f"/api/v1/inspections/{insp}/answer", json={"accept": True},
                     headers=auth["vet-officer"]).json()["status"] == "confirmed"
    app.clock.set(datetime(2026, 1, 7, 8, 0, tzinfo=timezone.utc))
    assert http.post(f"/api/v1/declarations/{did}/arrival", json={}, headers=auth["cus-officer"]).status_code == 200
    assert http.post(f"/api/v1/inspections/{insp}/start", headers=auth["cus-officer"]).status_code == 200
    r = http.post(f"/api/v1/inspections/{insp}/findings", headers=auth["vet-officer"],
                  json={"result": "irregular", "findings": "fish declared as shrimps", "seals_before": ["ML-123"]})
    assert r.status_code == 201, r.text
    finding = r.json()["id"]

    # only an officer of the agency that recorded the finding turns it into an incident; others cannot tell it exists
    for who in ("nppo-officer", "cus-officer", "hollandfoods"):
        assert http.post(f"/api/v1/findings/{finding}/incident", json={}, headers=auth[who]).status_code == 404, who
    assert http.post("/api/v1/findings/FND-nosuch/incident", json={}, headers=auth["vet-officer"]).status_code == 404
    r = http.post(f"/api/v1/findings/{finding}/incident", json={"severity": "extreme"}, headers=auth["vet-officer"])
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["pointer"] == "/severity"

    r = http.post(f"/api/v1/findings/{finding}/incident", json={"severity": "high"}, headers=auth["vet-officer"])
    assert r.status_code == 201, r.text
    assert r.json()["finding_id"] == finding and r.json()["declaration_id"] == did
    incident = http.get(f"/api/v1/incidents/{r.json()['id']}", headers=auth["vet-officer"]).json()["document"]
    assert incident["category"] == "suspicious_consignment" and incident["severity"] == "high"
    assert incident["declarations"] == [did]
    assert "fish declared as shrimps" in incident["summary"] and finding in incident["summary"]
    assert [(f["hs_code"], f["goods"], f["origin"]) for f in incident["found"]] == [("030617", "Frozen shrimps", "VN")]
    # what VET may see of the declaration, and nothing more, reached the incident
    seen = http.get(f"/api/v1/declarations/{did}", headers=auth["vet-officer"]).json()["document"]
    assert incident["containers"] == (seen.get("transport") or {}).get("containers", [])
    assert {p["role"] for p in incident["parties"]} == {r for r in ("importer", "exporter") if seen.get(r)}
    assert incident["parties"] == [] or all(p["name"] == seen[p["role"]]["name"] for p in incident["parties"])
    # the caller's choices win over the draft
    r = http.post(f"/api/v1/findings/{finding}/incident", json={"category": "seizure", "title": "Shrimp fraud"},
                  headers=auth["vet-officer"])
    got = http.get(f"/api/v1/incidents/{r.json()['id']}", headers=auth["vet-officer"]).json()["document"]
    assert (got["category"], got["title"]) == ("seizure", "Shrimp fraud")


def test_a_finding_becomes_a_notice_in_one_call_to_whom_the_agreements_entitle(sqlite_concord):
    app = sqlite_concord
    http = TestClient(create_app(app, background=False), raise_server_exceptions=False)
    auth = {u: {"Authorization": "Bearer " + app.bus.handle(IssueToken(user_id=u))["token"]}
            for u in ("hollandfoods", "cus-officer", "vet-officer", "nppo-officer", "fda-officer")}
    for who, goods in (("vet-officer", item("030617", "Frozen shrimps", "VN")),
                       ("nppo-officer", item("080390", "Bananas", "EC"))):
        r = http.post("/api/v1/declarations", json=declaration(items=[goods], lrn=f"LRN-NOTICE-{who}"),
                      headers=auth["hollandfoods"])
        did = r.json()["id"]
        insp = http.post(f"/api/v1/declarations/{did}/inspections", json={}, headers=auth[who]).json()["id"]
        assert http.post(f"/api/v1/inspections/{insp}/answer", json={"accept": True},
                         headers=auth[who]).status_code == 200
        app.clock.set(datetime(2026, 1, 7, 8, 0, tzinfo=timezone.utc))
        http.post(f"/api/v1/declarations/{did}/arrival", json={}, headers=auth["cus-officer"])
        assert http.post(f"/api/v1/inspections/{insp}/start", headers=auth["cus-officer"]).status_code == 200
        finding = http.post(f"/api/v1/inspections/{insp}/findings", headers=auth[who],
                            json={"result": "irregular", "findings": "bricks under the false floor"}).json()["id"]
        if who == "vet-officer":  # no agreement lets VET send notices: said, and nothing stored
            r = http.post(f"/api/v1/findings/{finding}/notice", json={"purpose": "public_health"}, headers=auth[who])
            assert r.status_code == 409 and "no agreement in force" in r.json()["error"]["message"], r.text
            assert http.get("/api/v1/notices", headers=auth[who]).json()["total"] == 0

    assert http.post(f"/api/v1/findings/{finding}/notice", json={"purpose": "public_health"},
                     headers=auth["fda-officer"]).status_code == 404  # not its finding: as if missing
    r = http.post(f"/api/v1/findings/{finding}/notice", json={}, headers=auth["nppo-officer"])
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["pointer"] == "/purpose"
    r = http.post(f"/api/v1/findings/{finding}/notice", headers=auth["nppo-officer"],
                  json={"purpose": "public_health", "recommended_action": "hold"})
    assert r.status_code == 201, r.text
    assert r.json()["recipients"] == ["FDA"] and r.json()["declaration_id"] == did
    got = http.get(f"/api/v1/notices/{r.json()['id']}", headers=auth["fda-officer"]).json()
    doc = got.get("document", got)
    assert doc["indicators"]["hs"] == ["080390"] and doc["indicators"]["origins"] == ["EC"]
    assert doc["recommended_action"] == "hold" and "bricks under the false floor" in doc["summary"]
