"""The risk engine through the bus: analysts' rules, shared watchlists, outcomes, rules tried on history."""

from datetime import timedelta

import pytest
from sqlalchemy import select

import concord.risk.models  # noqa: F401 - the tables, until the migration that creates them is generated
from concord.audit.models import AuditEntry
from concord.db import Base
from concord.declarations.messages import SubmitDeclaration
from concord.declarations.models import Declaration, DeclarationVersion
from concord.declarations.schemas import parse_declaration
from concord.errors import Conflict, Forbidden, InvalidDocument, NotFound
from concord.risk import queries
from concord.risk.messages import (AddWatchlistEntry, CreateRule, RecordOutcome, RemoveWatchlistEntry, RetireRule,
                                   TryRule)
from concord.risk.models import RuleHit
from concord.risk.scoring.step import RiskStep
from support import declaration, item, subjects


class NeverDraws:
    """An exploration draw that never selects: lanes in these tests come from hits alone."""

    def random(self) -> float:
        return 1.0


@pytest.fixture
def app(concord):
    Base.metadata.create_all(concord.engine)
    concord.bus.deps["risk"] = RiskStep(clock=concord.clock, rng=NeverDraws())
    return concord


def as_(app, user, command):
    return app.bus.handle(command, subject=subjects(app)[user])


def submit(app, doc, who="hollandfoods"):
    doc = parse_declaration(doc).model_dump(mode="json")
    return as_(app, who, SubmitDeclaration(document=doc))


def risk_of(app, did) -> dict:
    with app.sessions() as s:
        d = s.get(Declaration, did)
        return s.get(DeclarationVersion, (did, d.version)).risk


def textiles_rule(**changes) -> dict:
    return {"id": "TEXTILES-EC", "name": "Textiles shipped from Ecuador", "rationale": "transshipment pattern",
            "expression": 'items.exists(i, i.hs_code.startsWith("6109")) && exporter.country == "EC"',
            "severity": "high", "lane": "red", **changes}


def test_a_rule_created_through_the_bus_forces_its_lane_and_is_reported(app):
    created = as_(app, "cus-analyst", CreateRule(rule=textiles_rule()))
    assert created == {"id": "TEXTILES-EC", "version": 1, "rules_version": 1}
    hit = submit(app, declaration())
    assert hit["status"] == "under_control"
    risk = risk_of(app, hit["id"])
    assert risk["lane"] == "red" and risk["versions"]["rules"] == 1 and risk["versions"]["model"] is None
    assert {"kind": "rule", "id": "TEXTILES-EC", "version": 1, "lane": "red", "forced": True}.items() <= \
        risk["reasons"][0].items()
    missed = submit(app, declaration(lrn="LRN-2", items=[item("090111", "Green coffee", "BR")]))
    assert risk_of(app, missed["id"])["lane"] == "green"
    with app.sessions() as s:
        assert [(h.rule_id, h.declaration_id) for h in s.scalars(select(RuleHit))] == [("TEXTILES-EC", hit["id"])]
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "risk:rule:created")).first() is not None


def test_a_low_severity_rule_is_reported_without_forcing_and_a_new_version_replaces_the_old(app):
    as_(app, "cus-analyst", CreateRule(rule=textiles_rule(severity="low")))
    risk = risk_of(app, submit(app, declaration())["id"])
    assert risk["lane"] == "green" and risk["reasons"][0]["forced"] is False
    assert as_(app, "cus-analyst", CreateRule(rule=textiles_rule()))["version"] == 2
    risk = risk_of(app, submit(app, declaration(lrn="LRN-2"))["id"])
    assert risk["lane"] == "red" and [r["version"] for r in risk["reasons"]] == [2]
    as_(app, "cus-analyst", RetireRule(rule_id="TEXTILES-EC", reason="pattern gone"))
    assert risk_of(app, submit(app, declaration(lrn="LRN-3"))["id"])["lane"] == "green"


