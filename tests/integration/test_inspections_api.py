"""The joint inspection routes over HTTP (SQLite): bodies, statuses, photos by digest, the trader's one view."""

import base64
import hashlib
from datetime import datetime, timezone

from fastapi.testclient import TestClient

from concord.access.messages import IssueToken
from concord.app import create_app
from support import declaration, item


def test_a_joint_inspection_over_http(sqlite_concord):
    app = sqlite_concord
    http = TestClient(create_app(app, background=False), raise_server_exceptions=False)
    auth = {u: {"Authorization": "Bearer " + app.bus.handle(IssueToken(user_id=u))["token"]}
            for u in ("hollandfoods", "cus-officer", "vet-officer", "nppo-officer", "pol-officer")}
    doc = declaration(items=[item("030617", "Frozen shrimps", "VN")])
    did = http.post("/api/v1/declarations", json=doc, headers=auth["hollandfoods"]).json()["id"]
    r = http.post(f"/api/v1/declarations/{did}/inspections", json={"not_before": "2026-01-07T09:00:00"},
                  headers=auth["vet-officer"])
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["pointer"] == "/not_before"
    r = http.post(f"/api/v1/declarations/{did}/inspections", json={}, headers=auth["pol-officer"])
    assert r.status_code == 404
    r = http.post(f"/api/v1/declarations/{did}/inspections", json={}, headers=auth["vet-officer"])
    assert r.status_code == 201, r.text
    insp = r.json()["id"]
    assert r.headers["Location"] == f"/api/v1/inspections/{insp}"
    assert http.post(f"/api/v1/declarations/{did}/inspections", json={}, headers=auth["vet-officer"]).status_code == 200
    r = http.post(f"/api/v1/inspections/{insp}/answer", json={"accept": False}, headers=auth["vet-officer"])
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["pointer"] == "/reason"
    assert http.post(f"/api/v1/inspections/{insp}/answer", json={"accept": True},
                     headers=auth["vet-officer"]).json()["status"] == "confirmed"
    app.clock.set(datetime(2026, 1, 7, 8, 0, tzinfo=timezone.utc))
    assert http.post(f"/api/v1/declarations/{did}/arrival", json={}, headers=auth["cus-officer"]).status_code == 200
    assert http.post(f"/api/v1/inspections/{insp}/start", headers=auth["vet-officer"]).status_code == 403
    assert http.post(f"/api/v1/inspections/{insp}/start", headers=auth["cus-officer"]).status_code == 200
    photo = b"\x89PNG\r\n\x1a\n fake image"
    body = {"result": "irregular", "findings": "fish declared as shrimps", "seals_before": ["ML-123"],
            "seals_after": ["CUS-999"], "photos": [{"media_type": "image/png", "content": base64.b64encode(photo).decode()}],
            "samples": [{"description": "tissue", "laboratory": "Wageningen Food Safety Research"}]}
    html = {**body, "photos": [{"media_type": "image/png", "content": base64.b64encode(b"<script>x</script>").decode()}]}
    r = http.post(f"/api/v1/inspections/{insp}/findings", json=html, headers=auth["vet-officer"])
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["pointer"] == "/photos/0", r.text  # not a PNG
    r = http.post(f"/api/v1/inspections/{insp}/findings", json=body, headers=auth["vet-officer"])
    assert r.status_code == 201, r.text
    sha = hashlib.sha256(photo).hexdigest()
    assert r.json()["photos"] == [sha]
    assert http.post(f"/api/v1/inspections/{insp}/findings", json=body, headers=auth["vet-officer"]).status_code == 200
    r = http.post(f"/api/v1/samples/{r.json()['samples'][0]}/result", json={"result": "irregular", "detail": "Pangasius DNA"},
                  headers=auth["vet-officer"])
    assert r.status_code == 200 and r.json()["finding_final_result"] == "irregular"
    got = http.get(f"/api/v1/inspections/{insp}/attachments/{sha}", headers=auth["vet-officer"])
    assert got.status_code == 200 and got.content == photo and got.headers["content-type"] == "image/png"
    assert http.get(f"/api/v1/inspections/{insp}/attachments/{sha}", headers=auth["hollandfoods"]).status_code == 404
    trader = http.get(f"/api/v1/declarations/{did}/inspections", headers=auth["hollandfoods"]).json()["items"]
    assert len(trader) == 1 and trader[0]["outcome"] == "irregular" and trader[0]["status"] == "finished"
    assert trader[0]["findings"] == [{"agency": "VET", "finding_id": trader[0]["findings"][0]["finding_id"],
                                      "recorded": True}]
    assert http.get(f"/api/v1/inspections/{insp}", headers=auth["pol-officer"]).status_code == 404
