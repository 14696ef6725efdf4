"""The honest evaluation: repeated and never-seen goods lines apart, baselines, bootstrap intervals."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from concord.risk.learning.evaluation import (_weighted_auc, _weighted_precision, dedupe, goods_line, honest_evaluate,
                                              lookup_scores, novelty, seen_lines)
from concord.risk.learning.metrics import selection_metrics
from concord.risk.learning.synthetic import synthetic_records

FAST = {"learning_rate": 0.3, "early_stopping_round": 10, "num_threads": 1}


def test_weighted_metrics_equal_the_plain_ones_on_a_resample():
    rng = np.random.default_rng(3)
    s = np.round(rng.random(800), 2)  # ties on purpose
    y = (rng.random(800) < 0.2 + 0.4 * s).astype(int)
    idx = rng.integers(800, size=800)
    w = np.bincount(idx, minlength=800)[None].astype(float)
    assert _weighted_auc(s, y, w)[0] == pytest.approx(roc_auc_score(y[idx], s[idx]))
    ones = np.ones((1, 800))
    assert _weighted_precision(s, y, ones, 10)[0] == pytest.approx(selection_metrics(y, y * 0, s)["precision@10"])


def test_lookup_knows_only_lines_it_has_seen_and_dedupe_shares_no_line():
    records = synthetic_records(600, seed=4)
    history, test = records[:400], records[400:]
    scores = lookup_scores(history, test)
    fresh = novelty(test, seen_lines(history))
    assert fresh.any() and (~fresh).any()
    assert len(set(scores[fresh])) == 1  # a line never seen gets the overall rate, whatever it is
    a, b, c = dedupe(records[:300], records[300:450], records[450:])
    lines = [[goods_line(r) for r in part] for part in (a, b, c)]
    assert all(len(set(x)) == len(x) for x in lines)
    assert not (set(lines[0]) & set(lines[1])) and not (set(lines[0] + lines[1]) & set(lines[2]))


def test_honest_evaluate_reports_each_subset_with_intervals_and_the_paired_lead():
    records = synthetic_records(1800, seed=21, days=100)
    result = honest_evaluate(records[:1000], records[1000:1300], records[1300:], FAST, resamples=60)
    subsets = result["subsets"]
    assert subsets["never_seen"]["rows"] + subsets["repeated"]["rows"] == subsets["all"]["rows"] == 500
    for name in ("never_seen", "repeated", "all"):
        for model in ("concord", "plain_lightgbm", "lookup"):
            m = subsets[name][model]
            for metric in ("auc", "precision@5", "precision@10"):
                low, high = m["interval"][metric]
                assert low is None or low <= high  # None: a subset too small for a top 5 %
        assert "concord_minus_plain_lightgbm" in subsets[name]
    assert "concord_novel_minus_plain_lightgbm" in subsets["never_seen"]
    assert "concord_minus_concord_main" in subsets["never_seen"]  # the live model against its main model alone
    routing = result["routing"]  # new lines go to the booster; repeated ones stay with the main model
    assert routing["routed_and_never_seen"] <= min(routing["rows_routed"], routing["never_seen_rows"])
    assert set(routing["top_share_never_seen"]) == {"2%", "5%", "10%"}
    assert subsets["repeated"]["concord"]["auc"] == pytest.approx(subsets["repeated"]["concord_main"]["auc"], abs=0.02)
    assert subsets["never_seen"]["lookup"]["auc"] == 0.5  # no memory, no ranking
    # the planted risk lives in repeated goods lines: the lookup table finds it there
    assert subsets["repeated"]["lookup"]["auc"] > 0.8
    assert result["deduplicated"]["rows"]["test"] <= subsets["never_seen"]["rows"]


def test_test_labels_never_reach_the_scores_permuted_or_zeroed():
    from dataclasses import replace

    from concord.risk.learning.evaluation import _concord_scores, novel_line_scores, plain_lightgbm

    records = synthetic_records(1500, seed=8, days=90)
    train, valid, test = records[:900], records[900:1150], records[1150:]
    rng = np.random.default_rng(0)
    flipped = rng.permutation([r.fraud for r in test])
    variants = [test, [replace(r, fraud=int(f)) for r, f in zip(test, flipped)],
                [replace(r, fraud=0, critical=0, revenue=None) for r in test]]
    runs = [_concord_scores(train, valid, t, FAST, lambda *a, **k: None) for t in variants]
    concord = [s for s, _, _ in runs] + [novel_line_scores(m, train, valid, [replace(r, fraud=None) for r in t], FAST)
                                         for (_, _, m), t in zip(runs, variants)]
    plain = [plain_lightgbm(train, valid, t) for t in variants]
    assert all(np.array_equal(concord[0], c) for c in concord[1:3])
    assert all(np.array_equal(concord[3], c) for c in concord[4:])
    assert all(np.array_equal(plain[0], p) for p in plain[1:])
