"""A booster for goods lines never seen before: one vote per goods line, cross-fitted, monotone in the rates.

In KCS most rows repeat a goods line (HS6, origin, net mass, declared value) whose outcome is known, so any
outcome rate per importer, HS6 or office is mostly made of a few lines repeated many times, and a model
trained on such rates learns memory. Here every rate counts each goods line once (the line's own fraud rate
within the group is one vote), HS2 -> HS4 -> HS6 -> HS6 x origin each shrunk toward the coarser level, the
parties and routes toward the overall rate. A training row must not see its own label: leave-one-out does
that, but it leaks the other way (a fraud row lowers its own group's rate, and trees learn that reversal:
AUC 0.50-0.54 on new lines in the tuning, below plain LightGBM), so training rows read encodings
*cross-fitted by goods line* (five folds of lines; a row's encodings come from the lines of the other
folds). Prices are robust z-scores of log price per kg and log mass against the median and MAD of the
distinct lines declared in the same HS6 x origin, HS6, HS4, HS2. Rows weigh 1 / rows of their line; the
rates are monotone (a higher group rate never lowers the score); boosting stops on the valid rows whose line
was new. Chosen on two time folds of train/valid only (docs/risk-tune-never-seen-3.py). The live model scores
declarations whose goods line has no known outcome with it (newlines.py; the tables it reads live: votetables.py).
"""

from __future__ import annotations

import zlib
from collections import Counter, defaultdict
from dataclasses import replace

import numpy as np

# group keys with one vote per line: parties, routes, tax, and the HS hierarchy (coarse to fine, each
# shrunk toward the previous)
TE_KEYS = (("importer",), ("declarant",), ("seller",), ("office",), ("tax_type",), ("departure",),
           ("origin",), ("hs6", "tax_type"), ("origin", "departure"), ("declarant", "hs4"), ("importer", "hs4"))
HIER = (("hs2",), ("hs4",), ("hs6",), ("hs6", "origin"))
PRICE_LEVELS = (("hs2",), ("hs4",), ("hs6",), ("hs6", "origin"))
SHRINK = 5.0  # pseudo-count (in lines) of the coarser rate
MIN_LINES = 5  # a price norm from fewer distinct lines is left empty
FOLDS = 5


def goods_line(r) -> tuple:
    return (r.hs6, r.origin, r.net_mass, r.value)


def _field(r, k: str):
    return r.hs6[:4] if k == "hs4" else r.hs6[:2] if k == "hs2" else getattr(r, k)


def _key(r, key: tuple) -> tuple:
    return tuple(_field(r, k) for k in key)


def _codes(rows, key: tuple) -> np.ndarray:
    """An integer per distinct value of `key` over `rows` (first seen, first numbered)."""
    columns = [[r.hs6[:4] for r in rows] if k == "hs4" else [r.hs6[:2] for r in rows] if k == "hs2"
               else [getattr(r, k) for r in rows] for k in key]
    seen: dict = {}
    return np.fromiter((seen.setdefault(v, len(seen)) for v in zip(*columns)), np.int64, len(rows))


LINE = ("hs6", "origin", "net_mass", "value")


