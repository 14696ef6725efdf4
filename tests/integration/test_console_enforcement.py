"""The console's enforcement screens over HTTP: the incident board and page cut as the API cuts them (police see the
seizure only for their agreement's purpose, and only its agreed fields), the owner moves it on, an operation's
members post to its thread and report tasks done, a notice's recipient gives feedback and the issuer sees it."""

import re
from datetime import timedelta

import pytest

from concord.incidents.messages import (AddAttachment, AssignOperationTask, IssueNotice, OpenOperation,
                                        RecordIncident)
from support import console_accounts, subjects
from test_console import PASSWORD, csrf_of, signed

USERS = ("nppo-officer", "pol-officer", "fda-officer", "cus-supervisor", "cus-officer", "hollandfoods")
SECRET = "S3CR3T-informant says a second container follows"
CONCEALED = "bricks under the false floor"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
SEIZURE = {
    "category": "seizure", "severity": "critical", "title": "Cocaine in banana boxes", "summary": SECRET,
    "occurred_at": "2026-01-05T07:30:00+00:00", "location": {"office": "NLRTM", "place": "Quay 7", "country": "NL"},
    "found": [{"goods": "cocaine", "hs_code": "293979", "origin": "EC", "concealment": CONCEALED}],
    "containers": ["MSCU1234566"], "conveyance": "IMO9074729",
    "parties": [{"role": "exporter", "name": "Guayaquil Banana Exporters SA", "id": "EC0992345678"}],
    "indicators": {"containers": ["MSCU1234566"], "hs": ["0803"], "origins": ["EC"]}}


@pytest.fixture
def hub(sqlite_concord):
    console_accounts(sqlite_concord, USERS, PASSWORD)
    return sqlite_concord


def seizure(hub) -> str:
    who = subjects(hub)
    inc = hub.bus.handle(RecordIncident(document=SEIZURE), subject=who["nppo-officer"])["id"]
    hub.bus.handle(AddAttachment(incident_id=inc, name="hold.jpg", media_type="image/jpeg", data=JPEG),
                   subject=who["nppo-officer"])
    return inc


def test_incident_board_and_page_show_what_the_api_shows_for_the_purpose_stated(hub):
    inc = seizure(hub)
    nppo, police = signed(hub, "nppo-officer"), signed(hub, "pol-officer")
    board = nppo.get("/console/incidents")
    assert board.status_code == 200 and f'href="/console/incidents/{inc}"' in board.text
    assert 'hx-get="/console/incidents/live?page=1"' in board.text  # the board refreshes itself
    own = nppo.get(f"/console/incidents/{inc}")
    assert SECRET in own.text and CONCEALED in own.text and "Guayaquil Banana Exporters SA" in own.text
    assert "Move the incident on" in own.text
    # The police: nothing without a purpose; for criminal investigation, the agreed fields only (no summary,
    # no parties), and no status form (not theirs)
    assert inc not in police.get("/console/incidents").text
    assert police.get(f"/console/incidents/{inc}").status_code == 404
    assert inc in police.get("/console/incidents/live?purpose=criminal_investigation").text
    page = police.get(f"/console/incidents/{inc}?purpose=criminal_investigation")
    assert page.status_code == 200 and CONCEALED in page.text
    assert SECRET not in page.text and "Guayaquil Banana Exporters SA" not in page.text
    assert "Move the incident on" not in page.text
    sha = re.search(r'/attachments/([0-9a-f]{64})\?purpose=criminal_investigation', page.text).group(1)
    got = police.get(f"/console/incidents/{inc}/attachments/{sha}?purpose=criminal_investigation")
    assert got.status_code == 200 and got.content == JPEG and got.headers["content-type"] == "image/jpeg"
    assert police.get(f"/console/incidents/{inc}/attachments/{sha}").status_code == 404
    # Food authority and customs have no incident agreement: nothing, whatever the purpose; a trader: refused
    for user in ("fda-officer", "cus-officer"):
        c = signed(hub, user)
        assert inc not in c.get("/console/incidents/live?purpose=public_health").text
        assert c.get(f"/console/incidents/{inc}?purpose=criminal_investigation").status_code == 404
    assert signed(hub, "hollandfoods").get("/console/incidents").status_code == 403


