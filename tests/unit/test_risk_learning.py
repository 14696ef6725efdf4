"""Metrics on a hand-made example, train/score round trip, explanations, drift, live declaration mapping."""

import json
import math
from datetime import datetime, timezone

import numpy as np
import pytest

from concord.risk.learning.datasets import labelled_records, load_dataset, record_from_declaration, record_to_dict
from concord.risk.learning.model import RiskModel, evaluate, fit
from concord.risk.learning.metrics import selection_metrics
from concord.risk.learning.synthetic import synthetic_records

FAST = {"num_threads": 1, "learning_rate": 0.2}


def test_selection_metrics_on_a_hand_made_ranking():
    # 100 declarations, ranked by score 99..0; frauds at ranks 0, 1, 3, 7, 20 and 50; critical at 3 and 50
    scores = np.arange(100)[::-1].astype(float)
    fraud = np.zeros(100, int)
    fraud[[0, 1, 3, 7, 20, 50]] = 1
    critical = np.zeros(100, int)
    critical[[3, 50]] = 1
    m = selection_metrics(fraud, critical, scores)
    assert m["precision@1"] == 1.0 and m["recall@1"] == pytest.approx(1 / 6)  # top 1 = rank 0
    assert m["precision@2"] == 1.0 and m["critical_recall@2"] == 0.0  # ranks 0, 1
    assert m["precision@5"] == pytest.approx(3 / 5) and m["critical_recall@5"] == 0.5  # ranks 0..4
    assert m["precision@10"] == pytest.approx(4 / 10) and m["recall@10"] == pytest.approx(4 / 6)
    assert m["base_rate"] == pytest.approx(0.06)
    # AUC by hand: each fraud's share of non-frauds ranked below it
    below = [(94 - sum(1 for j in range(100) if fraud[j] == 0 and j < r)) / 94 for r in (0, 1, 3, 7, 20, 50)]
    assert m["auc"] == pytest.approx(sum(below) / 6)


def test_metrics_without_both_classes_do_not_crash():
    m = selection_metrics([0, 0, 0], [0, 0, 0], [0.1, 0.2, 0.3])
    assert math.isnan(m["auc"]) and math.isnan(m["recall@1"])


@pytest.fixture(scope="module")
def trained():
    records = synthetic_records(2500, seed=11, days=120)
    a, b = 1500, 2000
    result, model = evaluate(records[:a], records[a:b], records[b:], FAST)
    return records, result, model


def test_evaluate_learns_the_planted_risk(trained):
    _, result, model = trained
    assert result["auc"] > 0.75
    assert result["precision@10"] > 0.5  # base rate ~0.25
    assert model.info["best_iteration"] >= 1


def test_model_round_trips_through_bytes_with_identical_scores(trained):
    records, _, model = trained
    copy = RiskModel.from_bytes(model.to_bytes(), version="v9")
    batch = records[-200:]
    assert np.array_equal(model.score_records(batch), copy.score_records(batch))
    assert copy.version == "v9" and copy.spec.names() == model.spec.names()


def test_explanations_name_features_with_values_and_contributions(trained):
    records, _, model = trained
    explained = model.explain(records[-1], top=4)
    assert len(explained) == 4
    assert {"feature", "value", "contribution"} <= set(explained[0])
    assert all(e["feature"] in model.spec.names() for e in explained)
    magnitudes = [abs(e["contribution"]) for e in explained]
    assert magnitudes == sorted(magnitudes, reverse=True)


def test_recorded_outcomes_change_the_next_scores(trained):
    records, _, model = trained
    copy = RiskModel.from_bytes(model.to_bytes())
    r = records[-1]
    later = r.__class__(**{**{f: getattr(r, f) for f in r.__dataclass_fields__ if f != "ts"},
                           "when": datetime(2030, 1, 1, tzinfo=timezone.utc), "declaration_id": "later"})
    names = copy.spec.names()
    n_before = copy.features([later])[0][names.index("goods_line.n")]
    copy.record_outcome(r.with_outcome(1, 0, revenue=500.0))
    assert copy.features([later])[0][names.index("goods_line.n")] == n_before + 1


def test_drift_report_flags_a_shifted_population(trained):
    records, _, model = trained
    same = model.drift(records[1500:2000])  # the validation period: the reference itself
    shifted = [r.__class__(**{**{f: getattr(r, f) for f in r.__dataclass_fields__ if f != "ts"},
                              "value": r.value * 50, "net_mass": r.net_mass / 20}) for r in records[2000:]]
    moved = {f["feature"]: f for f in model.drift(shifted, top=None)["features"]}
    assert same["score_psi"] < 0.1 and same["status"] == "stable"
    assert moved["log_value_per_kg"]["status"] == "alert"
    assert moved["cat.origin"]["status"] == "stable"  # what did not move is not flagged


def test_fit_without_validation_uses_all_rounds():
    records = synthetic_records(600, seed=2, days=40)
    model = fit(records, [], params=FAST, rounds=7)
    assert model.info["best_iteration"] == 7 and model.booster.num_trees() == 7


def test_a_live_declaration_maps_to_the_canonical_record():
    doc = {"lrn": "L1", "type": "IM", "office_of_entry": "NLRTM", "arrival": "2026-03-01T08:00:00+01:00",
           "declarant": {"id": "NL123"}, "importer": {"id": "NL456"},
           "exporter": {"id": "CN789", "country": "CN"}, "transport": {"mode": "sea"},
           "items": [{"hs_code": "09011100", "origin": "BR", "net_mass_kg": "1200.5",
                      "value": {"amount": "5400.00", "currency": "EUR"}}]}
    r = record_from_declaration(doc, 0)
    assert (r.hs6, r.origin, r.departure, r.mode, r.office) == ("090111", "BR", "CN", "sea", "NLRTM")
    assert (r.importer, r.declarant, r.seller) == ("NL456", "NL123", "CN789")
    assert (r.net_mass, r.value, r.fraud) == (1200.5, 5400.0, None)
    assert r.when == datetime(2026, 3, 1, 7, 0, tzinfo=timezone.utc)


def test_recorded_outcomes_become_labelled_records_that_round_trip_through_jsonl(tmp_path):
    doc = {"id": "D1", "office_of_entry": "NLRTM", "arrival": "2026-03-01T08:00:00+00:00",
           "declarant": {"id": "NL1"}, "importer": {"id": "NL2"}, "exporter": {"id": "CN3", "country": "CN"},
           "transport": {"mode": "air"},
           "items": [{"hs_code": "851712", "origin": "CN", "net_mass_kg": 2, "value": {"amount": "300"}},
                     {"hs_code": "851713", "origin": "CN", "net_mass_kg": 1, "value": {"amount": "100"}}]}
    labelled = labelled_records(doc, fraud=True, revenue=80.0)
    assert [(r.fraud, r.revenue) for r in labelled] == [(1, 60.0), (1, 20.0)]
    path = tmp_path / "outcomes.jsonl"
    path.write_text("\n".join(json.dumps(record_to_dict(r)) for r in labelled))
    assert load_dataset("jsonl", path) == labelled
