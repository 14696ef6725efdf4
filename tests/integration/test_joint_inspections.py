"""Joint inspections through the bus: proposed once for every agency, confirmed when all accept, goods moved once,
each agency's findings its own, laboratory results, reschedules and no-shows; on SQLite and PostgreSQL."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from concord.clearance.models import AgencyTask
from concord.declarations.messages import RecordArrival, SubmitDeclaration
from concord.declarations.models import Declaration
from concord.declarations.schemas import parse_declaration
from concord.errors import Conflict, Forbidden, NotFound
from concord.inspections import queries
from concord.inspections.messages import (AnswerInvitation, RecordFinding, RecordLabResult, RecordNoShow,
                                          RequestInspection, RescheduleInspection, StartInspection)
from concord.inspections.models import InspectionBooking, JointInspection
from concord.messaging.models import EventRecord
from concord.risk.models import InspectionOutcome
from support import declaration, item, subjects

WEDNESDAY_8 = datetime(2026, 1, 7, 8, 0, tzinfo=timezone.utc)  # the test declarations' expected arrival


def fish_and_fruit(lrn="LRN-JI-1", containers=("MSCU1234566",)):
    """Frozen fish (VET inspects) and bananas without a phytosanitary certificate (NPPO inspects): two agencies
    must examine the same container."""
    return declaration(lrn=lrn, transport={"mode": "sea", "conveyance": "IMO9074729", "containers": list(containers)},
                       items=[item("030617", "Frozen shrimps", "VN"), item("080390", "Fresh bananas", "EC")])


def lodge(app, doc, who="hollandfoods"):
    doc = parse_declaration(doc).model_dump(mode="json")
    return app.bus.handle(SubmitDeclaration(document=doc), subject=subjects(app)[who])["id"]


def inspection_of(app, did) -> JointInspection:
    with app.sessions() as s:
        return s.scalars(select(JointInspection).where(JointInspection.declaration_id == did)).one()


def events(app, did, name):
    with app.sessions() as s:
        return s.scalar(select(func.count()).select_from(EventRecord).where(
            EventRecord.declaration_id == did, EventRecord.name == name))


def act(app, cmd, who):
    return app.bus.handle(cmd, subject=subjects(app)[who])


def confirm(app, insp_id):
    for who in ("nppo-officer", "vet-officer"):
        act(app, AnswerInvitation(inspection_id=insp_id, accept=True), who)


def test_two_agencies_get_one_slot_and_the_goods_move_once(concord):
    did = lodge(concord, fish_and_fruit())
    insp = inspection_of(concord, did)  # proposed by Concord itself: two agencies need the goods
    assert sorted(insp.agencies) == ["NPPO", "VET"] and insp.status == "proposed"
    assert (insp.facility, insp.bay, insp.slot_start) == ("RTM-JIC", 1, WEDNESDAY_8)  # not before the arrival
    r = act(concord, AnswerInvitation(inspection_id=insp.id, accept=True), "nppo-officer")
    assert r["status"] == "proposed"  # VET has not answered: no confirmation yet
    with pytest.raises(Conflict):
        act(concord, StartInspection(inspection_id=insp.id), "cus-officer")
    assert act(concord, AnswerInvitation(inspection_id=insp.id, accept=True), "vet-officer")["status"] == "confirmed"
    with pytest.raises(Conflict, match="not arrived"):
        act(concord, StartInspection(inspection_id=insp.id), "cus-officer")
    concord.clock.set(WEDNESDAY_8)
    act(concord, RecordArrival(declaration_id=did), "cus-officer")
    assert act(concord, StartInspection(inspection_id=insp.id), "cus-officer")["status"] == "in_progress"
    act(concord, StartInspection(inspection_id=insp.id), "cus-officer")  # a retry moves nothing
    assert events(concord, did, "inspection.started") == 1

    concord.clock.advance(minutes=40)
    vet = act(concord, RecordFinding(inspection_id=insp.id, result="irregular", findings="undeclared frozen fish",
                                     seals_before=["SEAL-1"], seals_after=["SEAL-2"],
                                     photos=[{"media_type": "image/jpeg", "content": b"\xff\xd8\xffphoto"}]), "vet-officer")
    assert vet["inspection_status"] == "in_progress"  # NPPO has still to record its own
    nppo = act(concord, RecordFinding(inspection_id=insp.id, result="compliant", findings="no pests seen",
                                      samples=[{"description": "leaf sample", "laboratory": "NVWA lab Wageningen"}]),
               "nppo-officer")
    insp = inspection_of(concord, did)
    assert (insp.status, insp.outcome) == ("finished", "irregular")
    with concord.sessions() as s:
        assert s.scalar(select(func.count()).select_from(InspectionBooking)) == 0  # the bay is free again
        outcomes = {o.agency: o.result for o in s.scalars(select(InspectionOutcome).where(
            InspectionOutcome.declaration_id == did))}
    assert outcomes == {"VET": "irregular"}  # NPPO's waits for its laboratory
    concord.clock.advance(days=2)
    lab = act(concord, RecordLabResult(sample_id=nppo["samples"][0], result="compliant", detail="no Xylella"),
              "nppo-officer")
    assert lab["finding_final_result"] == "compliant"
    with concord.sessions() as s:
        assert s.scalar(select(InspectionOutcome.result).where(InspectionOutcome.declaration_id == did,
                                                               InspectionOutcome.agency == "NPPO")) == "compliant"
    assert vet["photos"] and events(concord, did, "inspection.finding_recorded") == 2


def test_each_agency_sees_its_own_findings_the_trader_one_outcome(concord):
    did = lodge(concord, fish_and_fruit())
    insp = inspection_of(concord, did)
    confirm(concord, insp.id)
    concord.clock.set(WEDNESDAY_8)
    act(concord, RecordArrival(declaration_id=did), "cus-officer")
    act(concord, StartInspection(inspection_id=insp.id), "cus-officer")
    act(concord, RecordFinding(inspection_id=insp.id, result="irregular", findings="undeclared fish",
                               photos=[{"media_type": "image/png", "content": b"\x89PNG\r\n\x1a\npng-bytes"}]), "vet-officer")
    act(concord, RecordFinding(inspection_id=insp.id, result="compliant", findings="no pests"), "nppo-officer")
    who = subjects(concord)

    def view(user, purpose=None):
        with concord.sessions() as s:
            return queries.get_inspection(s, who[user], insp.id, purpose=purpose, access=concord.access)

    vet, nppo, trader, customs = view("vet-officer"), view("nppo-officer"), view("hollandfoods"), view("cus-officer")
    own = {f["agency"]: f for f in vet["findings"]}
    assert own["VET"]["findings"] == "undeclared fish" and own["VET"]["photos"][0]["size"] == 17
    assert own["NPPO"] == {"agency": "NPPO", "finding_id": own["NPPO"]["finding_id"], "recorded": True}
    assert {f["agency"]: "result" in f for f in nppo["findings"]} == {"VET": False, "NPPO": True}
    for seen in (trader, customs):  # neither the trader nor the lead reads an agency's findings
        assert all(set(f) == {"agency", "finding_id", "recorded"} for f in seen["findings"])
    assert trader["outcome"] == customs["outcome"] == "irregular"  # the trader's one outcome
    assert "outcome" not in vet and vet["withheld"]["outcome"] == "CUS"
    assert "reason" not in str(trader["history"])
    sha = own["VET"]["photos"][0]["sha256"]
    with concord.sessions() as s:
        assert queries.attachment(s, who["vet-officer"], insp.id, sha, access=concord.access).content == b"\x89PNG\r\n\x1a\npng-bytes"
        for user in ("nppo-officer", "hollandfoods", "cus-officer", "pol-officer"):
            with pytest.raises(NotFound):
                queries.attachment(s, who[user], insp.id, sha, access=concord.access)
        with pytest.raises(NotFound):  # an agency not engaged: as missing as an inspection that is not there
            queries.get_inspection(s, who["pol-officer"], insp.id, access=concord.access)


def test_an_agreement_shares_the_fields_it_lists(concord):
    """VET's results on meat and fish go to the food authority for public health (SOP-VET-FDA-FOOD-RESULTS)."""
    doc = fish_and_fruit(lrn="LRN-JI-FDA")
    doc["items"].append(item("080111", "Desiccated coconut", "IN"))  # engages FDA (document check)
    did = lodge(concord, doc)
    insp = inspection_of(concord, did)
    confirm(concord, insp.id)
    concord.clock.set(WEDNESDAY_8)
    act(concord, RecordArrival(declaration_id=did), "cus-officer")
    act(concord, StartInspection(inspection_id=insp.id), "cus-officer")
    act(concord, RecordFinding(inspection_id=insp.id, result="irregular", findings="temperature abuse",
                               seals_before=["S1"]), "vet-officer")
    with concord.sessions() as s:
        fda = subjects(concord)["fda-officer"]
        plain = queries.get_inspection(s, fda, insp.id, access=concord.access)
        shared = queries.get_inspection(s, fda, insp.id, purpose="public_health", access=concord.access)
    assert "result" not in plain["findings"][0]
    vet = next(f for f in shared["findings"] if f["agency"] == "VET")
    assert (vet["result"], vet["findings"]) == ("irregular", "temperature abuse")
    assert "seals_before" not in vet and "photos" not in vet  # the scope lists /result and /findings only


