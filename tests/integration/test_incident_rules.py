"""The rules of incidents, operations and notices one by one: attachments by magic bytes and size, the status
lifecycle, operation templates, membership, time box and escalation, notices' entitlement and feedback, and the
agreements' incident categories."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from concord.access.messages import IssueToken
from concord.agencies.messages import LoadConfig
from concord.agreements.messages import DraftAgreement
from concord.agreements.models import SharingAgreement
from concord.app import create_app
from concord.errors import Conflict, Forbidden, InvalidDocument, NotFound
from concord.incidents.handlers import MAX_ATTACHMENT
from concord.incidents.messages import (AddAttachment, AddOperationMember, AssignOperationTask, ChangeIncidentStatus,
                                        CheckNoticeFeedback, CompleteOperationTask, EscalateOverdueTasks,
                                        GiveNoticeFeedback, IssueNotice, OpenOperation, PostOperationMessage,
                                        RecordIncident)
from support import demo_config_text, subjects
from test_incidents_story import SEIZURE, notice_doc

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
PDF = b"%PDF-1.7\n" + b"x" * 16


def _seizure(app, who, **changes) -> str:
    return app.bus.handle(RecordIncident(document=SEIZURE | changes), subject=who["nppo-officer"])["id"]


def test_attachments_are_checked_by_magic_bytes_and_size_and_stored_once(sqlite_concord):
    app, who = sqlite_concord, subjects(sqlite_concord)
    inc = _seizure(app, who)
    nppo = who["nppo-officer"]
    for data, declared, fault in ((b"GIF89a....", "image/gif", "not a JPEG, PNG or PDF"),
                                  (PNG, "image/jpeg", "does not match"),
                                  (b"\xff\xd8\xff" + b"\x00" * MAX_ATTACHMENT, "image/jpeg", "too large")):
        with pytest.raises(InvalidDocument, match=fault):
            app.bus.handle(AddAttachment(incident_id=inc, name="x", media_type=declared, data=data), subject=nppo)
    png = app.bus.handle(AddAttachment(incident_id=inc, name="a.png", media_type="image/png", data=PNG), subject=nppo)
    other = _seizure(app, who)
    again = app.bus.handle(AddAttachment(incident_id=other, name="b.png", media_type="image/png", data=PNG),
                           subject=nppo)
    assert png["sha256"] == again["sha256"] and not again["replayed"]  # one stored file, cited twice
    with pytest.raises(NotFound):  # another agency without a grant: as if there were no incident
        app.bus.handle(AddAttachment(incident_id=inc, name="p.pdf", media_type="application/pdf", data=PDF),
                       subject=who["mar-officer"])

    client = TestClient(create_app(app, background=False))
    h = {"Authorization": "Bearer " + app.bus.handle(IssueToken(user_id="nppo-officer"))["token"]}
    r = client.post(f"/api/v1/incidents/{inc}/attachments?name=r.pdf", content=PDF,
                    headers=h | {"Content-Type": "application/pdf"})
    assert r.status_code == 201, r.text
    got = client.get(f"/api/v1/incidents/{inc}/attachments/{r.json()['sha256']}", headers=h)
    assert got.status_code == 200 and got.content == PDF and got.headers["content-type"] == "application/pdf"
    big = client.post(f"/api/v1/incidents/{inc}/attachments?name=big.pdf", content=PDF + b"x" * MAX_ATTACHMENT,
                      headers=h | {"Content-Type": "application/pdf"})
    assert big.status_code == 413
    bad = client.post("/api/v1/incidents", json=SEIZURE | {"containers": ["MSCU1234567"]}, headers=h)
    assert bad.status_code == 422 and bad.json()["error"]["problems"][0]["pointer"] == "/containers"


def test_the_status_moves_forward_and_closes_with_a_review(sqlite_concord):
    app, who = sqlite_concord, subjects(sqlite_concord)
    inc = _seizure(app, who)

    def step(status, subject=who["nppo-officer"], **kw):
        return app.bus.handle(ChangeIncidentStatus(incident_id=inc, status=status, **kw), subject=subject)

    with pytest.raises(Conflict):
        step("responding")
    with pytest.raises(NotFound):
        step("triaged", subject=who["mar-officer"])
    step("triaged")
    with pytest.raises(InvalidDocument) as e:
        step("closed")
    assert e.value.problems[0].pointer == "/review"
    with pytest.raises(InvalidDocument):
        step("closed", review={"summary": "short"})
    assert step("closed", review={"summary": "the container was traced to its consignee", "to_improve": "x"})[
        "status"] == "closed"
    with pytest.raises(Conflict):
        step("triaged")


def _operation(app, who, now, **changes) -> str:
    doc = {"name": "Op", "starts_at": now.isoformat(), "ends_at": (now + timedelta(days=1)).isoformat(),
           "template": [{"name": "checked", "type": "number", "required": True}, {"name": "note"}],
           "members": [{"user_id": "pol-officer", "role": "member"}, {"user_id": "fda-officer", "role": "observer"}]}
    return app.bus.handle(OpenOperation(document=doc | changes), subject=who["nppo-officer"])["id"]


def test_operations_keep_to_members_template_time_box_and_escalate_twice(sqlite_concord):
    app, who = sqlite_concord, subjects(sqlite_concord)
    now = app.clock.now()
    op = _operation(app, who, now)
    nppo, pol = who["nppo-officer"], who["pol-officer"]
    with pytest.raises(InvalidDocument) as e:
        app.bus.handle(OpenOperation(document={"name": "x", "starts_at": now.isoformat(), "ends_at": now.isoformat()}),
                       subject=nppo)
    with pytest.raises(InvalidDocument) as e:
        app.bus.handle(AssignOperationTask(operation_id=op, title="t", owner="mar-officer",
                                           due_at=now.isoformat()), subject=nppo)
    assert e.value.problems[0].pointer == "/owner"
    with pytest.raises(Forbidden):  # a member, not a manager
        app.bus.handle(AssignOperationTask(operation_id=op, title="t", owner="pol-officer", due_at=now.isoformat()),
                       subject=pol)
    with pytest.raises(NotFound):
        app.bus.handle(PostOperationMessage(operation_id=op, text="hi"), subject=who["mar-officer"])
    with pytest.raises(Forbidden):
        app.bus.handle(PostOperationMessage(operation_id=op, text="hi"), subject=who["fda-officer"])
    task = app.bus.handle(AssignOperationTask(operation_id=op, title="t", owner="pol-officer",
                                              due_at=(now + timedelta(hours=1)).isoformat()), subject=nppo)["id"]
    with pytest.raises(InvalidDocument) as e:
        app.bus.handle(CompleteOperationTask(operation_id=op, task_id=task, report={"checked": "three", "x": 1}),
                       subject=pol)
    assert sorted(p.pointer for p in e.value.problems) == ["/report/checked", "/report/x"]
    # The supervisor is told first, the lead agency after ESCALATE_AGAIN.
    app.bus.handle(AddOperationMember(operation_id=op, user_id="cus-supervisor", role="supervisor"), subject=nppo)
    app.clock.advance(hours=2)
    assert app.bus.handle(EscalateOverdueTasks()) == 1
    app.clock.advance(hours=1)
    assert app.bus.handle(EscalateOverdueTasks()) == 0  # the supervisor has ESCALATE_AGAIN (2 h) to act
    app.clock.advance(hours=1, minutes=1)
    assert app.bus.handle(EscalateOverdueTasks()) == 1  # then the lead agency
    assert app.bus.handle(EscalateOverdueTasks()) == 0
    app.bus.handle(CompleteOperationTask(operation_id=op, task_id=task, report={"checked": 3}), subject=pol)
    app.clock.advance(days=1)
    with pytest.raises(Conflict, match="closed to changes"):
        app.bus.handle(PostOperationMessage(operation_id=op, text="late"), subject=pol)
    with app.sessions() as s:
        from concord.incidents.queries import get_operation

        from concord.messaging.models import EventRecord

        levels = [e.payload["level"] for e in s.scalars(select(EventRecord).order_by(EventRecord.seq))
                  if e.name == "operation.task_escalated"]
        assert levels == [1, 2]
        assert get_operation(s, who["fda-officer"], op, access=app.access)["tasks"][0]["status"] == "done"


def test_notices_reach_only_entitled_agencies_and_take_feedback_once(sqlite_concord):
    app, who = sqlite_concord, subjects(sqlite_concord)
    now = app.clock.now()
    with pytest.raises(InvalidDocument) as e:
        app.bus.handle(IssueNotice(document=notice_doc(now) | {"recipients": ["FDA", "POL"]}),
                       subject=who["nppo-officer"])
    assert [p.pointer for p in e.value.problems] == ["/recipients/1"]
    with pytest.raises(Conflict, match="no agreement"):
        app.bus.handle(IssueNotice(document=notice_doc(now)), subject=who["vet-officer"])
    with pytest.raises(InvalidDocument):
        app.bus.handle(IssueNotice(document=notice_doc(now) | {"indicators": {}}), subject=who["nppo-officer"])
    n = app.bus.handle(IssueNotice(document=notice_doc(now)), subject=who["nppo-officer"])["id"]
    with pytest.raises(Forbidden):
        app.bus.handle(GiveNoticeFeedback(notice_id=n, action_taken="none", result="no_hit"),
                       subject=who["nppo-officer"])
    with pytest.raises(NotFound):
        app.bus.handle(GiveNoticeFeedback(notice_id=n, action_taken="none", result="no_hit"),
                       subject=who["pol-officer"])
    app.clock.advance(days=8)
    assert app.bus.handle(CheckNoticeFeedback()) == 1
    assert app.bus.handle(CheckNoticeFeedback()) == 0
    app.bus.handle(GiveNoticeFeedback(notice_id=n, action_taken="screened", result="no_hit"),
                   subject=who["fda-officer"])
    with pytest.raises(Conflict):
        app.bus.handle(GiveNoticeFeedback(notice_id=n, action_taken="screened", result="hit"),
                       subject=who["fda-officer"])


def test_incident_categories_belong_to_incident_scopes_and_reloading_changes_nothing(sqlite_concord):
    app, who = sqlite_concord, subjects(sqlite_concord)
    doc = {"key": "MOU-NPPO-POL-X", "title": "A test agreement", "provider": "NPPO", "recipients": ["POL"],
           "purposes": ["criminal_investigation"], "legal_basis": "a legal basis",
           "valid_from": "2026-01-01T00:00:00+00:00", "valid_until": "2027-01-01T00:00:00+00:00"}
    for scope, pointer in (({"resource": "declaration", "fields": ["/lrn"], "condition": {"categories": ["seizure"]}},
                            "/scopes/0"),
                           ({"resource": "notice", "fields": ["/title"], "condition": {"origins": ["EC"]}}, "/scopes/0"),
                           ({"resource": "incident", "fields": ["/title"], "condition": {"categories": ["theft"]}},
                            "/scopes/0/condition/categories")):
        with pytest.raises(InvalidDocument) as e:
            app.bus.handle(DraftAgreement(document=doc | {"scopes": [scope]}), subject=who["nppo-liaison"])
        assert e.value.problems[0].pointer == pointer
    with app.sessions() as s:
        before = s.scalar(select(func.count()).select_from(SharingAgreement))
    app.bus.handle(LoadConfig(text=demo_config_text() + "\n# again\n", source="again"))
    with app.sessions() as s:
        assert s.scalar(select(func.count()).select_from(SharingAgreement)) == before
        # Stored as before incidents existed (no empty categories), so databases written earlier reload unchanged.
        stored = s.scalar(select(SharingAgreement.scopes).where(SharingAgreement.key == "MOU-CUS-POL-2026"))
        assert set(stored[0]["condition"]) == {"hs_chapters", "origins", "offices"}


def test_an_incident_or_notice_whose_cel_rule_does_not_compile_is_refused_at_the_rule(sqlite_concord):
    """Its hunt compiled the rule only after the incident was stored, and failed in the background, unseen."""
    app, who = sqlite_concord, subjects(sqlite_concord)
    bad = {"rule": "items.exists(i, i.hs_code.startsWith("}
    with pytest.raises(InvalidDocument) as e:
        _seizure(app, who, indicators=bad)
    assert [p.pointer for p in e.value.problems] == ["/indicators/rule"]
    with pytest.raises(InvalidDocument) as e:
        app.bus.handle(IssueNotice(document=notice_doc(app.clock.now()) | {"indicators": bad}), subject=who["nppo-officer"])
    assert [p.pointer for p in e.value.problems] == ["/indicators/rule"]
