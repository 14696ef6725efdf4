"""Hunts through the bus: pending matches held and engaged (release waits), recent ones reported to the issuer cut
by the access rule, new ones met by the hunt's watchlist entries and rule until it lapses."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from concord.audit.models import AuditEntry
from concord.clearance.messages import DecideTask
from concord.clearance.models import AgencyTask
from concord.declarations import queries as declarations
from concord.declarations.messages import RecordArrival, SubmitDeclaration
from concord.declarations.models import Declaration, DeclarationVersion
from concord.declarations.schemas import parse_declaration
from concord.errors import Forbidden, InvalidDocument, NotFound
from concord.hunting import queries
from concord.hunting.messages import StartHunt
from concord.hunting.models import DeclarationKey
from concord.risk.scoring.step import RiskStep
from support import declaration, item, subjects

SISTER = "MSCU1234566"


class NeverDraws:
    def random(self) -> float:
        return 1.0


@pytest.fixture
def app(concord):
    concord.bus.deps["risk"] = RiskStep(clock=concord.clock, rng=NeverDraws())
    return concord


def as_(app, user, command):
    return app.bus.handle(command, subject=subjects(app)[user])


def submit(app, doc, who="hollandfoods"):
    return as_(app, who, SubmitDeclaration(document=parse_declaration(doc).model_dump(mode="json")))["id"]


def bananas(lrn, container, origin="EC"):
    return declaration(lrn=lrn, transport={"mode": "sea", "conveyance": "IMO9074729", "containers": [container]},
                       items=[item("080390", "Fresh bananas", origin, documents=["N851"])])


def hunt(app, user="pol-officer", agency="POL", **changes):
    cmd = dict(agency=agency, source="incident/INC-1", indicators={"containers": [SISTER]},
               valid_until=(app.clock.now() + timedelta(days=30)).isoformat(), lookback_days=30,
               purpose="criminal_investigation")
    return as_(app, user, StartHunt(**(cmd | changes)))


def report(app, user, hunt_id, purpose="criminal_investigation"):
    with app.sessions() as s:
        return queries.hunt_report(s, subjects(app)[user], hunt_id, purpose=purpose, access=app.access)


def row(app, did):
    with app.sessions() as s:
        return s.get(Declaration, did)


def test_a_hunt_holds_pending_sisters_reports_recent_ones_and_release_waits(app):
    released = submit(app, declaration(lrn="OLD-1", transport={"mode": "sea", "conveyance": "IMO9074729",
                                                              "containers": [SISTER]}))  # T-shirts from BD
    as_(app, "cus-officer", RecordArrival(declaration_id=released))
    assert row(app, released).status == "released"
    app.clock.advance(days=2)
    pending = submit(app, bananas("BAN-1", SISTER))
    other = submit(app, bananas("BAN-2", "CSQU3054383"))

    h = hunt(app)

    d = row(app, pending)
    assert d.lane == "red" and d.status == "under_control"
    assert "POL" in d.engaged and "/transport" in d.engaged["POL"]["fields"]
    with app.sessions() as s:
        tasks = {t.agency: t for t in s.scalars(select(AgencyTask).where(
            AgencyTask.declaration_id == pending, AgencyTask.status.in_(("held", "open"))))}
        assert tasks["POL"].status == "held" and tasks["POL"].task_type == "hold"
        assert tasks["CUS"].task_type == "inspection"
        audit = {(e.action, e.resource) for e in s.scalars(select(AuditEntry))}
    assert ("hunt:hold:placed", f"declaration/{pending}") in audit
    assert ("hunt:match:found", f"declaration/{released}") in audit
    assert row(app, other).lane == "green"  # another container: not touched

    # the hold shows in the timeline: the lead sees the raised lane, the trader that the goods wait, not why
    with app.sessions() as s:
        lead = declarations.timeline(s, subjects(app)["cus-officer"], pending, access=app.access)
        trader = declarations.get_declaration(s, subjects(app)["hollandfoods"], pending, {}, access=app.access)
    assert {"declaration.lane_raised", "task.decided"} <= {e["event"] for e in lead}
    pol_step = next(x for x in trader["steps"] if x["agency"] == "POL")
    assert pol_step["status"] == "held" and "reasons" not in pol_step and "incident" not in str(trader)

    # release waits for the hold: arrival alone does not release, the police's and customs' clearance does
    as_(app, "cus-officer", RecordArrival(declaration_id=pending))
    assert row(app, pending).status == "under_control"
    as_(app, "pol-officer", DecideTask(task_id=tasks["POL"].id, decision="approve", reason="nothing found"))
    assert row(app, pending).status == "under_control"
    as_(app, "nppo-officer", DecideTask(task_id=tasks["NPPO"].id, decision="approve", reason="certificate"))
    as_(app, "cus-officer", DecideTask(task_id=tasks["CUS"].id, decision="approve", reason="inspected"))
    assert row(app, pending).status == "released"

    # the issuer sees what it may read: the held one (engaged); not the T-shirts from BD (no agreement covers them)
    mine = report(app, "pol-officer", h["id"])
    assert [m["declaration_id"] for m in mine["items"]] == [pending] and mine["total"] == 1
    assert mine["items"][0]["hits"][0]["value"] == SISTER
    lead = report(app, "cus-officer", h["id"], purpose=None)
    assert sorted(m["declaration_id"] for m in lead["items"]) == sorted([pending, released])
    with pytest.raises(NotFound):
        report(app, "vet-officer", h["id"])


def test_a_hunts_cel_rule_also_reports_its_look_back_and_only_to_readers_of_the_whole_document(app):
    from concord.hunting.models import HuntMatch

    rule = 'items.exists(i, i.description == "Cotton T-shirts, false bottom")'
    shirts = lambda lrn: declaration(lrn=lrn, items=[item("610910", "Cotton T-shirts, false bottom", "BD")])  # noqa
    too_old = submit(app, shirts("FB-1"))
    as_(app, "cus-officer", RecordArrival(declaration_id=too_old))
    app.clock.advance(days=40)
    recent = submit(app, shirts("FB-2"))
    as_(app, "cus-officer", RecordArrival(declaration_id=recent))
    plain = submit(app, declaration(lrn="FB-3"))
    as_(app, "cus-officer", RecordArrival(declaration_id=plain))
    assert row(app, recent).status == row(app, too_old).status == "released"
    pending = submit(app, shirts("FB-4"))

    h = hunt(app, indicators={"rule": rule})

    with app.sessions() as s:
        matches = s.scalars(select(HuntMatch).where(HuntMatch.hunt_id == h["id"]))
        matched = {m.declaration_id: m.pending for m in matches}
        audit = {(e.action, e.resource) for e in s.scalars(select(AuditEntry))}
    # within the 30 days' look-back: reported; older, or not meeting the rule: not matched; pending: held
    assert matched == {recent: False, pending: True}
    assert ("hunt:match:found", f"declaration/{recent}") in audit
    assert row(app, pending).lane == "red"
    # A rule may read any field, so its match is shown only to a reader of the whole document: the lead; the
    # police (no agreement covers these T-shirts' fields) see only the one they were engaged on.
    lead = report(app, "cus-officer", h["id"], purpose=None)
    assert sorted(m["declaration_id"] for m in lead["items"]) == sorted([recent, pending]) and lead["total"] == 2
    assert [m["declaration_id"] for m in report(app, "pol-officer", h["id"])["items"]] in ([], [pending])
    assert recent not in str(report(app, "pol-officer", h["id"]))


def test_new_declarations_meet_the_hunt_until_it_lapses(app):
    h = hunt(app, indicators={"containers": [SISTER], "hs": ["0803"], "conveyances": ["KL1234"]},
             lookback_days=0)
    assert len(h["watchlist_entries"]) == 1 and h["rule_id"]  # HS alone and a flight: a rule
    first = submit(app, bananas("NEW-1", SISTER))
    with app.sessions() as s:
        risk = s.get(DeclarationVersion, (first, 1)).risk
    assert risk["lane"] == "red"
    assert {r["kind"] for r in risk["reasons"]} >= {"watchlist", "rule"}
    app.clock.advance(days=31)
    later = submit(app, declaration(lrn="NEW-2", transport={"mode": "sea", "conveyance": "IMO9074729",
                                                            "containers": [SISTER]}))
    assert row(app, later).lane == "green"


def test_the_key_index_follows_lodging_and_amendment(app):
    did = submit(app, bananas("IDX-1", SISTER))
    with app.sessions() as s:
        keys = set(s.scalars(select(DeclarationKey.key).where(DeclarationKey.declaration_id == did)))
    assert {f"c:{SISTER}", "v:IMO9074729", "h:080390", "o:EC:080390", "p:NL823456781"} <= keys


def test_hunts_are_refused_with_pointers_and_only_for_ones_own_agency(app):
    with pytest.raises(Forbidden):
        hunt(app, user="vet-officer")  # for POL
    with pytest.raises(Forbidden):
        hunt(app, user="hollandfoods")
    with pytest.raises(InvalidDocument) as e:
        hunt(app, indicators={"hs": ["8x"], "origins": ["ecuador"]})
    assert {p.pointer for p in e.value.problems} == {"/indicators/hs/0", "/indicators/origins/0"}
    with pytest.raises(InvalidDocument) as e:
        hunt(app, indicators={})
    with pytest.raises(InvalidDocument) as e:
        hunt(app, indicators={"containers": ["MSCU1234567"]})  # wrong check digit: nothing stored
    assert e.value.problems[0].pointer == "/indicators/containers/0"
    with pytest.raises(InvalidDocument) as e:
        hunt(app, indicators={"rule": "items.exists(i, i.hs_code.startsWith("})  # a CEL rule that does not compile
    assert e.value.problems[0].pointer == "/indicators/rule"
    with app.sessions() as s:
        assert queries.hunts_of(s, subjects(app)["pol-officer"]) == []


def test_an_event_starts_a_hunt_with_one_subscriber_line(app):
    from dataclasses import dataclass

    from concord.hunting.handlers import hunt_on
    from concord.messaging.messages import Event

    @dataclass(kw_only=True)
    class NoticeIssued(Event):  # the shape the incidents lane's events carry: id, owner agency, indicators
        name = "notice.issued"
        notice_id: str
        indicators: dict
        valid_until: str

    pending = submit(app, bananas("EVT-1", SISTER))
    app.bus.subscribe(NoticeIssued, hunt_on(lambda e: StartHunt(
        agency=e.agency, source=f"notice/{e.notice_id}", indicators=e.indicators, valid_until=e.valid_until)))
    until = (app.clock.now() + timedelta(days=10)).isoformat()
    app.bus.dispatch([NoticeIssued(agency="NPPO", notice_id="N-1", indicators={"containers": [SISTER]},
                                   valid_until=until, id="ev_test")])
    with app.sessions() as s:
        [h] = queries.hunts_of(s, subjects(app)["nppo-officer"])
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "hunt:started")).one()
    assert h["source"] == "notice/N-1" and h["started_by"] == "system"
    assert audit.actor == "system" and audit.agency == "NPPO"
    assert any(r.startswith("HUNT-") for r in row(app, pending).engaged["NPPO"]["rules"])


def test_the_http_api_starts_a_hunt_and_answers_its_report(app):
    from fastapi.testclient import TestClient

    from concord.access.messages import IssueToken
    from concord.app import create_app

    pending = submit(app, bananas("API-1", SISTER))
    token = {u: app.bus.handle(IssueToken(user_id=u), subject=subjects(app)["admin"])["token"]
             for u in ("pol-officer", "vet-officer", "hollandfoods")}
    with TestClient(create_app(app, background=False)) as client:
        def as_(user):
            return {"Authorization": f"Bearer {token[user]}", "Concord-Purpose": "criminal_investigation"}

        body = {"source": "incident/INC-9", "indicators": {"containers": [SISTER]}, "lookback_days": 7,
                "valid_until": (app.clock.now() + timedelta(days=5)).isoformat()}
        r = client.post("/api/v1/hunts", json=body, headers=as_("pol-officer"))
        assert r.status_code == 201, r.text
        hunt_id = r.json()["id"]
        assert [m["declaration_id"] for m in r.json()["report"]["items"]] == [pending]
        assert client.get(f"/api/v1/hunts/{hunt_id}/report", headers=as_("pol-officer")).json()["total"] == 1
        assert client.get(f"/api/v1/hunts/{hunt_id}/report", headers=as_("vet-officer")).status_code == 404
        assert client.post("/api/v1/hunts", json=body, headers=as_("hollandfoods")).status_code == 403
        bad = client.post("/api/v1/hunts", json=body | {"indicators": {"hs": ["8"]}}, headers=as_("pol-officer"))
        assert bad.status_code == 422 and bad.json()["error"]["problems"][0]["pointer"] == "/indicators/hs/0"