def test_owner_moves_the_incident_on_and_closing_needs_the_review(hub):
    inc = seizure(hub)
    nppo = signed(hub, "nppo-officer")
    token = csrf_of(nppo.get(f"/console/incidents/{inc}").text)
    assert nppo.post(f"/console/incidents/{inc}/status", data={"status": "triaged"}).status_code == 400  # no CSRF
    r = nppo.post(f"/console/incidents/{inc}/status", data={"csrf": token, "status": "triaged", "note": "seen"})
    assert r.status_code == 303 and "status is changed" in nppo.get(r.headers["location"]).text
    r = nppo.post(f"/console/incidents/{inc}/status", data={"csrf": token, "status": "closed", "review_summary": "x"})
    assert r.status_code == 422 and 'id="e-review-summary"' in r.text  # the API's bound, at the field
    r = nppo.post(f"/console/incidents/{inc}/status", data={"csrf": token, "status": "closed",
                                                           "review_summary": "Held in time; the tip was good."})
    assert r.status_code == 303 and "Held in time" in nppo.get(f"/console/incidents/{inc}").text
    police = signed(hub, "pol-officer")
    r = police.post(f"/console/incidents/{inc}/status",
                    data={"csrf": csrf_of(police.get("/console/incidents").text), "status": "responding"})
    assert r.status_code == 404  # not its incident to move: the same answer as a missing one


def test_operation_thread_and_tasks(hub):
    who, now = subjects(hub), hub.clock.now()
    op = hub.bus.handle(OpenOperation(document={
        "name": "Operation Banana Split", "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(days=14)).isoformat(),
        "template": [{"name": "containers_checked", "type": "number", "required": True}],
        "members": [{"user_id": "pol-officer", "role": "member"},
                    {"user_id": "cus-supervisor", "role": "supervisor"}]}), subject=who["nppo-officer"])["id"]
    task = hub.bus.handle(AssignOperationTask(operation_id=op, title="Hold the sister containers",
                                              owner="pol-officer", due_at=(now + timedelta(hours=2)).isoformat()),
                          subject=who["nppo-officer"])["id"]
    police = signed(hub, "pol-officer")
    assert "Operation Banana Split" in police.get("/console/operations").text
    page = police.get(f"/console/operations/{op}")
    assert "Hold the sister containers" in page.text and f'id="f-{task}-containers_checked"' in page.text
    token = csrf_of(page.text)
    r = police.post(f"/console/operations/{op}/messages", data={"csrf": token, "text": "meet at quay 7 at 06:00"})
    assert r.status_code == 303
    assert "meet at quay 7 at 06:00" in signed(hub, "cus-supervisor").get(f"/console/operations/{op}").text
    r = police.post(f"/console/operations/{op}/tasks/{task}/done", data={"csrf": token})
    assert r.status_code == 422 and f'id="ef-{task}-containers_checked"' in r.text  # required by the template
    r = police.post(f"/console/operations/{op}/tasks/{task}/done",
                    data={"csrf": token, "report_containers_checked": "3"})
    assert r.status_code == 303 and "reported done" in police.get(r.headers["location"]).text
    # Not a member agency: the operation does not exist for it, to read or to write
    fda = signed(hub, "fda-officer")
    assert "Operation Banana Split" not in fda.get("/console/operations").text
    assert fda.get(f"/console/operations/{op}").status_code == 404
    token = csrf_of(fda.get("/console/operations").text)
    assert fda.post(f"/console/operations/{op}/messages", data={"csrf": token, "text": "hi"}).status_code == 404


def test_notice_feedback_from_the_recipient_and_the_issuers_measure(hub):
    who, now = subjects(hub), hub.clock.now()
    issued = hub.bus.handle(IssueNotice(document={
        "title": "Bananas from Guayaquil used for cocaine", "summary": "check the pallets", "purpose": "public_health",
        "indicators": {"hs": ["0803"], "origins": ["EC"]}, "recommended_action": "inspect",
        "valid_until": (now + timedelta(days=30)).isoformat(),
        "feedback_due_at": (now + timedelta(days=7)).isoformat()}), subject=who["nppo-officer"])
    fda = signed(hub, "fda-officer")
    assert "awaited" in fda.get("/console/notices").text
    page = fda.get(f"/console/notices/{issued['id']}")
    assert "Send the feedback" in page.text and "Feedback received" not in page.text  # not the issuer's measure
    r = fda.post(f"/console/notices/{issued['id']}/feedback",
                 data={"csrf": csrf_of(page.text), "action_taken": "burned", "result": "hit"})
    assert r.status_code == 422 and 'id="e-action"' in r.text
    r = fda.post(f"/console/notices/{issued['id']}/feedback",
                 data={"csrf": csrf_of(page.text), "action_taken": "inspected", "result": "hit", "note": "two pallets"})
    assert r.status_code == 303
    again = fda.get(r.headers["location"])
    assert "feedback is recorded" in again.text and "Send the feedback" not in again.text
    issuer = signed(hub, "nppo-officer").get(f"/console/notices/{issued['id']}")
    assert "Hit rate: 1.0." in issuer.text and "two pallets" in issuer.text
    assert signed(hub, "pol-officer").get(f"/console/notices/{issued['id']}").status_code == 404
