"""Leave-line-out features: history strictly before the day, and nothing of the row's own goods line."""

from dataclasses import replace
from datetime import timedelta

import numpy as np

from concord.risk.learning.novel import novel_features, rank_mean
from concord.risk.learning.synthetic import synthetic_records


def test_features_read_only_earlier_days_and_never_the_rows_own_line():
    records = synthetic_records(900, seed=5, days=60)
    base, names = novel_features(records)
    assert base.shape == (900, len(names)) and np.isfinite(base).all()
    # later rows, and any label from the row's own day on, do not move a row's features
    day = sorted(r.ts // 86400 for r in records)[600]
    flipped = [replace(r, fraud=1 - r.fraud) if r.ts // 86400 >= day else r for r in records]
    later = synthetic_records(50, seed=6, days=5, start=records[0].when + timedelta(days=61))
    moved, _ = novel_features(flipped + later)
    early = np.array([r.ts // 86400 < day for r in records])
    assert 500 < early.sum() < 900 and np.allclose(moved[:900][early], base[early])
    # earlier rows of the row's own goods line, fraudulent or not, change nothing of its features
    target = records[700]
    copies = [replace(target, declaration_id=f"copy{k}", when=target.when - timedelta(days=k + 1), fraud=k % 2,
                      importer=target.importer if k else "someone-else") for k in range(4)]
    with_copies, _ = novel_features(records + copies)
    assert np.allclose(with_copies[700], base[700])
    # while an earlier row of the same importer on another line does
    other = replace(records[3], declaration_id="other", when=target.when - timedelta(days=1),
                    importer=target.importer, fraud=1, value=records[3].value + 1)
    assert not np.allclose(novel_features(records + [other])[0][700], base[700])


def test_rank_mean_is_the_mean_rank_with_ties_shared():
    assert rank_mean(np.array([0.1, 0.5, 0.5, 0.9])).tolist() == [0.25, 0.625, 0.625, 1.0]
    assert rank_mean(np.array([1.0, 2.0]), np.array([20.0, 10.0])).tolist() == [0.75, 0.75]
