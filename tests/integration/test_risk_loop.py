"""The loop closes live: recorded outcomes reach the model at once, retraining on the hub's outcomes,
champion against challenger, drift raised to the risk unit."""

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from concord.risk import models as _risk_tables  # noqa: F401 - the tables, until a migration creates them
from concord.access.deps import current_subject
from concord.app import create_app
from concord.db import Base
from concord.declarations.grouping import lodge_isolated
from concord.declarations.messages import SubmitDeclaration
from concord.declarations.models import Declaration, DeclarationVersion
from concord.declarations.schemas import parse_declaration
from concord.messaging.models import EventRecord
from concord.risk.learning import registry as registry_module
from concord.risk.learning.datasets import record_from_declaration
from concord.risk.handlers import declaration_feed_job
from concord.risk.learning.hub import challenge, follow_declarations, hub_outcomes, train_from_hub
from concord.risk.learning.model import fit
from concord.risk.learning.registry import ModelRegistry
from concord.risk.learning.synthetic import synthetic_records
from concord.risk.messages import CheckModelDrift, RecordOutcome
from concord.risk.scoring.compiled import ModelSource
from support import declaration, item, subjects

FAST = {"learning_rate": 0.3, "early_stopping_round": 5, "num_threads": 1}


def with_model(hub):
    Base.metadata.create_all(hub.engine)
    records = synthetic_records(600, seed=5, days=60)
    model = fit(records[:400], records[400:], params=FAST)
    ModelRegistry(hub.settings.models_dir()).register(model.to_bytes(), model.info)
    registry_module._cache.clear()
    return hub


@pytest.fixture
def app(sqlite_concord):
    yield with_model(sqlite_concord)
    registry_module._cache.clear()


@pytest.fixture
def any_app(concord):
    """On SQLite and on PostgreSQL."""
    yield with_model(concord)
    registry_module._cache.clear()


def submit(app, n: int, amount: str = "7000.00") -> str:
    doc = parse_declaration(declaration(lrn=f"LOOP-{n}", items=[item("090111", "Green coffee", "BR", amount=amount)]))
    return app.bus.handle(SubmitDeclaration(document=doc.model_dump(mode="json")),
                          subject=subjects(app)["hollandfoods"])["id"]


def record(app, did: str, result: str) -> None:
    app.bus.handle(RecordOutcome(outcome={"declaration_id": did, "result": result}),
                   subject=subjects(app)["cus-officer"])


def seen_next(app, did: str, feature: str, model=None) -> float:
    """A history feature of this declaration's first item as the next declaration like it (a day later) would read
    it from the model (the active one unless given)."""
    with app.sessions() as s:
        doc = s.get(DeclarationVersion, (did, s.get(Declaration, did).version)).document
        model = model or app.risk.models.current(s)
    later = replace(record_from_declaration(doc, 0), when=record_from_declaration(doc, 0).when + timedelta(days=1))
    return float(model.features([later])[0, model.spec.names().index(feature)])


def line_history(app, did: str) -> float:
    """How many outcomes the active model knows for this declaration's goods line, as the next one would see."""
    return seen_next(app, did, "goods_line.n")


def test_an_outcome_reaches_the_model_at_once_and_a_reloaded_model_catches_up(app):
    did = submit(app, 1)
    assert line_history(app, did) == 0
    record(app, did, "irregular")
    assert line_history(app, did) == 1  # the next declaration of that goods line sees it
    registry_module._cache.clear()  # a restart: the model file knows nothing of it
    app.risk.models.invalidate()
    assert line_history(app, did) == 1  # caught up from the recorded outcomes on load
    other = submit(app, 2, amount="9100.00")
    registry_module._cache.clear()
    app.risk.models.invalidate()
    record(app, other, "compliant")  # the model loads inside feed_model: its catch-up holds this outcome
    assert line_history(app, other) == 1 and line_history(app, did) == 1  # counted once each


