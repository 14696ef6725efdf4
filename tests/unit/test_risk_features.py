"""The feature function: no leakage from outcomes at or after a declaration's time, no skew between paths."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord.risk.learning.datasets import RiskRecord
from concord.risk.learning.features import HistoryProfiles, featurize, fit_spec
from concord.risk.learning.synthetic import synthetic_records

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return np.array_equal(a, b, equal_nan=True)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), pick=st.integers(0, 299), flip=st.floats(0.1, 1.0))
def test_features_never_depend_on_outcomes_at_or_after_the_declaration(seed, pick, flip):
    records = synthetic_records(300, seed=seed, days=20)
    target = records[pick]
    spec = fit_spec(records, min_count=1)
    before = featurize([target], HistoryProfiles().observe(records), spec)
    # rewrite every outcome known at or after the target's time (its own included), and add new ones
    rng = np.random.default_rng(seed)
    changed = [replace(r, fraud=int(rng.random() < flip), critical=int(rng.random() < flip), revenue=rng.random() * 1e4)
               if r.ts >= target.ts else r for r in records]
    future = [replace(target, declaration_id=f"F{i}", when=target.when + timedelta(hours=i), fraud=1)
              for i in range(3)]
    # and unrelated declarations later on: exact totals mean not even the last bit may move
    future += synthetic_records(200, seed=seed + 1, days=10, start=target.when)
    after = featurize([target], HistoryProfiles().observe(changed + future), spec)
    assert _same(before, after)


def test_features_do_see_outcomes_strictly_before():
    base = dict(hs6="090111", origin="BR", net_mass=100.0, value=250.0, importer="I1")
    earlier = RiskRecord("a", T0, fraud=1, critical=0, **base)
    later = RiskRecord("b", T0 + timedelta(days=1), **base)
    spec = fit_spec([earlier, later], min_count=1)
    names = spec.names()
    x = featurize([later], HistoryProfiles().observe([earlier]), spec)[0]
    assert x[names.index("goods_line.n")] == 1
    assert x[names.index("importer.n")] == 1
    same_day = replace(later, when=T0)
    assert featurize([same_day], HistoryProfiles().observe([earlier]), spec)[0][names.index("goods_line.n")] == 0


def test_batch_single_and_incremental_paths_give_the_same_features():
    records = synthetic_records(400, seed=3, days=30)
    history, recent = records[:300], records[300:]
    spec = fit_spec(history, min_count=5)
    bulk = HistoryProfiles().observe(history)
    # the live path: outcomes arrive one by one, out of order, after the bulk load of an empty store
    live = HistoryProfiles()
    live.add_declarations(history)
    for r in reversed(history):
        live.add_outcome(r)
    batch = featurize(recent, bulk, spec)
    assert _same(batch, featurize(recent, live, spec))
    singles = np.vstack([featurize([r], bulk, spec) for r in recent[:20]])
    assert _same(batch[:20], singles)


def test_profiles_survive_serialization_and_keep_accepting_outcomes():
    records = synthetic_records(300, seed=5, days=20)
    spec = fit_spec(records, min_count=3)
    profiles = HistoryProfiles().observe(records[:200])
    copy = HistoryProfiles.from_bytes(profiles.to_bytes())
    assert _same(featurize(records[200:], profiles, spec), featurize(records[200:], copy, spec))
    for p in (profiles, copy):
        p.observe(records[200:250])
    assert _same(featurize(records[250:], profiles, spec), featurize(records[250:], copy, spec))


def test_as_of_caps_history_and_empty_batches_are_fine():
    records = synthetic_records(200, seed=9, days=20)
    spec = fit_spec(records, min_count=1)
    profiles = HistoryProfiles().observe(records)
    last = records[-1]
    capped = featurize([last], profiles, spec, as_of=records[0].ts)
    assert capped[0][spec.names().index("log_known_outcomes")] == 0
    assert featurize([], profiles, spec).shape == (0, len(spec.names()))


def test_outcomes_without_a_label_are_refused():
    with pytest.raises(ValueError, match="outcome"):
        HistoryProfiles().add_outcome(RiskRecord("x", T0, hs6="010121"))


def test_a_burst_of_the_same_importer_and_goods_is_counted_within_the_window_only():
    base = dict(hs6="390110", origin="CN", importer="I1", seller="S1", net_mass=90.0, fraud=0)
    parts = [RiskRecord(f"p{i}", T0 + timedelta(days=i), value=950.0 + i, **base) for i in range(3)]
    old = RiskRecord("old", T0 - timedelta(days=30), value=5000.0, **base)
    other = RiskRecord("o", T0 + timedelta(days=1), value=900.0, **{**base, "importer": "I2"})
    records = [old] + parts + [other]
    spec = fit_spec(records, min_count=1, value_threshold=1000.0)
    names = spec.names()
    x = featurize(parts + [other], HistoryProfiles().observe(records), spec)
    burst = x[:, names.index("recent.importer_hs6_n")]
    assert list(burst) == [0, 1, 2, 0]  # strictly before; the declaration 30 days back is outside the window
    assert x[2, names.index("recent.importer_hs6_log_value")] == pytest.approx(np.mean(np.log1p([950.0, 951.0])))
    assert x[0, names.index("value_vs_threshold")] == pytest.approx(np.log1p(950.0) - np.log1p(1000.0))
    # without a threshold the column is absent information, and a spec without the window keeps the old layout
    assert np.isnan(featurize(parts[:1], HistoryProfiles().observe(records), fit_spec(records, min_count=1))
                    [0, names.index("value_vs_threshold")])
    assert "recent.importer_hs6_n" not in fit_spec(records, min_count=1, recent_days=0).names()
