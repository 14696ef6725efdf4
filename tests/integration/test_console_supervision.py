"""A supervisor gives an open task of the agency to one of its officers, in the console and through the API (one
handler, AssignTask): audited, told to the agency by an event no trader or other agency receives, and refused to
another agency (404), to an officer who is no supervisor (403) and for an officer of another agency (422)."""

import re

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select

from concord.access.messages import IssueToken
from concord.agencies.messages import LoadConfig
from concord.app import create_app
from concord.audit.models import AuditEntry
from concord.clearance.messages import DecideTask
from concord.declarations import queries
from concord.messaging.models import EventRecord
from support import declaration, demo_config_text, subjects
from test_console import BANANAS, csrf_of, hub, signed, submit, _tasks  # noqa: F401 (hub: the fixture)


def _open_customs_task(hub) -> tuple[str, str]:
    # Customs draws every declaration for control, so its own task stays open
    hub.bus.handle(LoadConfig(text=demo_config_text(random_rate=1.0), source="every declaration controlled"))
    did = submit(hub, declaration(lrn="LRN-REASSIGN-1", items=[BANANAS]))
    return did, next(t for t in _tasks(hub, did) if t.agency == "CUS" and t.open).id


def _give(c, tid: str, officer: str, page: str | None = None):
    page = page or c.get("/console/supervisor").text
    return c.post(f"/console/tasks/{tid}/assignment", data={"csrf": csrf_of(page), "officer": officer, "filter": ""})


def test_supervisor_reassigns_an_open_task_between_officers_of_the_agency(hub):
    did, tid = _open_customs_task(hub)
    sup = signed(hub, "cus-supervisor")
    page = sup.get("/console/supervisor")
    assert page.status_code == 200 and f'action="/console/tasks/{tid}/assignment"' in page.text
    options = set(re.findall(rf'<select id="officer-{tid}"[^>]*>(.*?)</select>', page.text, re.S)[0].split("<option"))
    offered = {v for o in options for v in re.findall(r'value="([^"]*)"', o)} - {""}
    assert offered == {"cus-officer", "cus-analyst", "cus-supervisor"}  # officers of CUS only: no liaison, no NPPO
    unchosen = _give(sup, tid, "", page.text)  # an unassigned task offers no officer until one is chosen
    assert unchosen.status_code == 422 and "Choose the officer." in unchosen.text
    r = _give(sup, tid, "cus-officer", page.text)
    assert r.status_code == 303 and r.headers["location"] == f"/console/supervisor?done={tid}"
    after = sup.get(r.headers["location"]).text
    assert f"Task {tid} is reassigned." in after and re.search(r"Anna de Vries \(cus-officer\)</a></td>\s*<td>1</td>",
                                                               after)
    assert _give(sup, tid, "cus-analyst").status_code == 303
    mine = sup.get("/console/supervisor?officer=cus-analyst").text
    assert tid in mine and "Open tasks of cus-analyst" in mine
    assert tid not in sup.get("/console/supervisor?officer=cus-officer").text.split('id="reassign"')[1].split(
        "Overdue tasks")[0]
    assert re.search(rf"{tid}</a></td>.*?<td>cus-analyst</td>", signed(hub, "cus-officer").get("/console/tasks").text,
                     re.S)  # the officers' queue says who has each task
    with hub.sessions() as s:
        audit = [orjson.loads(e.body) for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "task:assignment:changed"))]
        events = [e.payload for e in s.scalars(select(EventRecord).where(EventRecord.name == "task.reassigned"))]
    assert [a["detail"] for a in audit] == [{"assignee": "cus-officer", "previous": None},
                                            {"assignee": "cus-analyst", "previous": "cus-officer"}]
    assert audit[1]["actor"] == "cus-supervisor" and events[1]["previous"] == "cus-officer"
    # The event is the agency's working data: its timeline shows it, the trader's and plant health's do not
    who = subjects(hub)
    with hub.sessions() as s:
        seen = {u: orjson.dumps(queries.timeline(s, who[u], did, access=hub.access)).decode()
                for u in ("cus-officer", "hollandfoods", "nppo-officer")}
    assert "task.reassigned" in seen["cus-officer"] and "cus-analyst" in seen["cus-officer"]
    assert "task.reassigned" not in seen["hollandfoods"] and "cus-analyst" not in seen["hollandfoods"]
    assert "task.reassigned" not in seen["nppo-officer"]
    streamed = [m for m in _stream(hub, did) if m["name"] == "task.reassigned"]  # the stream: one per audience
    assert streamed and {m["audience"] for m in streamed} == {"CUS"}


def _stream(hub, did) -> list:
    from concord.messaging.audiences import messages_for

    with hub.sessions() as s:
        rows = [{"id": e.id, "name": e.name, "declaration_id": e.declaration_id, "agency": e.agency,
                 "occurred_at": e.occurred_at, "payload": e.payload}
                for e in s.scalars(select(EventRecord).where(EventRecord.declaration_id == did))]
        return messages_for(s, rows, access=hub.access)