class Coded:
    """Rows coded once: an integer per goods line and per group of every key, and the labels (NaN unknown)."""

    def __init__(self, rows):
        self.rows = list(rows)
        self.line = _codes(self.rows, LINE)
        self.group = {key: _codes(self.rows, key) for key in TE_KEYS + HIER}
        self.y = np.array([np.nan if r.fraud is None else r.fraud for r in self.rows], np.float64)

    def votes(self, labelled: np.ndarray, asked: np.ndarray, prior: float | None = None):
        """Encodings of the `asked` rows from the labelled rows among `labelled` (index arrays): per key, the
        sum of the line's fraud rate within the group over distinct lines and their number, a row's own line
        left out where it is among the votes; the HS levels shrunk coarse to fine, the rest toward the prior."""
        labelled = labelled[~np.isnan(self.y[labelled])]
        y, line = self.y[labelled], self.line
        span = int(line.max()) + 1 if len(line) else 1
        if prior is None:
            if len(labelled):
                _, at = np.unique(line[labelled], return_inverse=True)
                prior = float(np.mean(np.bincount(at, y) / np.bincount(at)))
            else:
                prior = 0.0
        cols, names = [], []
        rate = np.full(len(asked), prior)
        for key in TE_KEYS + HIER:
            group = self.group[key]
            pair = group * span + line
            pairs, inverse = np.unique(pair[labelled], return_inverse=True)
            mean = np.bincount(inverse, y, len(pairs)) / np.maximum(np.bincount(inverse, minlength=len(pairs)), 1)
            size = int(group.max()) + 1 if len(group) else 1
            total = np.bincount(pairs // span, mean, size)
            lines = np.bincount(pairs // span, minlength=size).astype(np.float64)
            s, n = total[group[asked]], lines[group[asked]]
            if len(pairs):
                at = np.minimum(np.searchsorted(pairs, pair[asked]), len(pairs) - 1)
                mine = pairs[at] == pair[asked]
                s, n = np.where(mine, s - mean[at], s), np.where(mine, n - 1, n)
            value = (s + SHRINK * (rate if key in HIER else prior)) / (n + SHRINK)
            if key in HIER:
                rate = value
            name = "xf." + "x".join(key)
            cols += [value, np.log1p(n)]
            names += [name, name + ".lines"]
        return np.column_stack(cols), names, prior

    def cross_fitted(self, rows: np.ndarray, folds: int = FOLDS):
        """Each of `rows` encoded from the lines of the other folds: neither its own label nor its own line."""
        part = np.array([zlib.crc32(repr(goods_line(self.rows[i])).encode()) % folds for i in rows])
        out, names = None, []
        for j in range(folds):
            x, names, _ = self.votes(rows[part != j], rows[part == j])
            out = np.empty((len(rows), x.shape[1])) if out is None else out
            out[part == j] = x
        return out, names


class LineVotes:
    """The votes of `labelled` for any rows asked later (a thin wrapper over Coded, for one-off use)."""

    def __init__(self, labelled):
        self.labelled = [r for r in labelled if r.fraud is not None]
        coded = Coded(self.labelled)
        self.prior = coded.votes(np.arange(len(self.labelled)), np.arange(0))[2]

    def features(self, rows) -> tuple[np.ndarray, list[str]]:
        rows = list(rows)
        coded = Coded(self.labelled + rows)
        n = len(self.labelled)
        x, names, _ = coded.votes(np.arange(n), np.arange(n, n + len(rows)), self.prior)
        return x, names


def cross_fitted(rows, folds: int = FOLDS) -> tuple[np.ndarray, list[str]]:
    """Each row's encodings from the lines of the other folds: neither its own label nor its own line."""
    rows = list(rows)
    return Coded(rows).cross_fitted(np.arange(len(rows)), folds)


class PriceNorms:
    """Median and MAD (robust spread) of log price per kg and log mass over the distinct lines declared, per level."""

    def __init__(self, declared):
        lines = {goods_line(r): r for r in declared}
        self.stats = {}
        for key in PRICE_LEVELS:
            groups = defaultdict(lambda: ([], []))
            for r in lines.values():
                g = groups[_key(r, key)]
                g[0].append(np.log1p(r.value) - np.log1p(r.net_mass))
                g[1].append(np.log1p(r.net_mass))
            self.stats[key] = {k: (len(p),) + _robust(p) + _robust(m) for k, (p, m) in groups.items()}

    def features(self, rows) -> tuple[np.ndarray, list[str]]:
        rows = list(rows)
        lp = np.array([np.log1p(r.value) - np.log1p(r.net_mass) for r in rows])
        lm = np.array([np.log1p(r.net_mass) for r in rows])
        cols, names = [], []
        for key in PRICE_LEVELS:
            zp, zm, n = np.full(len(rows), np.nan), np.full(len(rows), np.nan), np.zeros(len(rows))
            for i, r in enumerate(rows):
                st = self.stats[key].get(_key(r, key))
                if st and st[0] >= MIN_LINES:
                    n[i], zp[i], zm[i] = st[0], (lp[i] - st[1]) / st[2], (lm[i] - st[3]) / st[4]
            name = "xf.price." + "x".join(key)
            cols += [zp, zm, np.log1p(n)]
            names += [name + ".z", name + ".mass_z", name + ".lines"]
        cols += [lp, lm, np.array([r.tax_rate or 0.0 for r in rows])]
        return np.column_stack(cols), names + ["xf.log_price", "xf.log_mass", "xf.tax_rate"]


def _robust(values) -> tuple[float, float]:
    v = np.asarray(values)
    med = float(np.median(v))
    return med, 1.4826 * float(np.median(np.abs(v - med))) + 0.05  # + 0.05: a group of identical prices


def new_at_time(part, before=()) -> np.ndarray:
    """Rows whose goods line had no row on an earlier day (in `before` or earlier in `part`)."""
    first: dict = {}
    for r in list(before) + list(part):
        first.setdefault(goods_line(r), r.ts // 86400)
    return np.array([first[goods_line(r)] == r.ts // 86400 for r in part], bool)


def crossfit_scores(train, valid, test, params: dict | None = None) -> np.ndarray:
    """Train on `train` (cross-fitted), stop on the `valid` rows whose line was new, score `test` (labels unused)."""
    train, valid, test = list(train), list(valid), list(test)
    norms = PriceNorms(train + valid + test)  # declared prices only: no outcome
    coded = Coded(train + valid + [replace(r, fraud=None) for r in test])  # test labels never read
    b, c = len(train) + len(valid), len(train) + len(valid) + len(test)
    booster = train_booster(coded, len(train), len(valid), norms.features, params)
    x_test = np.hstack([coded.votes(np.arange(b), np.arange(b, c))[0], norms.features(test)[0]])
    return booster.predict(x_test, num_iteration=booster.best_iteration, num_threads=1)


def monotone(names) -> list[int]:
    """+1 for the group rates (a higher rate never lowers the score), 0 for counts and prices."""
    return [1 if n.startswith("xf.") and not n.startswith("xf.price") and not n.endswith(".lines")
            and n not in ("xf.log_price", "xf.log_mass", "xf.tax_rate") else 0 for n in names]


def train_booster(coded: Coded, a: int, v: int, prices, params: dict | None = None):
    """The booster on `coded`'s first `a` rows (train, cross-fitted encodings), stopped on the next `v` (valid)
    rows whose line was new (encoded from train); `prices(rows)` gives the price columns. Best iteration kept."""
    import lightgbm as lgb

    from concord.risk.learning.model import DEFAULT_PARAMS

    train, valid = coded.rows[:a], coded.rows[a:a + v]
    enc_train, names = coded.cross_fitted(np.arange(a))
    enc_valid = coded.votes(np.arange(a), np.arange(a, a + v))[0]
    p_train, p_valid = prices(train), prices(valid)
    x_train, x_valid = np.hstack([enc_train, p_train[0]]), np.hstack([enc_valid, p_valid[0]])
    names = names + p_train[1]
    rows = Counter(goods_line(r) for r in train)
    weight = np.array([1.0 / rows[goods_line(r)] for r in train])
    new = new_at_time(valid, train)
    d_train = lgb.Dataset(x_train, np.array([r.fraud for r in train]), weight=weight, feature_name=names,
                          free_raw_data=False)
    d_valid = lgb.Dataset(x_valid[new], np.array([r.fraud for r in valid])[new], reference=d_train)
    return lgb.train({**DEFAULT_PARAMS, "monotone_constraints": monotone(names),
                      "monotone_constraints_method": "advanced", **(params or {})}, d_train, 3000,
                     valid_sets=[d_valid], callbacks=[lgb.early_stopping(100, verbose=False)])
