"""The cross-fitted booster's inputs for live scoring: line-vote tables that grow with every outcome, price norms.

`crossfit.Coded.votes` computes a row's line votes from a batch of labelled rows; live scoring cannot rebuild
that per declaration. Here the same figures live in tables that an outcome updates in place: per goods line and
group of every key the line's rows and frauds, per group the sum of its lines' fraud rates and their number.
An outcome changes one line's rate in each group, so the group's sum moves by the difference: exact, about
twenty array writes. A row's own line is left out of every group it is in (as `Coded.votes` does), so a
declaration whose outcome is already recorded never reads its own label. Keys are 64-bit mixes of vocabulary
ids (history.py's), so a batch looks up every key with one sorted search; new keys wait in a small dict.

Price norms (median and MAD of the distinct lines' log price per kg and log mass) are fitted at training from
the declarations the model was given and not updated live: a median does not update incrementally without
keeping every line's price; the next training refits them.
"""

from __future__ import annotations

import io
import json

import numpy as np

from concord.risk.learning.crossfit import HIER, LINE, MIN_LINES, PRICE_LEVELS, SHRINK, TE_KEYS, _robust
from concord.risk.learning.history import MISSING, Columns, _mix, key_plan

VOTE_KEYS = {"x".join(k): k for k in TE_KEYS + HIER}
_KEYS = {**VOTE_KEYS, "all": (), "line": LINE, **{"price." + "x".join(k): k for k in PRICE_LEVELS}}
_VOTES, _LINE, _PRICES = list(VOTE_KEYS) + ["all"], ["line"], ["price." + "x".join(k) for k in PRICE_LEVELS]
_HIER = {"x".join(k) for k in HIER}
MERGE_AT = 4096  # keys added live wait in a dict up to this many, then join the sorted arrays


def _pair(group: np.ndarray, line: np.ndarray) -> np.ndarray:
    return _mix(group ^ _mix(line ^ np.uint64(0x5851F42D4C957F2D)))


class _Table:
    """Sorted uint64 keys with float columns, plus keys added since (a dict) until MERGE_AT of them."""

    def __init__(self, keys=None, values=None, width: int = 2):
        self.keys = np.zeros(0, np.uint64) if keys is None else keys
        self.values = np.zeros((0, width)) if values is None else values
        self.new: dict[int, np.ndarray] = {}

    def get(self, keys: np.ndarray) -> np.ndarray:
        """The columns of each key (zeros where absent)."""
        out = np.zeros((len(keys), self.values.shape[1]))
        if len(self.keys):
            at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
            found = self.keys[at] == keys
            out[found] = self.values[at[found]]
        if self.new:
            for i, k in enumerate(keys.tolist()):
                v = self.new.get(k)
                if v is not None:
                    out[i] = v
        return out

    def add(self, key: int, delta: np.ndarray) -> np.ndarray:
        """Add `delta` to a key's columns; the columns before."""
        if len(self.keys):
            at = int(np.searchsorted(self.keys, np.uint64(key)))
            if at < len(self.keys) and int(self.keys[at]) == key:
                before = self.values[at].copy()
                self.values[at] += delta
                return before
        before = self.new.get(key, np.zeros_like(delta))
        self.new[key] = before + delta
        if len(self.new) >= MERGE_AT:
            self.merge()
        return before

    def merge(self) -> None:
        if self.new:
            keys = np.concatenate([self.keys, np.fromiter(self.new, np.uint64, len(self.new))])
            values = np.vstack([self.values, np.array(list(self.new.values()))])
            order = np.argsort(keys, kind="stable")
            self.keys, self.values, self.new = keys[order], values[order], {}


