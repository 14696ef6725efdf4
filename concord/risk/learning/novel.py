"""Features for goods lines never seen before: every history figure leaves the row's own goods line out.

In KCS most rows repeat a goods line whose outcome is known, so the importer's, the HS6's, the broker's
rates and price norms of a repeated row are largely made of the line's own earlier rows: on training
rows they carry the line's memory, and on a never-seen row they cannot. Leaving the line out
(subtracting the totals of key × line from those of the key) gives training rows the features a
never-seen row has, so a model learns from every row what carries to new goods. Price and mass norms
are shrunk level by level (HS6 × origin → HS6 → HS4 → HS2 → all goods, empirical Bayes with a
pseudo-count), and party outcome rates toward the prior, so that one repeated line cannot dominate.
History is read strictly before each row's day; rows with `fraud` None count as declared, not labelled.
"""

from __future__ import annotations

import numpy as np

# outcome rates (leave-line-out) of parties, goods and routes
RATE_KEYS = (("importer",), ("declarant",), ("seller",), ("office",), ("hs6",), ("hs4",), ("hs2",), ("origin",),
             ("departure",), ("hs6", "origin"), ("hs4", "origin"), ("importer", "hs4"), ("declarant", "hs4"),
             ("declarant", "importer"), ("seller", "importer"), ("origin", "departure"), ("hs6", "departure"),
             ("tax_type",), ("hs4", "tax_type"))
# declaration counts (leave-line-out): a first-time party or combination shows as 0
COUNT_KEYS = (("importer",), ("declarant",), ("seller",), ("declarant", "importer"), ("importer", "seller"),
              ("importer", "hs4"), ("hs6", "origin"), ("origin", "departure"))
LEVELS = (("hs2",), ("hs4",), ("hs6",), ("hs6", "origin"))  # price norms, coarse to fine
SHRINK = 10.0  # pseudo-count of each level toward the coarser one
SMOOTH = 10.0  # pseudo-count of the prior in every outcome rate


def _column(records, name: str) -> list:
    if name == "hs4":
        return [r.hs6[:4] for r in records]
    if name == "hs2":
        return [r.hs6[:2] for r in records]
    return [getattr(r, name) for r in records]


def _codes(records, key: tuple) -> np.ndarray:
    columns = [_column(records, k) for k in key]
    codes: dict = {}
    return np.fromiter((codes.setdefault(v, len(codes)) for v in zip(*columns)), np.int64, len(records))


