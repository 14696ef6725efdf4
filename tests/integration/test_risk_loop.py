"""The loop closes live: recorded outcomes reach the model at once, retraining on the hub's outcomes,
champion against challenger, drift raised to the risk unit."""

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

import concord.risk.models  # noqa: F401 - the tables, until the migration that creates them is generated
from concord.db import Base
from concord.declarations.messages import SubmitDeclaration
from concord.declarations.models import Declaration, DeclarationVersion
from concord.declarations.schemas import parse_declaration
from concord.messaging.models import EventRecord
from concord.risk.learning import registry as registry_module
from concord.risk.learning.datasets import record_from_declaration
from concord.risk.learning.hub import challenge, hub_outcomes, train_from_hub
from concord.risk.learning.model import fit
from concord.risk.learning.registry import ModelRegistry
from concord.risk.learning.synthetic import synthetic_records
from concord.risk.messages import CheckModelDrift, RecordOutcome
from support import declaration, item, subjects

FAST = {"learning_rate": 0.3, "early_stopping_round": 5, "num_threads": 1}


@pytest.fixture
def app(sqlite_concord):
    Base.metadata.create_all(sqlite_concord.engine)
    records = synthetic_records(600, seed=5, days=60)
    model = fit(records[:400], records[400:], params=FAST)
    ModelRegistry(sqlite_concord.settings.models_dir()).register(model.to_bytes(), model.info)
    registry_module._cache.clear()
    yield sqlite_concord
    registry_module._cache.clear()


def submit(app, n: int, amount: str = "7000.00") -> str:
    doc = parse_declaration(declaration(lrn=f"LOOP-{n}", items=[item("090111", "Green coffee", "BR", amount=amount)]))
    return app.bus.handle(SubmitDeclaration(document=doc.model_dump(mode="json")),
                          subject=subjects(app)["hollandfoods"])["id"]


def record(app, did: str, result: str) -> None:
    app.bus.handle(RecordOutcome(outcome={"declaration_id": did, "result": result}),
                   subject=subjects(app)["cus-officer"])


def line_history(app, did: str) -> float:
    """How many outcomes the active model knows for this declaration's goods line, as the next one would see."""
    with app.sessions() as s:
        d = s.get(Declaration, did)
        doc = s.get(DeclarationVersion, (did, d.version)).document
        model = app.risk.models.current(s)
    later = replace(record_from_declaration(doc, 0), when=record_from_declaration(doc, 0).when + timedelta(days=1))
    return float(model.features([later])[0, model.spec.names().index("goods_line.n")])


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


def test_retraining_on_the_hub_outcomes_and_champion_against_challenger(app):
    for n in range(40):
        did = submit(app, n, amount=f"{1000 + 500 * n}.00")
        record(app, did, "irregular" if n % 3 == 0 else "compliant")
    with app.sessions() as s:
        assert len(hub_outcomes(s)) == 40
        challenger = train_from_hub(s, FAST)
    assert challenger.info["source"] == "hub" and challenger.info["rows"] == {"train": 32, "valid": 8}
    champion = app.risk.models.current(None)
    recent = synthetic_records(300, seed=9, days=30, start=champion_end(champion))
    result = challenge(champion, champion, recent)
    assert result["decided"] and result["wins"]  # a model ties with itself
    assert not challenge(champion, challenger, recent[:5])["decided"]  # too few outcomes to decide


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