class LineVoteTables:
    """Line votes of every labelled record so far, and the price norms of the declarations given at fitting."""

    def __init__(self):
        self.vocab: dict[str, dict] = {}
        self.pairs, self.groups, self.norms = _Table(), _Table(), _Table(width=5)
        self._plans = {name: key_plan(_KEYS, names) for name, names in
                       (("votes", _VOTES), ("line", _LINE), ("prices", _PRICES))}

    def _keys(self, records, plan: str, grow: bool = False) -> np.ndarray:
        keys, _ = Columns(records, self.vocab, grow).keys(self._plans[plan])
        return keys.reshape(-1, len(records))

    @classmethod
    def fit(cls, labelled, declared) -> "LineVoteTables":
        """Tables of the `labelled` records' outcomes (others skipped); norms of the distinct lines `declared`."""
        tables = cls()
        labelled = [r for r in labelled if r.fraud is not None]
        declared = list({LINE_OF(r): r for r in list(declared) + labelled}.values())
        if labelled:
            groups = tables._keys(labelled, "votes", grow=True)
            pair = _pair(groups, tables._keys(labelled, "line", grow=True)[0]).ravel()
            keys, first, inverse = np.unique(pair, return_index=True, return_inverse=True)
            y = np.tile([float(r.fraud) for r in labelled], len(_VOTES))
            rows, frauds = np.bincount(inverse, minlength=len(keys)), np.bincount(inverse, y, len(keys))
            tables.pairs = _Table(keys, np.column_stack([rows, frauds]).astype(np.float64))
            gk, at = np.unique(groups.ravel()[first], return_inverse=True)
            tables.groups = _Table(gk, np.column_stack([np.bincount(at, frauds / rows, len(gk)),
                                                        np.bincount(at, minlength=len(gk))]).astype(np.float64))
        if declared:
            keys = tables._keys(declared, "prices", grow=True).ravel()
            lp, lm = _log_price_mass(declared)
            lp, lm = np.tile(lp, len(_PRICES)), np.tile(lm, len(_PRICES))
            order = np.argsort(keys, kind="stable")
            uniq, start = np.unique(keys[order], return_index=True)
            bounds = np.append(start, len(order))
            stats = np.empty((len(uniq), 5))
            for i in range(len(uniq)):  # once per group at training: a median needs the group's values
                idx = order[bounds[i]:bounds[i + 1]]
                stats[i] = (len(idx),) + _robust(lp[idx]) + _robust(lm[idx])
            tables.norms = _Table(uniq, stats, width=5)
        return tables

    def add_outcome(self, record) -> None:
        """One recorded outcome: its line's rate changes in each group; the groups' sums follow (exact)."""
        if record.fraud is None:
            return
        groups = self._keys([record], "votes", grow=True)[:, 0]
        pairs = _pair(groups, self._keys([record], "line", grow=True)[0])
        y = float(record.fraud)
        for g, p in zip(groups.tolist(), pairs.tolist()):
            n, f = self.pairs.add(p, np.array([1.0, y]))
            old = f / n if n else 0.0
            self.groups.add(g, np.array([(f + y) / (n + 1) - old, 0.0 if n else 1.0]))

    def votes(self, records) -> tuple[np.ndarray, list[str]]:
        """As `Coded.votes` with every outcome recorded so far labelled: per key the group's rate shrunk toward
        the coarser level (HS) or the prior, and log(1 + lines), the row's own line left out."""
        records = list(records)
        m = len(records)
        groups = self._keys(records, "votes")
        pairs = _pair(groups, self._keys(records, "line")[0])
        g = self.groups.get(groups.ravel()).reshape(len(_VOTES), m, 2)
        p = self.pairs.get(pairs.ravel()).reshape(len(_VOTES), m, 2)
        total, lines = self.groups.get(groups[-1, :1])[0] if m else (0.0, 0.0)
        prior = total / lines if lines else 0.0
        mine = p[:, :, 0] > 0  # the row's own line is among the votes: left out
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.where(mine, g[:, :, 0] - p[:, :, 1] / p[:, :, 0], g[:, :, 0])
        n = np.where(mine, g[:, :, 1] - 1, g[:, :, 1])
        cols, names, rate = [], [], np.full(m, prior)
        for j, name in enumerate(_VOTES[:-1]):
            value = (s[j] + SHRINK * (rate if name in _HIER else prior)) / (n[j] + SHRINK)
            if name in _HIER:
                rate = value
            cols += [value, np.log1p(n[j])]
            names += ["xf." + name, "xf." + name + ".lines"]
        return np.column_stack(cols) if m else np.zeros((0, len(cols))), names

    def prices(self, records) -> tuple[np.ndarray, list[str]]:
        """As `PriceNorms.features`: robust z-scores of log price per kg and log mass per level, and the raw ones."""
        records = list(records)
        m = len(records)
        lp, lm = _log_price_mass(records)
        st = self.norms.get(self._keys(records, "prices").ravel()).reshape(len(_PRICES), m, 5)
        cols, names = [], []
        for j, name in enumerate(_PRICES):
            ok = st[j, :, 0] >= MIN_LINES
            with np.errstate(invalid="ignore", divide="ignore"):
                cols += [np.where(ok, (lp - st[j, :, 1]) / st[j, :, 2], np.nan),
                         np.where(ok, (lm - st[j, :, 3]) / st[j, :, 4], np.nan), np.log1p(np.where(ok, st[j, :, 0], 0))]
            names += ["xf." + name + ".z", "xf." + name + ".mass_z", "xf." + name + ".lines"]
        cols += [lp, lm, np.array([r.tax_rate or 0.0 for r in records])]
        return np.column_stack(cols), names + ["xf.log_price", "xf.log_mass", "xf.tax_rate"]

    def features(self, records) -> tuple[np.ndarray, list[str]]:
        """The booster's columns: votes, then prices."""
        records = list(records)
        (v, a), (p, b) = self.votes(records), self.prices(records)
        return np.hstack([v, p]), a + b

    def to_bytes(self) -> bytes:
        """One .npz (no pickle), the tables merged first."""
        for t in (self.pairs, self.groups, self.norms):
            t.merge()
        meta = {"vocab": {f: [v for v in t if v is not None] for f, t in self.vocab.items()}}
        buf = io.BytesIO()
        np.savez_compressed(buf, meta=np.array(json.dumps(meta)),
                            **{f"{n}/{c}": getattr(getattr(self, n), c) for n in ("pairs", "groups", "norms")
                               for c in ("keys", "values")})
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "LineVoteTables":
        tables = cls()
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            tables.vocab = {f: {None: MISSING, **{v: i for i, v in enumerate(values)}}
                            for f, values in meta["vocab"].items()}
            for n in ("pairs", "groups", "norms"):
                setattr(tables, n, _Table(z[f"{n}/keys"], z[f"{n}/values"]))
        return tables


def LINE_OF(r) -> tuple:  # noqa: N802 - the goods line, as crossfit.goods_line
    return (r.hs6, r.origin, r.net_mass, r.value)


def _log_price_mass(records) -> tuple[np.ndarray, np.ndarray]:
    """As PriceNorms: log(1 + value) - log(1 + mass), log(1 + mass), without clipping."""
    lm = np.array([np.log1p(r.net_mass) for r in records], np.float64)
    return np.array([np.log1p(r.value) for r in records], np.float64) - lm, lm