def test_invalid_rules_are_refused_with_the_position_and_only_analysts_write_rules(app):
    with pytest.raises(InvalidDocument) as e:
        as_(app, "cus-analyst", CreateRule(rule=textiles_rule(expression='items.exists(i, i.origin == "EC"')))
    assert e.value.problems[0].pointer == "/expression" and "line 1, column " in e.value.problems[0].message
    for user in ("hollandfoods", "nppo-officer"):
        with pytest.raises(Forbidden):
            as_(app, user, CreateRule(rule=textiles_rule()))


def test_a_container_on_an_agency_watchlist_forces_red_and_names_the_entry(app):
    later = (app.clock.now() + timedelta(days=30)).isoformat()
    entry = as_(app, "pol-officer", AddWatchlistEntry(entry={
        "kind": "container", "value": {"number": "mscu1234566"}, "reason": "used for cocaine in 2025",
        "severity": "high", "expires_at": later}))
    r = submit(app, declaration())
    reason = risk_of(app, r["id"])["reasons"][0]
    assert risk_of(app, r["id"])["lane"] == "red"
    assert {"kind": "watchlist", "entry_id": entry["id"], "agency": "POL", "list": "container",
            "pointer": "/transport/containers/0", "forced": True}.items() <= reason.items()
    with pytest.raises(NotFound):  # only the contributing agency withdraws its entry
        as_(app, "vet-officer", RemoveWatchlistEntry(entry_id=entry["id"], reason="not ours"))
    with app.sessions() as s:
        assert [e.id for e in queries.list_entries(s, subjects(app)["pol-officer"], app.clock.now())] == [entry["id"]]
        assert queries.list_entries(s, subjects(app)["vet-officer"], app.clock.now()) == []
    as_(app, "pol-officer", RemoveWatchlistEntry(entry_id=entry["id"], reason="cleared"))
    assert risk_of(app, submit(app, declaration(lrn="LRN-2"))["id"])["lane"] == "green"


def test_watchlist_entries_are_validated_with_pointers(app):
    with pytest.raises(InvalidDocument) as e:
        as_(app, "pol-officer", AddWatchlistEntry(entry={
            "kind": "vessel", "value": {"imo": "IMO9074720"}, "reason": "sanctioned", "severity": "critical",
            "expires_at": (app.clock.now() + timedelta(days=1)).isoformat()}))
    assert e.value.problems[0].pointer == "/value/imo"
    with pytest.raises(InvalidDocument) as e:
        as_(app, "pol-officer", AddWatchlistEntry(entry={
            "kind": "route", "value": {"from": "EC"}, "reason": "old", "severity": "low",
            "expires_at": (app.clock.now() - timedelta(days=1)).isoformat()}))
    assert e.value.problems[0].pointer == "/expires_at"


def test_outcomes_are_recorded_once_and_become_rule_statistics(app):
    as_(app, "cus-analyst", CreateRule(rule=textiles_rule()))
    as_(app, "cus-analyst", CreateRule(rule=textiles_rule(id="NEVER", expression='route.from == "KP"')))
    first, second = submit(app, declaration())["id"], submit(app, declaration(lrn="LRN-2"))["id"]
    out = as_(app, "cus-officer", RecordOutcome(outcome={
        "declaration_id": first, "result": "irregular", "revenue_recovered": {"amount": "1250.00", "currency": "EUR"}}))
    assert out["version"] == 1 and not out["replayed"]
    again = as_(app, "cus-officer", RecordOutcome(outcome={"declaration_id": first, "result": "irregular"}))
    assert again["replayed"]
    with pytest.raises(Conflict):
        as_(app, "cus-officer", RecordOutcome(outcome={"declaration_id": first, "result": "compliant"}))
    with pytest.raises(NotFound):  # an agency not engaged on the declaration does not see it
        as_(app, "vet-officer", RecordOutcome(outcome={"declaration_id": first, "result": "compliant"}))
    as_(app, "cus-officer", RecordOutcome(outcome={"declaration_id": second, "result": "compliant"}))
    with app.sessions() as s:
        stats = {r["id"]: r for r in queries.rule_statistics(s, subjects(app)["cus-analyst"])}
    assert {k: stats["TEXTILES-EC"][k] for k in ("hits", "inspected", "irregular", "hit_rate")} == \
        {"hits": 2, "inspected": 2, "irregular": 1, "hit_rate": 0.5}
    assert stats["NEVER"]["hits"] == 0  # a candidate for retirement


