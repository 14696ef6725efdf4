"""The scheme benchmark: documented mechanisms, a time split with schemes that begin after training."""

import numpy as np

from concord.bench.schemes import per_scheme, run
from concord.risk.learning.schemes import SCHEME_NAMES, SCHEMES, scheme_records, split


def test_the_generator_is_deterministic_and_later_schemes_appear_only_after_training():
    records, scheme_of = scheme_records(6000, seed=2)
    again, _ = scheme_records(6000, seed=2)
    assert [(r.declaration_id, r.value, r.fraud) for r in records] == [(r.declaration_id, r.value, r.fraud)
                                                                        for r in again]
    train, valid, test = split(records)
    late = {s.name for s in SCHEMES if s.starts >= 270}
    assert late == {"split_consignments", "new_ring", "concealment"}
    assert not late & {scheme_of[r.declaration_id] for r in train + valid}
    assert set(SCHEME_NAMES) <= {scheme_of[r.declaration_id] for r in test}
    assert all(r.fraud == (scheme_of[r.declaration_id] is not None) for r in records)
    ring = [r for r in test if scheme_of[r.declaration_id] == "new_ring"]
    known = {r.importer for r in train + valid}
    assert ring and not any(r.importer in known for r in ring)  # never-seen importers


def test_per_scheme_recall_marks_a_scheme_found_at_the_budget_as_blind():
    schemes = ["a"] * 100 + ["b"] * 100 + [None] * 800
    scores = np.r_[np.ones(100), np.zeros(900)]  # every "a" ranks first; "b" never
    out = per_scheme(scores, schemes, budget=10)
    assert out["a"]["recall"] == 1.0 and not out["a"]["blind"]
    assert out["b"]["recall"] == 0.0 and out["b"]["blind"]


def test_the_bench_runs_small_and_reports_each_model_per_scheme():
    out = run(4000, seed=1)
    shown = {"concord_routed", "concord_routed_party"}  # boosters valid did not choose, when it did not
    assert set(out["models"]) - shown == {"concord", "concord_main", "reference", "plain_lightgbm",
                                          "concord_with_split_rule"}
    fresh = out["never_seen"]  # the test declarations whose goods line was never seen, and the live model's lead
    assert fresh["rows"] > 0 and "concord_minus_concord_main" in fresh and fresh["rows_routed"] > 0
    for m in out["models"].values():
        assert 0.0 <= m["precision@10"] <= 1.0 and set(m["per_scheme"]) <= set(SCHEME_NAMES) | {"noise"}
    # the risk unit's rule reads history and finds split consignments the model, never shown one, does not
    rule, split = out["split_rule"], "split_consignments"
    assert rule["hits_split_consignments"] > 0 and "history.importer_hs6_7d" in rule["expression"]
    assert out["models"]["concord_with_split_rule"]["per_scheme"][split]["recall"] > \
        out["models"]["concord"]["per_scheme"][split]["recall"]
