"""Time release figures from the real handlers: every milestone recorded, every interval held by exactly one party,
and each reader's figures counted over what it may see."""

from datetime import datetime, timedelta, timezone

from fastapi.testclient import TestClient

from concord.access.messages import IssueToken
from concord.app import create_app
from concord.clearance.messages import DecideTask, SupplyDocuments
from concord.declarations.messages import AmendDeclaration, CancelDeclaration, RecordArrival
from concord.declarations.schemas import parse_declaration
from concord.inspections.messages import AnswerInvitation, RecordFinding, RecordLabResult, StartInspection
from concord.trs import queries
from concord.trs.messages import RecordExit
from concord.trs.milestones import TERMINAL_HOLDERS
from support import declaration, item, subjects
from test_joint_inspections import WEDNESDAY_8, act, fish_and_fruit, inspection_of, lodge

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
AGENCIES = {"CUS", "NPPO", "VET", "FDA", "STD", "POL", "ENV", "MAR"}


def decide_all(app, did, decision="approve"):
    from test_single_window import tasks

    for agency in sorted(tasks(app, did)):
        t = tasks(app, did)[agency]  # afresh: a refusal withdraws the other agencies' tasks
        if t.open:
            who = "cus-officer" if agency == "CUS" else f"{agency.lower()}-officer"
            act(app, DecideTask(task_id=t.id, decision=decision, reason="checked"), who)


def milestones_of(app, did, user="cus-officer"):
    with app.sessions() as s:
        return queries.declaration_milestones(s, subjects(app)[user], did, access=app.access)


def test_every_milestone_of_a_joint_inspection_is_recorded(concord):
    did = lodge(concord, fish_and_fruit())
    insp = inspection_of(concord, did)
    for who in ("nppo-officer", "vet-officer"):
        act(concord, AnswerInvitation(inspection_id=insp.id, accept=True), who)
    concord.clock.set(WEDNESDAY_8)
    act(concord, RecordArrival(declaration_id=did), "cus-officer")
    act(concord, StartInspection(inspection_id=insp.id), "cus-officer")
    concord.clock.advance(hours=1)
    act(concord, RecordFinding(inspection_id=insp.id, result="compliant", findings="ok"), "vet-officer")
    sample = act(concord, RecordFinding(inspection_id=insp.id, result="compliant", findings="ok", samples=[
        {"description": "fruit", "laboratory": "lab"}]), "nppo-officer")["samples"][0]
    concord.clock.advance(hours=20)
    act(concord, RecordLabResult(sample_id=sample, result="compliant"), "nppo-officer")
    decide_all(concord, did)
    concord.clock.advance(hours=3)
    act(concord, RecordExit(declaration_id=did), "cus-officer")
    got = milestones_of(concord, did)
    names = {m["milestone"] for m in got["milestones"]}
    assert {"lodgement", "risk_decision", "task_assigned", "task_decided", "inspection_requested", "arrival",
            "inspection_started", "inspection_finished", "laboratory_result", "release", "exit"} <= names
    assert {m["agency"] for m in got["milestones"] if m["milestone"] == "task_decided"} == {"CUS", "NPPO", "VET"}
    ivs = got["intervals"]
    assert ivs[0]["start"] == got["milestones"][0]["at"] and ivs[-1]["end"] == next(
        m["at"] for m in got["milestones"] if m["milestone"] == "exit")
    assert [iv["holder"] for iv in ivs if iv["phase"] == "arrival_to_release"] == ["NPPO"]  # the laboratory's wait
    assert ivs[-1]["holder"] == "terminal"
    vet = milestones_of(concord, did, "vet-officer")  # a partner sees its own steps and the others merged
    assert {m["agency"] for m in vet["milestones"]} <= {None, "VET"}
    assert {iv["holder"] for iv in vet["intervals"]} <= {"other agencies", "VET", *TERMINAL_HOLDERS}