def test_a_declined_slot_moves_everyone_and_bays_are_not_double_booked(concord):
    first = inspection_of(concord, lodge(concord, fish_and_fruit("LRN-JI-A")))
    second = inspection_of(concord, lodge(concord, fish_and_fruit("LRN-JI-B", ["TGHU7654320"])))
    third = inspection_of(concord, lodge(concord, fish_and_fruit("LRN-JI-C", ["MSKU9070323"])))
    assert [(i.slot_start, i.bay) for i in (first, second)] == [(WEDNESDAY_8, 1), (WEDNESDAY_8, 2)]
    # NPPO and VET have two officers each at the centre: a third inspection at 08:00 would need a third
    assert (third.slot_start, third.bay) == (WEDNESDAY_8 + timedelta(hours=2), 1)
    act(concord, AnswerInvitation(inspection_id=first.id, accept=True), "nppo-officer")
    r = act(concord, AnswerInvitation(inspection_id=first.id, accept=False, reason="no officer free"), "vet-officer")
    moved = inspection_of(concord, first.declaration_id)
    assert r["status"] == "proposed" and moved.slot_start > WEDNESDAY_8 and moved.reschedules == 1
    assert (moved.slot_start, moved.bay) != (third.slot_start, third.bay)  # never on a bay already held
    with concord.sessions() as s:
        held = s.execute(select(InspectionBooking.facility, InspectionBooking.bay, InspectionBooking.slot_start)).all()
    assert len(held) == len(set(held)) == 3
    r = act(concord, AnswerInvitation(inspection_id=first.id, accept=True), "nppo-officer")
    assert r["status"] == "proposed"  # NPPO's earlier yes was for the old slot: everyone answers again


