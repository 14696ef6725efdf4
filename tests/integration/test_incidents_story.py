"""Issue 14's story, end to end: plant health finds cocaine in a banana container; the police see it under their
agreement (on a read for the agreement's purpose and on their event stream); the food authority receives a notice
and gives feedback; a three-agency operation runs its tasks with one escalation; an agency with no agreement sees
none of it on any route or in the event stream. The seizure's indicators hold the sister container still pending."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from concord.access.messages import IssueToken
from concord.app import create_app
from concord.errors import NotFound
from concord.incidents import queries
from concord.incidents.messages import (AddAttachment, AssignOperationTask, ChangeIncidentStatus,
                                        CompleteOperationTask, EscalateOverdueTasks, GiveNoticeFeedback, IssueNotice,
                                        OpenOperation, PostOperationMessage, RecordIncident)
from concord.declarations.messages import SubmitDeclaration
from concord.declarations.models import Declaration
from concord.declarations.schemas import parse_declaration
from support import declaration, item, subjects

CONCEALMENT = "S3CR3T-bricks under the false floor of banana boxes"
SUMMARY = "S3CR3T-informant says a second container follows"
THREAD = "S3CR3T-meet at quay 7 at 06:00"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
SEIZURE = {
    "category": "seizure", "severity": "critical", "title": "Cocaine in banana boxes", "summary": SUMMARY,
    "occurred_at": "2026-01-05T07:30:00+00:00", "location": {"office": "NLRTM", "place": "Quay 7", "country": "NL"},
    "found": [{"goods": "cocaine", "hs_code": "293979", "origin": "EC", "quantity": "120.5", "unit": "KGM",
               "concealment": CONCEALMENT}],
    "containers": ["MSCU1234566"], "conveyance": "IMO9074729",
    "parties": [{"role": "exporter", "name": "Guayaquil Banana Exporters SA", "id": "EC0992345678"}],
    "indicators": {"containers": ["MSCU1234566"], "parties": ["EC0992345678"], "hs": ["0803"], "origins": ["EC"]}}


def notice_doc(now) -> dict:
    return {"title": "Bananas from Guayaquil used for cocaine", "summary": "S3CR3T-NOTICE check the pallets",
            "purpose": "public_health", "indicators": {"hs": ["0803"], "origins": ["EC"]},
            "recommended_action": "inspect", "valid_until": (now + timedelta(days=30)).isoformat(),
            "feedback_due_at": (now + timedelta(days=7)).isoformat()}


def test_seizure_notice_operation_and_an_agency_without_agreement(concord):
    app = concord
    who = subjects(app)
    seen: list[dict] = []
    app.bus.relay.flush()
    app.transport.subscribe(seen.append)
    now = app.clock.now()

    sister = app.bus.handle(SubmitDeclaration(document=parse_declaration(declaration(
        lrn="SISTER-1", items=[item("080390", "Fresh bananas", "EC", documents=["N851"])])).model_dump(mode="json")),
        subject=who["hollandfoods"])["id"]

    # 1. Plant health records the seizure and attaches a photo; the sister container still pending is held for it.
    inc = app.bus.handle(RecordIncident(document=SEIZURE), subject=who["nppo-officer"])["id"]
    with app.sessions() as s:
        held = s.get(Declaration, sister)
        assert held.status not in ("released", "refused") and held.lane == "red"
        assert any(r.startswith("HUNT-") for r in held.engaged["NPPO"]["rules"]), held.engaged
    photo = app.bus.handle(AddAttachment(incident_id=inc, name="hold.jpg", media_type="image/jpeg", data=JPEG),
                           subject=who["nppo-officer"])
    assert app.bus.handle(AddAttachment(incident_id=inc, name="hold.jpg", media_type="image/jpeg", data=JPEG),
                          subject=who["nppo-officer"])["replayed"]
    app.bus.handle(ChangeIncidentStatus(incident_id=inc, status="triaged"), subject=who["nppo-officer"])

    # 2. The police see it under MOU-NPPO-POL-SEIZURES, for criminal investigation: the agreed fields only.
    with app.sessions() as s:
        with pytest.raises(NotFound):
            queries.get_incident(s, who["pol-officer"], inc, None, access=app.access)
        reads: list = []
        police = queries.get_incident(s, who["pol-officer"], inc, "criminal_investigation", reads, access=app.access)
        assert police["document"]["found"][0]["concealment"] == CONCEALMENT
        assert police["document"]["attachments"][0]["sha256"] == photo["sha256"]
        assert not {"summary", "parties", "severity", "timeline", "review"} & set(police["document"])
        assert reads and reads[0][1].agreement == "MOU-NPPO-POL-SEIZURES/v1"
        from concord.audit.models import AuditEntry

        body = s.scalar(select(AuditEntry.body).where(AuditEntry.action == "incident:recorded"))
        assert orjson.loads(body)["detail"]["shared_with"] == {"POL": "MOU-NPPO-POL-SEIZURES/v1"}
        own = queries.get_incident(s, who["nppo-officer"], inc, None, access=app.access)
        assert own["document"]["summary"] == SUMMARY and [e["kind"] for e in own["document"]["timeline"]] == [
            "reported", "attachment", "triaged"]

    # 3. A notice to the food authority, which gives feedback; the issuer sees the hit rate.
    with pytest.raises(NotFound):  # from an incident the issuer may not read, or none: the same answer
        app.bus.handle(IssueNotice(document=notice_doc(now) | {"incident_id": "INCnone"}), subject=who["nppo-officer"])
    issued = app.bus.handle(IssueNotice(document=notice_doc(now) | {"incident_id": inc}), subject=who["nppo-officer"])
    assert issued["recipients"] == ["FDA"]
    with app.sessions() as s:
        fda = queries.get_notice(s, who["fda-officer"], issued["id"], access=app.access)
        assert fda["document"]["indicators"]["hs"] == ["0803"] and "deliveries" not in fda and "stats" not in fda
    app.bus.handle(GiveNoticeFeedback(notice_id=issued["id"], action_taken="inspected", result="hit",
                                      note="S3CR3T-FEEDBACK two pallets"), subject=who["fda-officer"])
    with app.sessions() as s:
        mine = queries.get_notice(s, who["nppo-officer"], issued["id"], access=app.access)
    assert mine["stats"] == {"recipients": 1, "answered": 1, "hits": 1, "hit_rate": 1.0}
    assert mine["deliveries"][0]["note"] == "S3CR3T-FEEDBACK two pallets"

    # 4. A joint operation of plant health, police and customs; one task runs late and is escalated once.
    op = app.bus.handle(OpenOperation(document={
        "name": "Operation Banana Split", "incident_id": inc, "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(days=14)).isoformat(),
        "template": [{"name": "containers_checked", "type": "number", "required": True}],
        "members": [{"user_id": "pol-officer", "role": "member"},
                    {"user_id": "cus-supervisor", "role": "supervisor"}]}),
        subject=who["nppo-officer"])["id"]
    due = (now + timedelta(hours=2)).isoformat()
    late = app.bus.handle(AssignOperationTask(operation_id=op, title="Trace the consignee", owner="pol-officer",
                                              due_at=due), subject=who["nppo-officer"])["id"]
    sisters = app.bus.handle(AssignOperationTask(operation_id=op, title="Hold the sister containers",
                                                 owner="cus-supervisor", due_at=due), subject=who["nppo-officer"])["id"]
    app.bus.handle(CompleteOperationTask(operation_id=op, task_id=sisters, report={"containers_checked": 3}),
                   subject=who["cus-supervisor"])
    app.bus.handle(PostOperationMessage(operation_id=op, text=THREAD), subject=who["pol-officer"])
    assert app.bus.handle(EscalateOverdueTasks()) == 0
    app.clock.advance(hours=3)
    assert app.bus.handle(EscalateOverdueTasks()) == 1  # to the supervisor
    assert app.bus.handle(EscalateOverdueTasks()) == 0  # not twice
    with app.sessions() as s:
        ops = queries.get_operation(s, who["pol-officer"], op, access=app.access)
        assert {m["agency"] for m in ops["members"]} == {"NPPO", "POL", "CUS"}
        assert [(t["id"], t["escalation"]) for t in ops["tasks"]] in ([(late, 1), (sisters, 0)],
                                                                      [(sisters, 0), (late, 1)])
        # membership grants the operation's own records only: customs still may not read the incident
        with pytest.raises(NotFound):
            queries.get_incident(s, who["cus-supervisor"], inc, "criminal_investigation", access=app.access)

    # 5. The event stream: the police get the seizure cut to their agreement; MAR nothing at all.
    app.bus.relay.flush()
    to = lambda audience: [m for m in seen if m["audience"] == audience]  # noqa: E731
    recorded = [m for m in to("POL") if m["name"] == "incident.recorded"]
    assert len(recorded) == 1 and recorded[0]["payload"]["indicators"]["containers"] == ["MSCU1234566"]
    assert "severity" not in recorded[0]["payload"]
    assert [m["payload"]["level"] for m in to("CUS") if m["name"] == "operation.task_escalated"] == [1]
    assert [m for m in to("FDA") if m["name"] == "notice.issued"]
    assert not [m for m in to("FDA") if m["name"].startswith(("incident.", "operation."))]
    for agency in ("MAR", "ENV", "VET", "STD"):
        assert to(agency) == [], agency
    assert SUMMARY not in orjson.dumps(seen).decode() and THREAD not in orjson.dumps(seen).decode()

    # 6. Every route, as an agency with no agreement: what does not concern it answers as a missing record.
    client = TestClient(create_app(app, background=False))
    token = app.bus.handle(IssueToken(user_id="mar-officer"), subject=None)["token"]
    h = {"Authorization": f"Bearer {token}", "Concord-Purpose": "criminal_investigation"}
    for path, ident in ((f"/api/v1/incidents/{inc}", inc), (f"/api/v1/notices/{issued['id']}", issued["id"]),
                        (f"/api/v1/operations/{op}", op),
                        (f"/api/v1/incidents/{inc}/attachments/{photo['sha256']}", inc)):
        r, missing = client.get(path, headers=h), client.get(path.replace(ident, ident[:3] + "0" * 29), headers=h)
        assert r.status_code == missing.status_code == 404, path
        assert r.text.replace(ident, "X") == missing.text.replace(ident[:3] + "0" * 29, "X"), path
    for path in ("/api/v1/incidents", "/api/v1/notices", "/api/v1/operations"):
        r = client.get(path, headers=h)
        assert r.status_code == 200 and r.json()["total"] == 0 and r.json()["items"] == [], path
    r = client.post(f"/api/v1/notices/{issued['id']}/feedback", headers=h,
                    json={"action_taken": "none", "result": "no_hit"})
    assert r.status_code == 404
    r = client.post(f"/api/v1/operations/{op}/messages", headers=h, json={"text": "hello"})
    assert r.status_code == 404