def test_a_rule_is_tried_on_history_before_it_is_activated(app):
    ids = [submit(app, declaration(lrn=f"LRN-{n}", items=[item(hs, "Goods of all sorts", "CN")]))["id"]
           for n, hs in enumerate(["610910", "610910", "610910", "090111"])]
    as_(app, "cus-officer", RecordOutcome(outcome={"declaration_id": ids[0], "result": "irregular"}))
    as_(app, "cus-officer", RecordOutcome(outcome={"declaration_id": ids[1], "result": "compliant"}))
    as_(app, "cus-officer", RecordOutcome(outcome={"declaration_id": ids[3], "result": "compliant"}))
    tried = as_(app, "cus-analyst", TryRule(expression='items.exists(i, i.hs_code.startsWith("61"))'))
    assert {k: tried[k] for k in ("scanned", "hits", "inspected", "irregular", "hit_rate", "base_rate")} == \
        {"scanned": 4, "hits": 3, "inspected": 2, "irregular": 1, "hit_rate": 0.5, "base_rate": 0.3333}
    assert tried["sample"] == ids[:3]
    later = as_(app, "cus-analyst", TryRule(expression="true", since=app.clock.now() + timedelta(minutes=1)))
    assert later["scanned"] == 0
    with pytest.raises(InvalidDocument):
        as_(app, "cus-analyst", TryRule(expression="items.exists(i,"))


def client(app, user):
    from fastapi.testclient import TestClient

    from concord.access.deps import current_subject
    from concord.app import create_app
    from concord.risk.api import router

    web = create_app(app, background=False)
    if not any(getattr(r, "path", "").startswith("/api/v1/risk") for r in web.routes):
        web.include_router(router)
    web.dependency_overrides[current_subject] = lambda: subjects(app)[user]
    return TestClient(web)


def test_the_http_api_keeps_rules_watchlists_and_outcomes(app):
    analyst, police, customs = client(app, "cus-analyst"), client(app, "pol-officer"), client(app, "cus-officer")
    created = analyst.post("/api/v1/risk/rules", json=textiles_rule())
    assert created.status_code == 201 and created.headers["location"] == "/api/v1/risk/rules/TEXTILES-EC"
    bad = analyst.post("/api/v1/risk/rules", json=textiles_rule(expression="items.exists(i, i.nope)"))
    assert bad.status_code == 422 and bad.json()["error"]["problems"][0]["pointer"] == "/expression"
    assert [r["id"] for r in analyst.get("/api/v1/risk/rules").json()] == ["TEXTILES-EC"]
    assert police.get("/api/v1/risk/rules").status_code == 403
    later = (app.clock.now() + timedelta(days=30)).isoformat()
    entry = police.post("/api/v1/risk/watchlist", json={"kind": "vessel", "value": {"imo": "IMO 9074729"},
                                                        "reason": "sanctions evasion", "expires_at": later})
    assert entry.status_code == 201
    assert [e["value"] for e in police.get("/api/v1/risk/watchlist").json()] == [{"imo": "IMO9074729"}]
    did = submit(app, declaration())["id"]
    assert {r["kind"] for r in risk_of(app, did)["reasons"]} == {"rule", "watchlist"}
    recorded = customs.post("/api/v1/risk/outcomes", json={"declaration_id": did, "result": "irregular"})
    assert recorded.status_code == 201
    assert customs.post("/api/v1/risk/outcomes", json={"declaration_id": did, "result": "irregular"}).status_code == 200
    stats = analyst.get("/api/v1/risk/rules/stats").json()
    assert (stats[0]["hits"], stats[0]["irregular"]) == (1, 1)
    tried = analyst.post("/api/v1/risk/rules/try", json={"expression": 'transport.mode == "sea"'}).json()
    assert (tried["hits"], tried["irregular"]) == (1, 1)
    assert police.delete(f"/api/v1/risk/watchlist/{entry.json()['id']}", params={"reason": "lifted"}).status_code == 200
    assert analyst.post("/api/v1/risk/rules/TEXTILES-EC/retire", json={"reason": "done"}).status_code == 200