def test_the_trader_reschedules_and_a_no_show_gets_a_new_slot(concord):
    did = lodge(concord, fish_and_fruit())
    insp = inspection_of(concord, did)
    with pytest.raises(NotFound):  # an agency not engaged on the declaration: no such inspection
        act(concord, RescheduleInspection(inspection_id=insp.id, reason="x"), "pol-officer")
    r = act(concord, RescheduleInspection(inspection_id=insp.id, reason="vessel delayed",
                                          not_before=WEDNESDAY_8 + timedelta(days=1)), "hollandfoods")
    assert r["slot_start"] == (WEDNESDAY_8 + timedelta(days=1)).isoformat()
    confirm(concord, insp.id)
    concord.clock.set(WEDNESDAY_8 + timedelta(days=1, minutes=30))
    with pytest.raises(Forbidden):
        act(concord, RecordNoShow(inspection_id=insp.id, party="trader"), "vet-officer")
    r = act(concord, RecordNoShow(inspection_id=insp.id, party="trader"), "cus-officer")
    assert r["status"] == "proposed" and r["slot_start"] == (WEDNESDAY_8 + timedelta(days=1, hours=2)).isoformat()
    with concord.sessions() as s:
        history = s.get(JointInspection, insp.id).history
    assert [h["what"] for h in history] == ["rescheduled", "no_show"]