def declared_before(app, did: str, model=None) -> float:
    """How many declarations of this declaration's importer the model knows, as the next one would see."""
    return seen_next(app, did, "importer.n_declared", model)


def test_every_worker_counts_each_lodged_declaration_once_in_the_party_statistics(any_app):
    """A first-time importer is first-time once: each worker's feed reads every declaration lodged (its own and
    the others'), once, and a worker that loads the model later catches up from the database."""
    seconds, feed = any_app.periodic["risk-declarations"]  # what every worker of the server runs
    assert seconds <= 1 and "risk-declarations" in any_app.per_worker
    first = submit(any_app, 1)
    assert declared_before(any_app, first) == 0  # as trained: this importer never declared anything
    feed()
    assert declared_before(any_app, first) == 1
    submit(any_app, 2)
    feed()
    feed()  # nothing new: nothing counted again
    assert declared_before(any_app, first) == 2
    registry_module._cache.clear()  # another worker, or a restart: the model file knows none of them
    other = ModelSource(load=lambda s: registry_module.active_model(s, any_app.settings.models_dir()))
    with any_app.sessions() as s:
        late = other.current(s)
    assert declared_before(any_app, first, late) == 0
    declaration_feed_job(any_app.sessions, other, any_app.clock, 7.0)()
    assert declared_before(any_app, first, late) == 2


def test_a_document_the_model_cannot_read_is_left_out_alone(app, caplog):
    """One stored document the feed cannot map (here, made unreadable behind the API's back) costs its own goods
    items only: the declarations read with it are counted, and the next pulls go on."""
    first = submit(app, 1)
    broken = submit(app, 2)
    with app.sessions() as s, s.begin():
        s.get(DeclarationVersion, (broken, 1)).document = {"id": broken, "items": [{"description": "no HS code"}]}
    _, feed = app.periodic["risk-declarations"]
    feed()
    assert declared_before(app, first) == 1 and "left out of the risk model" in caplog.text
    submit(app, 3)
    feed()
    assert declared_before(app, first) == 2