class ValueModel:
    """A fake learned model: the higher the declared value, the riskier."""

    version = "fake-1"

    def score_records(self, records):
        return [min(1.0, r.value / 100000) for r in records]

    def explain(self, record, top):
        return [("log_value", 0.8), ("origin", -0.1)][:top]


def test_the_model_scores_explain_and_the_budget_holds_its_rate(app):
    from concord.risk.scoring.compiled import ModelSource

    step = RiskStep(clock=app.clock, rng=NeverDraws(), models=ModelSource(load=lambda _: ValueModel()))
    docs = [parse_declaration(declaration(lrn=f"L{n}", items=[item("090111", "Green coffee", "BR",
                                                                   amount=f"{1000 + (n * 7919) % 90000}.00")]))
            .model_dump(mode="json") for n in range(400)]
    with app.sessions() as s:
        snapshot = app.directory.current(s)
        out = [step.assess(s, snapshot, d, declaration_id=f"D{n}/1") for n, d in enumerate(docs)]
    assert out[0].versions["model"] == "fake-1"
    model = next(r for r in out[-1].reasons if r["kind"] == "model")
    assert model["contributions"] == [{"feature": "log_value", "contribution": 0.8, "item": 0},
                                      {"feature": "origin", "contribution": -0.1, "item": 0}]
    late = out[100:]  # once the window has history
    assert abs(sum(a.lane == "red" for a in late) / len(late) - 0.05) < 0.02
    assert abs(sum(a.lane == "yellow" for a in late) / len(late) - 0.10) < 0.03
    red = [a for a in late if a.lane == "red"]
    assert all(a.score >= max(b.score for b in late if b.lane == "green") for a in red)


def test_a_restarted_step_seeds_its_window_from_stored_assessments_of_the_same_model(app):
    from concord.risk.scoring.compiled import ModelSource

    app.bus.deps["risk"] = RiskStep(clock=app.clock, rng=NeverDraws(), models=ModelSource(load=lambda _: ValueModel()))
    for n in range(5):
        submit(app, declaration(lrn=f"LRN-{n}"))
    restarted = RiskStep(clock=app.clock, rng=NeverDraws(), models=ModelSource(load=lambda _: ValueModel()))
    doc = parse_declaration(declaration(lrn="X")).model_dump(mode="json")
    with app.sessions() as s:
        snapshot = app.directory.current(s)
        restarted.assess(s, snapshot, doc, declaration_id="X/1")
    window = restarted.budget.window("NLRTM", restarted.policies.of(snapshot, "NLRTM"), "fake-1")
    assert len(window) == 6 and all(score == 0.028 for score, _, _ in window.entries)


def test_with_party_screening_plugged_in_names_are_screened_once(app):
    from concord.screening.service import PartyScreening

    app.bus.deps["risk"] = RiskStep(clock=app.clock, rng=NeverDraws(),
                                    screening=PartyScreening.from_settings(app.settings))
    later = (app.clock.now() + timedelta(days=30)).isoformat()
    entry = as_(app, "pol-officer", AddWatchlistEntry(entry={
        "kind": "party", "value": {"name": "Guayaquil Bananna Exporters S.A."}, "reason": "front company",
        "severity": "high", "expires_at": later}))
    reasons = risk_of(app, submit(app, declaration())["id"])["reasons"]
    assert [(r["kind"], r["entry_id"]) for r in reasons] == [("screening", entry["id"])]