def test_an_absent_agency_gets_a_slot_of_its_own_afterwards(concord):
    did = lodge(concord, fish_and_fruit())
    insp = inspection_of(concord, did)
    confirm(concord, insp.id)
    concord.clock.set(WEDNESDAY_8 + timedelta(minutes=10))
    act(concord, RecordArrival(declaration_id=did), "cus-officer")
    act(concord, RecordNoShow(inspection_id=insp.id, party="VET"), "cus-officer")
    act(concord, StartInspection(inspection_id=insp.id), "cus-officer")
    with pytest.raises(Conflict):
        act(concord, RecordFinding(inspection_id=insp.id, result="compliant", findings="late"), "vet-officer")
    act(concord, RecordFinding(inspection_id=insp.id, result="compliant", findings="no pests"), "nppo-officer")
    with concord.sessions() as s:
        rows = s.scalars(select(JointInspection).where(JointInspection.declaration_id == did)
                         .order_by(JointInspection.requested_at, JointInspection.id)).all()
        assert [(r.status, r.agencies) for r in rows] == [("finished", ["NPPO", "VET"]), ("proposed", ["VET"])]


def test_one_agency_asks_and_a_second_joins_the_same_slot(concord):
    did = lodge(concord, declaration(lrn="LRN-JI-ONE", items=[item("030617", "Frozen shrimps", "VN")]))
    with concord.sessions() as s:
        assert s.scalar(select(func.count()).select_from(JointInspection)) == 0  # one agency: nothing proposed
    r = act(concord, RequestInspection(declaration_id=did), "vet-officer")
    assert r["agencies"] == ["VET"] and not r["replayed"]
    assert act(concord, RequestInspection(declaration_id=did), "vet-officer")["replayed"]
    with concord.sessions() as s:
        cus = s.scalars(select(AgencyTask).where(AgencyTask.declaration_id == did, AgencyTask.agency == "CUS")).one()
        cus.status = "open"  # customs reopens its control (as a red lane would): it joins VET's slot
        s.commit()
    r = act(concord, RequestInspection(declaration_id=did), "cus-officer")
    assert r["agencies"] == ["VET", "CUS"] and r["id"] == inspection_of(concord, did).id
    with pytest.raises(NotFound):
        act(concord, RequestInspection(declaration_id=did), "pol-officer")


def test_a_cancelled_declaration_frees_the_bay(concord):
    from concord.declarations.messages import CancelDeclaration

    did = lodge(concord, fish_and_fruit())
    act(concord, CancelDeclaration(declaration_id=did, reason="order cancelled"), "hollandfoods")
    assert inspection_of(concord, did).status == "cancelled"
    with concord.sessions() as s:
        assert s.scalar(select(func.count()).select_from(InspectionBooking)) == 0
        assert s.get(Declaration, did).status == "cancelled"


def test_the_event_stream_cuts_a_finding_like_a_read(sqlite_concord):
    from concord.messaging.audiences import messages_for, trader_audience

    app = sqlite_concord
    did = lodge(app, fish_and_fruit())
    insp = inspection_of(app, did)
    confirm(app, insp.id)
    app.clock.set(WEDNESDAY_8)
    act(app, RecordArrival(declaration_id=did), "cus-officer")
    act(app, StartInspection(inspection_id=insp.id), "cus-officer")
    act(app, RecordFinding(inspection_id=insp.id, result="irregular", findings="undeclared fish",
                           seals_before=["S1"]), "vet-officer")
    with app.sessions() as s:
        rows = [{"id": r.id, "name": r.name, "declaration_id": r.declaration_id, "agency": r.agency,
                 "occurred_at": r.occurred_at, "payload": r.payload}
                for r in s.scalars(select(EventRecord).where(EventRecord.declaration_id == did,
                                                             EventRecord.name == "inspection.finding_recorded"))]
        sent = {m["audience"]: m["payload"] for m in messages_for(s, rows, access=app.access)}
    assert sent["VET"]["findings"] == "undeclared fish" and sent["VET"]["seals_before"] == ["S1"]
    for audience in ("CUS", trader_audience("NL823456781"), "NPPO"):
        if audience in sent:  # the lead, the trader, the other agency: that a finding exists, never what it says
            assert not {"result", "findings", "seals_before", "photos", "samples"} & set(sent[audience])
    assert "CUS" in sent and trader_audience("NL823456781") in sent