def test_a_green_declaration_is_explained_on_request_as_it_was_at_its_lodging(app):
    """The explanation (TreeSHAP) is computed at lodging only where an officer works on the declaration; a green
    one stores its riskiest item's inputs, and the lead agency asks for the explanation: exactly what it would
    have been, after outcomes have moved the history on. Others may not ask; the inputs never leave."""
    web = create_app(app, background=False)
    client = TestClient(web)
    lodged = {}
    for n in range(4):
        did = submit(app, n, amount=f"{7000 + 911 * n}.00")
        with app.sessions() as s:
            doc = s.get(DeclarationVersion, (did, 1)).document
            model = app.risk.models.current(s)
        records = [record_from_declaration(doc, i) for i in range(len(doc["items"]))]
        lodged[did] = model.explain(records[int(np.argmax(model.score_records(records)))])  # at its lodging
    firearms = app.bus.handle(SubmitDeclaration(document=parse_declaration(declaration(
        lrn="LOOP-F", items=[item("930200", "Pistols", "US")])).model_dump(mode="json")),
        subject=subjects(app)["hollandfoods"])["id"]
    for n in range(4):  # outcomes of the same goods, arrived a day before them: their history moves on
        earlier = app.bus.handle(SubmitDeclaration(document=parse_declaration(declaration(
            lrn=f"LOOP-E{n}", arrival="2026-01-06T08:00:00+00:00",
            items=[item("090111", "Green coffee", "BR", amount=f"{5000 + 911 * n}.00")])).model_dump(mode="json")),
            subject=subjects(app)["hollandfoods"])["id"]
        record(app, earlier, "irregular")

    def get(user, did, path=""):
        web.dependency_overrides[current_subject] = lambda: subjects(app)[user]
        return client.get(f"/api/v1/declarations/{did}{path}")

    for did, then in lodged.items():
        shown = get("cus-officer", did).json()
        reason = next(r for r in shown["risk"]["reasons"] if r["kind"] == "model")
        assert shown["lane"] == "green" and "contributions" not in reason and "inputs" not in reason
        assert reason["explanation"] == f"on request: GET /api/v1/declarations/{did}/explanation"
        answer = get("cus-officer", did, "/explanation")
        assert answer.status_code == 200
        assert answer.json()["explanation"]["contributions"] == [dict(c, item=0) for c in then]
    with app.sessions() as s:
        now = app.risk.models.current(s)
        doc = s.get(DeclarationVersion, (did, 1)).document
    assert now.explain(record_from_declaration(doc, 0)) != then  # the history did move
    selected = get("cus-officer", firearms).json()
    stored = next(r for r in selected["risk"]["reasons"] if r["kind"] == "model")["contributions"]
    assert selected["lane"] == "red" and len(stored) == 5
    assert get("cus-officer", firearms, "/explanation").json()["explanation"]["contributions"] == stored
    records = synthetic_records(600, seed=6, days=60)  # another model becomes active: v1 explains from the registry
    newer = fit(records[:400], records[400:], params=FAST)
    ModelRegistry(app.settings.models_dir()).register(newer.to_bytes(), newer.info, activate=True)
    app.risk.models.invalidate()
    assert get("cus-officer", did, "/explanation").json()["explanation"] == {
        "model": "v1", "score": reason["score"], "lane": "green", "contributions": [dict(c, item=0) for c in then]}
    with app.sessions() as s, s.begin():  # as if assessed by a model the registry no longer holds
        version = s.get(DeclarationVersion, (did, 1))
        version.risk = dict(version.risk, versions=dict(version.risk["versions"], model="v999"))
    gone = get("cus-officer", did, "/explanation")
    assert gone.status_code == 404 and "risk model v999 is no longer in the registry" in gone.text
    for user in ("fda-officer", "hollandfoods"):
        refused = get(user, did, "/explanation")
        assert refused.status_code == {"fda-officer": 404, "hollandfoods": 403}[user], refused.text
        assert "contribution" not in refused.text


def test_a_group_commit_scores_its_declarations_in_one_call_as_each_alone(any_app):
    """Lodgings that share a transaction are scored by the model together (one feature matrix): each stored score
    is what the model gives that declaration alone, whatever its neighbours in the group."""
    docs = [parse_declaration(declaration(lrn=f"GROUP-{n}", items=[
        item("090111", "Green coffee", "BR", amount=f"{3000 + 1733 * n}.00"),
        item("610910", "T-shirts", "BD", amount=f"{900 + 411 * n}.00")][:1 + n % 2])).model_dump(mode="json")
        for n in range(6)]
    trader = subjects(any_app)["hollandfoods"]
    lodged = lodge_isolated(any_app.bus, [(trader, doc, None) for doc in docs])
    with any_app.sessions() as s:
        model = any_app.risk.models.current(s)
        for doc, result in zip(docs, lodged):
            stored = s.get(DeclarationVersion, (result["id"], 1)).risk
            alone = model.score_records([record_from_declaration(doc, i) for i in range(len(doc["items"]))])
            assert stored["score"] == round(float(max(alone)), 6) and stored["versions"]["model"] == model.version


def test_retraining_on_the_hub_outcomes_and_champion_against_challenger(app):
    for n in range(40):
        did = submit(app, n, amount=f"{1000 + 500 * n}.00")
        record(app, did, "irregular" if n % 3 == 0 else "compliant")
    with app.sessions() as s:
        assert len(hub_outcomes(s)) == 40
        challenger = train_from_hub(s, FAST)
    assert challenger.info["source"] == "hub" and challenger.info["rows"] == {"train": 32, "valid": 8}
    submit(app, 99, amount="999.00")  # lodged after the training: the feed adds it, and only it
    with app.sessions() as s:
        follow_declarations(challenger, s, app.clock.now())
    assert declared_before(app, did, challenger) == 41
    champion = app.risk.models.current(None)
    recent = synthetic_records(300, seed=9, days=30, start=champion_end(champion))
    result = challenge(champion, champion, recent)
    assert result["decided"] and result["wins"]  # a model ties with itself
    assert not challenge(champion, challenger, recent[:5])["decided"]  # too few outcomes to decide
    compliant = [r for r in recent if not r.fraud]
    undecided = challenge(champion, champion, compliant)  # enough of them, but all of one kind: says so
    assert not undecided["decided"] and f"the {len(compliant)} recent outcomes" in undecided["reason"]
    assert "are all compliant" in undecided["reason"]