def _before(code: np.ndarray, day: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row, the sums of `values` over rows of the same code on an earlier day."""
    span = int(day.max()) + 2
    composite = code * span + day
    order = np.argsort(composite, kind="stable")
    ordered = composite[order]
    prefix = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values[order], axis=0)])
    upto = np.searchsorted(ordered, composite, "left")
    start = np.searchsorted(ordered, code * span, "left")
    return prefix[upto] - prefix[start]


def novel_features(records, line_key=("hs6", "origin", "net_mass", "value")) -> tuple[np.ndarray, list[str]]:
    """Leave-line-out history features for time-ordered-or-not records; labels of rows with fraud None unused."""
    records = list(records)
    n = len(records)
    day = np.array([r.ts // 86400 for r in records], np.int64)
    day -= day.min()
    lm = np.log1p(np.array([r.net_mass for r in records], np.float64))
    lv = np.log1p(np.array([r.value for r in records], np.float64))
    lp = lv - lm
    labelled = np.array([r.fraud is not None for r in records], np.float64)
    y = np.array([r.fraud or 0 for r in records], np.float64)
    line = _codes(records, line_key)
    # declared: n, Σ log price, Σ log price², Σ log mass, Σ log mass²; labelled: n, frauds
    values = np.column_stack([np.ones(n), lp, lp * lp, lm, lm * lm, labelled, y * labelled])

    def out_of_line(key: tuple) -> np.ndarray:
        code = _codes(records, key) if key else np.zeros(n, np.int64)
        both = code * (line.max() + 1) + line
        return _before(code, day, values) - _before(both, day, values)

    # the prior as of each row: the overall rate before its day, the line left out like everywhere else
    everything = out_of_line(())
    prior = (everything[:, 6] + 1.0) / (everything[:, 5] + 5.0)
    columns, names = [], []
    # price and mass norms, shrunk from all goods down to HS6 x origin, line left out
    # with nothing earlier at all, the row is its own norm (deviation 0): no later row may set it
    mean_p = np.where(everything[:, 0] > 0, everything[:, 1] / np.maximum(everything[:, 0], 1), lp)
    mean_m = np.where(everything[:, 0] > 0, everything[:, 3] / np.maximum(everything[:, 0], 1), lm)
    for key in LEVELS:
        t = out_of_line(key)
        k = t[:, 0]
        mean_p = (t[:, 1] + SHRINK * mean_p) / (k + SHRINK)
        mean_m = (t[:, 3] + SHRINK * mean_m) / (k + SHRINK)
        name = "x".join(key)
        columns += [lp - mean_p, lm - mean_m, np.log1p(k)]
        names += [f"llo.{name}.price_dev", f"llo.{name}.mass_dev", f"llo.{name}.log_n"]
    for key in RATE_KEYS:
        t = out_of_line(key)
        columns += [(t[:, 6] + SMOOTH * prior) / (t[:, 5] + SMOOTH), np.log1p(t[:, 5])]
        names += [f"llo.{'x'.join(key)}.rate", f"llo.{'x'.join(key)}.log_labelled"]
    for key in COUNT_KEYS:
        columns.append(np.log1p(out_of_line(key)[:, 0]))
        names.append(f"llo.{'x'.join(key)}.log_declared")
    columns += [prior, lp, lm, lv]
    names += ["llo.prior", "llo.log_price", "llo.log_mass", "llo.log_value"]
    return np.column_stack(columns), names


def _goods_line(r) -> tuple:
    return (r.hs6, r.origin, r.net_mass, r.value)


def _new_at_time(records, before=()) -> np.ndarray:
    """Rows whose goods line had no row on an earlier day (in `before` or earlier in `records`)."""
    first: dict = {}
    for r in sorted(list(before) + list(records), key=lambda r: r.ts):
        first.setdefault(_goods_line(r), r.ts // 86400)
    return np.array([first[_goods_line(r)] == r.ts // 86400 for r in records], bool)


def leave_line_out_scores(train, valid, test, categories: tuple, params: dict | None = None) -> np.ndarray:
    """An experiment of the evaluation: a booster on the leave-line-out features (and `categories`, a
    (train, valid, test) triple of categorical columns with their names), every training row weighted by
    1 / the rows of its goods line in train so that a line repeated a hundred times counts once, stopped on the
    valid rows whose line was new. Chosen on valid.csv only (docs/risk-tune-never-seen-2.py)."""
    import lightgbm as lgb
    from collections import Counter

    from concord.risk.learning.model import DEFAULT_PARAMS

    train, valid, test = list(train), list(valid), list(test)
    x, names = novel_features(train + valid + test)
    (c_train, c_valid, c_test), cat_names = categories
    a, b = len(train), len(train) + len(valid)
    x_train, x_valid, x_test = (np.hstack(p) for p in ((x[:a], c_train), (x[a:b], c_valid), (x[b:], c_test)))
    rows = Counter(_goods_line(r) for r in train)
    weight = np.array([1.0 / rows[_goods_line(r)] for r in train])
    new = _new_at_time(valid, train)
    d_train = lgb.Dataset(x_train, np.array([r.fraud for r in train]), weight=weight, feature_name=names + cat_names,
                          categorical_feature=list(cat_names), free_raw_data=False)
    d_valid = lgb.Dataset(x_valid[new], np.array([r.fraud for r in valid])[new], reference=d_train)
    booster = lgb.train({**DEFAULT_PARAMS, **(params or {})}, d_train, 3000, valid_sets=[d_valid],
                        callbacks=[lgb.early_stopping(100, verbose=False)])
    return booster.predict(x_test, num_iteration=booster.best_iteration, num_threads=1)


def rank_mean(*scores: np.ndarray) -> np.ndarray:
    """The mean of each model's rank (0-1] over the same rows: an ensemble that no model's scale dominates."""
    def rank(s):  # ties share their mean rank
        s = np.asarray(s)
        order = np.argsort(s, kind="stable")
        ranks = np.empty(len(s))
        ranks[order] = np.arange(1, len(s) + 1)
        _, group, counts = np.unique(s, return_inverse=True, return_counts=True)
        sums = np.bincount(group, weights=ranks)
        return sums[group] / counts[group] / len(s)

    return np.mean([rank(s) for s in scores], axis=0)