def test_reassignment_is_refused_as_the_apis_conventions_say(hub):
    _, tid = _open_customs_task(hub)
    sup = signed(hub, "cus-supervisor")
    bad = _give(sup, tid, "nppo-officer")  # an officer of another agency: refused at the field, nothing said of them
    assert bad.status_code == 422 and re.search(rf'id="officer-{tid}"[^>]*aria-invalid="true"', bad.text)
    assert f'id="eofficer-{tid}"' in bad.text
    assert _give(sup, tid, "cus-liaison").status_code == 422  # of the agency, but no officer
    assert _give(signed(hub, "nppo-officer"), tid, "cus-officer",
                 sup.get("/console/supervisor").text).status_code == 400  # another session's CSRF token
    nppo = signed(hub, "nppo-officer")
    assert _give(nppo, tid, "cus-officer", nppo.get("/console/tasks").text).status_code == 404  # not its task
    officer = signed(hub, "cus-officer")
    assert _give(officer, tid, "cus-officer", officer.get("/console/tasks").text).status_code == 403
    assert officer.get("/console/supervisor").status_code == 403
    hub.bus.handle(DecideTask(task_id=tid, decision="approve", reason="ok"), subject=subjects(hub)["cus-officer"])
    assert _give(sup, tid, "cus-officer").status_code == 409  # decided: nothing left to give


def test_the_api_reassigns_through_the_same_handler(hub):
    _, tid = _open_customs_task(hub)
    api = TestClient(create_app(hub, background=False))
    token = lambda u: {"Authorization": "Bearer " + hub.bus.handle(IssueToken(user_id=u))["token"]}  # noqa: E731
    sup, nppo, officer = token("cus-supervisor"), token("nppo-officer"), token("cus-officer")
    r = api.post(f"/api/v1/tasks/{tid}/assignment", json={"officer": "cus-analyst"}, headers=sup)
    assert r.status_code == 200 and r.json() == {"task_id": tid, "assignee": "cus-analyst", "previous": None,
                                                 "replayed": False}
    again = api.post(f"/api/v1/tasks/{tid}/assignment", json={"officer": "cus-analyst"}, headers=sup)
    assert again.json()["replayed"] is True  # a retry records nothing twice
    assert api.post(f"/api/v1/tasks/{tid}/assignment", json={"officer": "cus-officer"}, headers=nppo).status_code == 404
    assert api.post(f"/api/v1/tasks/{tid}/assignment", json={"officer": "cus-officer"},
                    headers=officer).status_code == 403
    wrong = api.post(f"/api/v1/tasks/{tid}/assignment", json={"officer": "vet-officer"}, headers=sup)
    assert wrong.status_code == 422 and wrong.json()["error"]["problems"][0]["pointer"] == "/officer"
    assert api.post("/api/v1/tasks/NOPE/assignment", json={"officer": "x"}, headers=sup).status_code == 404
    queue = api.get("/api/v1/tasks?assignee=cus-analyst", headers=officer).json()
    assert [t["task_id"] for t in queue["items"]] == [tid] and queue["items"][0]["assignee"] == "cus-analyst"
    assert api.get("/api/v1/tasks?assignee=-", headers=officer).json()["total"] == 0
    load = api.get("/api/v1/tasks/workload", headers=sup).json()
    assert load["workload"] == [{"officer": "cus-analyst", "open": 1, "overdue": 0}]
    assert {o["id"] for o in load["officers"]} == {"cus-officer", "cus-analyst", "cus-supervisor"}
    assert api.get("/api/v1/tasks/workload", headers=officer).status_code == 403


def test_customs_supervisor_sees_lanes_and_the_hit_rate_per_week_as_the_api_counts_them(hub):
    from concord.risk.messages import RecordOutcome

    who = subjects(hub)
    dids = [submit(hub, declaration(lrn=f"LRN-LANES-{n}", items=[BANANAS])) for n in range(3)]
    for did, result in zip(dids[:2], ("irregular", "compliant")):
        hub.bus.handle(RecordOutcome(outcome={"declaration_id": did, "result": result}), subject=who["cus-officer"])
    api = TestClient(create_app(hub, background=False))
    token = hub.bus.handle(IssueToken(user_id="cus-supervisor"))["token"]
    weeks = api.get("/api/v1/risk/lanes?weeks=4", headers={"Authorization": f"Bearer {token}"}).json()
    assert len(weeks) == 4 and weeks[-1]["declarations"] >= 3, weeks
    assert (weeks[-1]["inspected"], weeks[-1]["irregular"], weeks[-1]["hit_rate"]) == (2, 1, 0.5)
    assert sum(weeks[-1]["lanes"].values()) == weeks[-1]["declarations"]
    sup = signed(hub, "cus-supervisor")
    assert 'href="/console/supervisor/lanes"' in sup.get("/console/supervisor").text
    page = sup.get("/console/supervisor/lanes?weeks=4")
    assert page.status_code == 200 and "<svg" in page.text
    last = page.text.split(f'<th scope="row">{weeks[-1]["week"]}</th>')[-1].split("</tr>")[0]
    cells = re.findall(r"<td>([^<]*)</td>", last)
    assert cells == [str(weeks[-1]["declarations"]), *map(str, weeks[-1]["lanes"].values()), "2", "1", "50.0 %"]
    for user, status in (("cus-officer", 403), ("nppo-officer", 403), ("hollandfoods", 403)):
        assert signed(hub, user).get("/console/supervisor/lanes").status_code == status, user
    assert sup.get("/console/supervisor/lanes?weeks=54").status_code == 422