def test_every_interval_is_held_by_exactly_one_party(sqlite_concord):
    """Declarations through every path: documents asked for, amended, cancelled, refused, lodged after arrival."""
    app = sqlite_concord
    ids = []
    for i in range(6):
        doc = declaration(lrn=f"TRS-{i}", items=[item("080390", "Fresh bananas", "EC", documents=["N851"]),
                                                 item("030617", "Frozen shrimps", "VN")])
        if i == 5:
            doc["arrival"] = (T0 - timedelta(hours=2)).isoformat()
        did = lodge(app, doc)
        ids.append(did)
        from test_single_window import tasks

        t = tasks(app, did)
        app.clock.advance(hours=1)
        if i == 1:
            act(app, DecideTask(task_id=t["NPPO"].id, decision="request_documents", reason="illegible",
                                documents=["N851"]), "nppo-officer")
            app.clock.advance(hours=5)
            act(app, SupplyDocuments(declaration_id=did, task_id=t["NPPO"].id,
                                     documents=[{"type": "N851", "reference": "X-1"}]), "hollandfoods")
        if i == 2:
            amended = parse_declaration(doc | {"items": doc["items"][:1]}).model_dump(mode="json")
            act(app, AmendDeclaration(declaration_id=did, document=amended), "hollandfoods")
        if i == 3:
            act(app, CancelDeclaration(declaration_id=did, reason="sold"), "hollandfoods")
            continue
        app.clock.advance(hours=2)
        decide_all(app, did, "refuse" if i == 4 else "approve")
        app.clock.advance(hours=1)
        act(app, RecordArrival(declaration_id=did), "cus-officer") if i != 4 else None
    for did in ids:
        got = milestones_of(app, did)
        ivs = got["intervals"]
        assert ivs, did
        assert all(a["end"] == b["start"] for a, b in zip(ivs, ivs[1:]))
        assert all(iv["holder"] in AGENCIES | set(TERMINAL_HOLDERS) for iv in ivs)
        span = (datetime.fromisoformat(ivs[-1]["end"]) - datetime.fromisoformat(ivs[0]["start"])).total_seconds()
        assert abs(sum(iv["hours"] for iv in ivs) * 3600 - span) < 1
    held = [iv["holder"] for iv in milestones_of(app, ids[1])["intervals"]]
    assert "trader" in held  # the trader held the goods while NPPO waited for its documents
    assert milestones_of(app, ids[5])["intervals"][0]["holder"] == "trader"  # arrived before it was lodged


def test_each_reader_counts_what_it_may_see(sqlite_concord):
    app = sqlite_concord
    lodge(app, declaration(lrn="T-CUS"))  # customs only
    lodge(app, declaration(lrn="T-VET", items=[item("030617", "Frozen shrimps", "VN")]))
    lodge(app, declaration(lrn="T-EURO", declarant={"id": "DE345678912", "name": "EuroTech", "country": "DE",
                                                    "address": "Hafenstrasse 1, Hamburg"}), who="eurotech")
    http = TestClient(create_app(app, background=False), raise_server_exceptions=False)
    q = {"from": "2026-01-01T00:00:00+00:00", "to": "2026-02-01T00:00:00+00:00"}

    def report(user):
        token = app.bus.handle(IssueToken(user_id=user))["token"]
        r = http.get("/api/v1/trs/report", params=q, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        return r.json()

    lead, vet, pol, trader = report("cus-officer"), report("vet-officer"), report("pol-officer"), report("hollandfoods")
    assert (lead["declarations"], vet["declarations"], pol["declarations"], trader["declarations"]) == (3, 1, 0, 2)
    assert set(lead["agencies"]) == {"CUS", "VET"} and set(vet["agencies"]) == {"VET"} and pol["agencies"] == {}
    token = app.bus.handle(IssueToken(user_id="vet-officer"))["token"]
    r = http.get("/api/v1/trs/report", params={"from": "2026-01-01T00:00:00", "to": q["to"]},
                 headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["pointer"] == "/from"
