"""The cross-fitted line-vote booster: a row never reads its own label or line, and a line votes once."""

from dataclasses import replace

import numpy as np

from concord.risk.learning.crossfit import LineVotes, PriceNorms, cross_fitted, crossfit_scores, goods_line
from concord.risk.learning.synthetic import synthetic_records


def test_cross_fitted_encodings_never_read_the_rows_own_line():
    records = synthetic_records(900, seed=5, days=60)
    base, names = cross_fitted(records)
    assert base.shape == (900, len(names)) and np.isfinite(base).all()
    # flip every label of one goods line: that line's rows keep their encodings, others of its groups move
    line = goods_line(records[700])
    flipped = [replace(r, fraud=1 - r.fraud) if goods_line(r) == line else r for r in records]
    moved, _ = cross_fitted(flipped)
    mine = np.array([goods_line(r) == line for r in records])
    assert np.allclose(moved[mine], base[mine])
    assert not np.allclose(moved[~mine], base[~mine])


def test_a_line_repeated_a_hundred_times_votes_once():
    records = synthetic_records(600, seed=8, days=40)
    history = records[:300]
    target = next(r for r in history if sum(goods_line(s) == goods_line(r) for s in history) == 1)
    copies = [replace(target, declaration_id=f"copy{k}") for k in range(100)]
    probe = [r for r in records[300:] if goods_line(r) != goods_line(target)]
    once, _ = LineVotes(history).features(probe)
    many, _ = LineVotes(history + copies).features(probe)
    assert np.allclose(once, many)
    # whereas a hundred rows of a hundred new lines with the same label do move the groups they fall in
    others = [replace(target, declaration_id=f"new{k}", value=target.value + k + 1) for k in range(100)]
    assert not np.allclose(LineVotes(history + others).features(probe)[0], once)


def test_leave_one_out_takes_the_rows_own_line_out_of_its_groups():
    records = synthetic_records(400, seed=9, days=30)
    votes = LineVotes(records)
    alone = [r for r in records if sum(goods_line(s) == goods_line(r) for s in records) == 1][0]
    without = LineVotes([r for r in records if r is not alone])
    without.prior = votes.prior  # the overall rate is the one thing its line still moves
    assert np.allclose(votes.features([alone])[0], without.features([alone])[0])


def test_price_z_scores_are_robust_and_empty_for_thin_groups():
    records = synthetic_records(800, seed=3, days=50)
    x, names = PriceNorms(records).features(records)
    assert x.shape == (800, len(names))
    z = x[:, names.index("xf.price.hs2.z")]
    assert np.isfinite(z).any() and np.nanmedian(np.abs(z)) < 2  # most lines near their chapter's median


def test_scores_do_not_read_test_labels():
    records = synthetic_records(1500, seed=21, days=100)
    train, valid, test = records[:900], records[900:1200], records[1200:]
    fast = {"learning_rate": 0.3}
    a = crossfit_scores(train, valid, test, fast)
    b = crossfit_scores(train, valid, [replace(r, fraud=None, critical=None) for r in test], fast)
    assert len(a) == 300 and np.array_equal(a, b)