def test_retraining_refuses_outcomes_it_could_not_check_a_model_on_and_says_what_to_do(app, tmp_path):
    """The latest fifth of the outcomes checks the model (and stops its boosting): with fewer than three irregular
    ones there (a demo hub: one in 32), the model's figures mean nothing, so nothing is trained or registered."""
    from concord.errors import ConcordError

    for n in range(40):
        record(app, submit(app, n, amount=f"{1000 + 500 * n}.00"), "irregular" if n in (3, 17, 30, 34) else "compliant")
    with app.sessions() as s, pytest.raises(ConcordError) as refused:
        train_from_hub(s, FAST)
    assert "(8 goods items)" in refused.value.message and "hold 1 irregular and 7 compliant" in refused.value.message
    assert "at least 3 of each" in refused.value.message and "--train and --valid" in refused.value.message


def champion_end(model):
    from datetime import datetime, timezone

    return datetime.fromisoformat(model.info["periods"]["valid"][1]).replace(tzinfo=timezone.utc) + timedelta(days=2)


def test_drift_past_the_threshold_is_an_event_for_the_lead_agency(app):
    for n in range(30):
        submit(app, n, amount=f"{90000 + n}.00")
    quiet = app.bus.handle(CheckModelDrift(alert_at=100.0))
    assert quiet["rows"] == 30 and "score_psi" in quiet
    out = app.bus.handle(CheckModelDrift(alert_at=0.0))
    assert out["alerted"]
    with app.sessions() as s:
        events = s.scalars(select(EventRecord).where(EventRecord.name == "risk.model_drifted")).all()
    assert len(events) == 1 and events[0].agency is None and events[0].declaration_id is None
    assert events[0].payload["model_version"] == "v1"


def test_a_handful_of_declarations_never_raises_a_drift_alert(app):
    """Ten declarations after a deployment fill a ten-bin histogram by chance: the PSI is reported, the risk unit
    is not alerted."""
    for n in range(10):
        submit(app, n, amount=f"{90000 + n}.00")
    out = app.bus.handle(CheckModelDrift(alert_at=0.0))
    assert out["rows"] == 10 and not out["alerted"] and "too few rows" in out["status"]
    with app.sessions() as s:
        assert not s.scalars(select(EventRecord).where(EventRecord.name == "risk.model_drifted")).all()


def test_an_agencys_inspection_decision_is_an_outcome_the_model_and_retraining_read(app):
    """An officer's decision after inspecting the goods (not only the outcomes API) reaches the model's history at
    once and is among the hub's outcomes that `concord risk train --from-hub` trains on."""
    from concord.clearance.messages import DecideTask
    from test_read_leaks import task_of

    doc = parse_declaration(declaration(lrn="SHRIMP-1", items=[item("030617", "Frozen shrimps", "VN")]))
    did = app.bus.handle(SubmitDeclaration(document=doc.model_dump(mode="json")),
                         subject=subjects(app)["hollandfoods"])["id"]
    assert line_history(app, did) == 0
    app.bus.handle(DecideTask(task_id=task_of(app, did, "VET").id, decision="refuse", reason="larvae",
                              inspection={"result": "irregular", "findings": "larvae"}),
                   subject=subjects(app)["vet-officer"])
    assert line_history(app, did) == 1
    with app.sessions() as s:
        (at, records), = hub_outcomes(s)
    assert [r.fraud for r in records] == [1] and records[0].hs6 == "030617"
