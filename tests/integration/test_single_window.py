"""The main job end to end through the bus, on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import func, select

from concord.audit.models import AuditEntry
from concord.clearance.messages import CheckDeadlines, DecideTask, SupplyDocuments
from concord.clearance.models import AgencyTask
from concord.declarations import queries
from concord.declarations.messages import AmendDeclaration, CancelDeclaration, RecordArrival, SubmitDeclaration
from concord.declarations.models import Declaration
from concord.declarations.schemas import parse_declaration
from concord.errors import Conflict, InvalidDocument, NotFound
from concord.messaging.models import EventRecord
from support import declaration, item, subjects


def submit(app, doc, who="hollandfoods", key=None):
    doc = parse_declaration(doc).model_dump(mode="json")
    return app.bus.handle(SubmitDeclaration(document=doc, idempotency_key=key), subject=subjects(app)[who])


def tasks(app, did):
    with app.sessions() as s:
        d = s.get(Declaration, did)
        return {t.agency: t for t in s.scalars(select(AgencyTask).where(
            AgencyTask.declaration_id == did, AgencyTask.declaration_version == d.version))}


def status(app, did):
    with app.sessions() as s:
        return s.get(Declaration, did).status


def decide(app, task, decision="approve", reason="checked", **kw):
    officer = {"CUS": "cus-officer"}.get(task.agency, f"{task.agency.lower()}-officer")
    return app.bus.handle(DecideTask(task_id=task.id, decision=decision, reason=reason, **kw),
                          subject=subjects(app)[officer])


def arrive(app, did):
    return app.bus.handle(RecordArrival(declaration_id=did), subject=subjects(app)["cus-officer"])


def test_customs_only_goods_release_on_arrival(concord):
    r = submit(concord, declaration())
    assert r["status"] == "cleared" and not r["replayed"]
    assert set(tasks(concord, r["id"])) == {"CUS"}
    assert arrive(concord, r["id"])["status"] == "released"
    events = [e["event"] for e in queries.timeline(concord.sessions(), subjects(concord)["cus-officer"], r["id"], access=concord.access)]
    assert events == ["declaration.lodged", "declaration.accepted", "declaration.risk_assessed", "task.created",
                      "declaration.cleared", "declaration.goods_arrived", "declaration.released"]


def test_every_engaged_agency_must_clear_before_release(concord):
    doc = declaration(items=[item("080390", "Fresh bananas", "EC", documents=["N851"]),
                             item("030617", "Frozen shrimps", "VN")])
    r = submit(concord, doc)
    t = tasks(concord, r["id"])
    assert set(t) == {"CUS", "NPPO", "VET"}
    assert t["NPPO"].reasons[0]["rule"] == "NPPO-PLANTS" and t["NPPO"].reasons[0]["items"] == [0]
    assert "2016/2031" in t["NPPO"].reasons[0]["legal_basis"]
    assert t["VET"].task_type == "inspection" and t["VET"].reasons[0]["items"] == [1]
    arrive(concord, r["id"])
    decide(concord, t["NPPO"])
    assert status(concord, r["id"]) == "under_control"
    decide(concord, t["VET"], inspection={"result": "compliant"})
    assert status(concord, r["id"]) == "released"


def test_one_refusal_refuses_the_declaration_and_late_decisions_cannot_undo_it(concord):
    doc = declaration(items=[item("080390", "Fresh bananas", "EC", documents=["N851"]),
                             item("030617", "Frozen shrimps", "VN")])
    r = submit(concord, doc)
    t = tasks(concord, r["id"])
    decide(concord, t["VET"], "refuse", "residues of banned antibiotics")
    with concord.sessions() as s:
        d = s.get(Declaration, r["id"])
        assert d.status == "refused" and d.outcome_reason == "VET: residues of banned antibiotics"
    with pytest.raises(Conflict):
        decide(concord, t["NPPO"], "approve")
    with pytest.raises(Conflict):
        decide(concord, t["VET"], "approve")
    assert status(concord, r["id"]) == "refused"


def test_a_retried_decision_is_recorded_once(concord):
    r = submit(concord, declaration(items=[item("080390", "Fresh bananas", "EC", documents=["N851"])]))
    nppo = tasks(concord, r["id"])["NPPO"]
    first = decide(concord, nppo, decision_id="officer-click-1")
    again = decide(concord, nppo, decision_id="officer-click-1")
    assert not first["replayed"] and again["replayed"] and again["status"] == "approved"


def test_documents_requested_supplied_and_back_to_the_agency(concord):
    r = submit(concord, declaration(items=[item("080390", "Fresh bananas", "EC", documents=["N851"])]))
    nppo = tasks(concord, r["id"])["NPPO"]
    decide(concord, nppo, "request_documents", "certificate illegible", documents=["N851"])
    assert status(concord, r["id"]) == "documents_requested"
    view = queries.get_declaration(concord.sessions(), subjects(concord)["hollandfoods"], r["id"], {}, access=concord.access)
    assert any(s.get("requested_documents") == ["N851"] for s in view["steps"])
    concord.bus.handle(SupplyDocuments(declaration_id=r["id"], task_id=nppo.id,
                                       documents=[{"type": "N851", "reference": "EC-PHYTO-2"}]),
                       subject=subjects(concord)["hollandfoods"])
    assert tasks(concord, r["id"])["NPPO"].status == "open"
    decide(concord, nppo)
    arrive(concord, r["id"])
    assert status(concord, r["id"]) == "released"


def test_idempotent_submission(concord):
    first = submit(concord, declaration(), key="k-1")
    assert submit(concord, declaration(), key="k-1") == first | {"replayed": True}
    assert submit(concord, declaration())["id"] == first["id"]  # same declarant and LRN
    with pytest.raises(Conflict, match="amend"):
        submit(concord, declaration(office_of_entry="NLAMS"))
    with pytest.raises(Conflict, match="Idempotency-Key"):
        submit(concord, declaration(lrn="OTHER"), key="k-1")
    with concord.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 1


def test_amendment_creates_a_version_and_reroutes(concord):
    r = submit(concord, declaration())
    doc = parse_declaration(declaration(items=[item("080390", "Fresh bananas", "EC", documents=["N851"])])).model_dump(mode="json")
    out = concord.bus.handle(AmendDeclaration(declaration_id=r["id"], document=doc), subject=subjects(concord)["hollandfoods"])
    assert out["version"] == 2
    assert set(tasks(concord, r["id"])) == {"CUS", "NPPO"}
    with concord.sessions() as s:
        history = queries.versions(s, subjects(concord)["hollandfoods"], r["id"], access=concord.access)
    assert [v["version"] for v in history] == [1, 2] and "lane" not in history[0]
    assert [i["hs_code"] for v in history for i in v["document"]["items"]] == ["610910", "080390"]


def test_cancel_before_release_only(concord):
    r = submit(concord, declaration())
    concord.bus.handle(CancelDeclaration(declaration_id=r["id"], reason="buyer withdrew"), subject=subjects(concord)["hollandfoods"])
    assert status(concord, r["id"]) == "cancelled"
    r2 = submit(concord, declaration(lrn="LRN-2"))
    arrive(concord, r2["id"])
    with pytest.raises(Conflict):
        concord.bus.handle(CancelDeclaration(declaration_id=r2["id"], reason="too late"), subject=subjects(concord)["hollandfoods"])


def test_a_bad_declaration_stores_nothing(concord):
    def counts():
        with concord.sessions() as s:
            return [s.scalar(select(func.count()).select_from(m)) for m in (Declaration, EventRecord, AuditEntry)]

    before = counts()
    bad = declaration(items=[item("999", "x", "ZZ")], office_of_entry="rotterdam")
    with pytest.raises(InvalidDocument) as e:
        submit(concord, bad)
    pointers = {p.pointer for p in e.value.problems}
    assert {"/items/0/hs_code", "/items/0/origin", "/office_of_entry", "/items/0/description"} <= pointers
    with pytest.raises(InvalidDocument) as e:  # valid document, but the declarant is someone else
        submit(concord, declaration(), who="eurotech")
    assert e.value.problems[0].pointer == "/declarant/id"
    assert counts() == before


def test_who_sees_what(concord):
    r = submit(concord, declaration(items=[item("080390", "Fresh bananas", "EC", documents=["N851"])]))
    who = subjects(concord)
    s = concord.sessions()
    with pytest.raises(NotFound):
        queries.get_declaration(s, who["eurotech"], r["id"], {}, access=concord.access)  # another trader
    with pytest.raises(NotFound):
        queries.get_declaration(s, who["pol-officer"], r["id"], {}, access=concord.access)  # an agency not engaged
    nppo = queries.get_declaration(s, who["nppo-officer"], r["id"], {}, access=concord.access)
    assert "exporter" not in nppo["document"] and "value" not in nppo["document"]["items"][0]
    assert nppo["document"]["items"][0]["hs_code"] == "080390" and "risk" not in nppo
    trader = queries.get_declaration(s, who["hollandfoods"], r["id"], {}, access=concord.access)
    assert "risk" not in trader and "lane" not in trader and trader["document"]["exporter"]["id"] == "ECEXP000001"
    assert all(e["event"] != "declaration.risk_assessed" for e in queries.timeline(s, who["hollandfoods"], r["id"], access=concord.access))
    assert queries.list_declarations(s, who["pol-officer"], access=concord.access)["total"] == 0
    assert queries.list_declarations(s, who["nppo-officer"], access=concord.access)["total"] == 1
    assert queries.list_declarations(s, who["eurotech"], access=concord.access)["total"] == 0
    s.close()


def test_sla_overdue_is_raised_once(concord):
    r = submit(concord, declaration(items=[item("080390", "Fresh bananas", "EC", documents=["N851"])]))
    concord.clock.advance(hours=25)
    assert concord.bus.handle(CheckDeadlines()) == 1
    assert concord.bus.handle(CheckDeadlines()) == 0
    with concord.sessions() as s:
        names = s.scalars(select(EventRecord.name).where(EventRecord.declaration_id == r["id"])).all()
    assert names.count("task.overdue") == 1


def test_commands_audit_and_publish_in_one_transaction(concord):
    seen = []
    concord.transport.subscribe(seen.append)
    r = submit(concord, declaration())
    concord.bus.relay.flush()
    with concord.sessions() as s:
        actions = s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)).all()
        assert actions[-1] == "declaration:lodged"
        assert s.scalar(select(func.count()).select_from(EventRecord).where(EventRecord.published_at.is_(None))) == 0
    assert [m["name"] for m in seen if m["declaration_id"] == r["id"] and m["audience"] == "CUS"][:2] == [
        "declaration.lodged", "declaration.accepted"]


def test_a_lodging_group_commits_together_and_fails_item_by_item(concord):
    from concord.declarations.messages import LodgeGroup

    who = subjects(concord)
    good = parse_declaration(declaration()).model_dump(mode="json")
    other = parse_declaration(declaration(lrn="EU-1", declarant=declaration()["declarant"] | {"id": "DE345678912"})).model_dump(mode="json")
    foreign = parse_declaration(declaration(lrn="X-1")).model_dump(mode="json")  # declarant is Holland Foods
    results = concord.bus.handle(LodgeGroup(items=[(who["hollandfoods"], good, None), (who["eurotech"], other, None),
                                                   (who["eurotech"], foreign, None), (who["hollandfoods"], good, None)]))
    assert not results[0]["replayed"] and not results[1]["replayed"]
    assert isinstance(results[2], InvalidDocument) and results[2].problems[0].pointer == "/declarant/id"
    assert results[3] == results[0] | {"replayed": True}  # the same lodging twice in one group: once
    with concord.sessions() as s:
        rows = s.execute(select(Declaration.trader_id, Declaration.lrn)).all()
        actors = s.scalars(select(AuditEntry.actor).where(AuditEntry.action == "declaration:lodged")).all()
    assert sorted(rows) == [("DE345678912", "EU-1"), ("NL823456781", "LRN-0001")]
    assert sorted(actors) == ["eurotech", "hollandfoods"]  # each item audited under its own trader
