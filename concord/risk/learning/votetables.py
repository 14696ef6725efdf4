"""The cross-fitted booster's inputs for live scoring: line-vote tables that grow with every outcome, price norms.

`crossfit.Coded.votes` computes a row's line votes from a batch of labelled rows; live scoring cannot rebuild
that per declaration. Here the same figures live in tables that an outcome updates in place: per goods line and
group of every key the line's rows and frauds, per group the sum of its lines' fraud rates and their number.
An outcome changes one line's rate in each group, so the group's sum moves by the difference: exact, about
twenty array writes. A row's own line is left out of every group it is in (as `Coded.votes` does), so a
declaration whose outcome is already recorded never reads its own label. Keys are 64-bit mixes of vocabulary
ids (history.py's), so a batch looks up every key with one sorted search; new keys wait in a small sorted table.

Price norms (median and MAD of the distinct lines' log price per kg and log mass) are fitted at training from
the declarations the model was given and not updated live: a median does not update incrementally without
keeping every line's price; the next training refits them.
"""

from __future__ import annotations

import io
import json

import numpy as np

from concord.risk.learning.crossfit import HIER, LINE, MIN_LINES, PRICE_LEVELS, SHRINK, TE_KEYS, _robust, goods_line
from concord.risk.learning.history import MISSING, Columns, _mix, key_plan

VOTE_KEYS = {"x".join(k): k for k in TE_KEYS + HIER}
_KEYS = {**VOTE_KEYS, "all": (), "line": LINE, **{"price." + "x".join(k): k for k in PRICE_LEVELS}}
_VOTES, _LINE, _PRICES = list(VOTE_KEYS) + ["all"], ["line"], ["price." + "x".join(k) for k in PRICE_LEVELS]
_TE = len(TE_KEYS)  # the first keys of _VOTES shrink toward the prior; the HS levels after them, each to the last
VOTE_NAMES = [n for k in _VOTES[:-1] for n in ("xf." + k, "xf." + k + ".lines")]
PRICE_NAMES = [n for k in _PRICES for n in ("xf." + k + ".z", "xf." + k + ".mass_z", "xf." + k + ".lines")] + [
    "xf.log_price", "xf.log_mass", "xf.tax_rate"]
MERGE_AT = 4096  # keys added live wait in a small sorted table up to this many, then join the big one
# A line's rate enters its groups' sums in fixed point (units of 2^-32, integers held exactly in float64 up to 2^53):
# the sums then do not depend, even in the last bit, on the order or batching in which outcomes arrived, so two
# workers that read the same outcomes score alike, and one outcome at a time equals all at once.
UNIT = 2.0 ** 32


def _fixed(rate: np.ndarray) -> np.ndarray:
    return np.round(rate * UNIT)


def _pair(group: np.ndarray, line: np.ndarray) -> np.ndarray:
    return _mix(group ^ _mix(line ^ np.uint64(0x5851F42D4C957F2D)))


class _Table:
    """Sorted uint64 keys with float columns, and a small sorted table of keys added since, merged into the big
    one at MERGE_AT of them (so that one live outcome does not re-sort a million keys)."""

    def __init__(self, keys=None, values=None, width: int = 2):
        width = width if values is None else values.shape[1]
        self.keys = np.zeros(0, np.uint64) if keys is None else keys
        self.values = np.zeros((0, width)) if values is None else values
        self.recent_keys, self.recent_values = np.zeros(0, np.uint64), np.zeros((0, width))

    @staticmethod
    def _find(keys: np.ndarray, asked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not len(keys):
            return np.zeros(len(asked), np.intp), np.zeros(len(asked), bool)
        at = np.minimum(np.searchsorted(keys, asked), len(keys) - 1)
        return at, keys[at] == asked

    def get(self, keys: np.ndarray) -> np.ndarray:
        """The columns of each key (zeros where absent)."""
        out = np.zeros((len(keys), self.values.shape[1]))
        for table, values in ((self.keys, self.values), (self.recent_keys, self.recent_values)):
            at, found = self._find(table, keys)
            out[found] = values[at[found]]
        return out

    def add(self, keys: np.ndarray, deltas: np.ndarray) -> np.ndarray:
        """Add each row of `deltas` to its key's columns (keys distinct); the columns before."""
        before = self.get(keys)
        at, found = self._find(self.keys, keys)
        self.values[at[found]] += deltas[found]
        keys, deltas = keys[~found], deltas[~found]
        at, found = self._find(self.recent_keys, keys)
        self.recent_values[at[found]] += deltas[found]
        if not found.all():
            merged = np.concatenate([self.recent_keys, keys[~found]])
            order = np.argsort(merged, kind="stable")
            self.recent_keys = merged[order]
            self.recent_values = np.vstack([self.recent_values, deltas[~found]])[order]
            if len(self.recent_keys) >= MERGE_AT:
                self.merge()
        return before

    def merge(self) -> None:
        if len(self.recent_keys):
            keys = np.concatenate([self.keys, self.recent_keys])
            order = np.argsort(keys, kind="stable")
            self.keys, self.values = keys[order], np.vstack([self.values, self.recent_values])[order]
            self.recent_keys, self.recent_values = self.recent_keys[:0], self.recent_values[:0]


class LineVoteTables:
    """Line votes of every labelled record so far, and the price norms of the declarations given at fitting."""

    def __init__(self):
        self.vocab: dict[str, dict] = {}
        self.pairs, self.groups, self.norms = _Table(), _Table(), _Table(width=5)
        self._plans = {name: key_plan(_KEYS, names) for name, names in
                       (("votes", _VOTES + _LINE), ("prices", _PRICES), ("all", _VOTES + _LINE + _PRICES))}

    def _keys(self, records, plan: str, grow: bool = False) -> np.ndarray:
        """The 64-bit key of each planned profile (rows) for each record (columns)."""
        keys, _ = Columns(records, self.vocab, grow).keys(self._plans[plan])
        return keys.reshape(len(self._plans[plan][2]), len(records))

    @classmethod
    def fit(cls, labelled, declared) -> "LineVoteTables":
        """Tables of the `labelled` records' outcomes (others skipped); norms of the distinct lines `declared`."""
        tables = cls()
        labelled = [r for r in labelled if r.fraud is not None]
        declared = list({goods_line(r): r for r in list(declared) + labelled}.values())
        tables.add_outcomes(labelled)  # fixed point: all at once is what one at a time would give
        tables.pairs.merge()
        tables.groups.merge()
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
        """One recorded outcome (see add_outcomes)."""
        self.add_outcomes([record])

    def add_outcomes(self, records) -> None:
        """Recorded outcomes: each line's rate changes in each of its groups, and the groups' sums move by the
        difference (exact: fixed point); records without an outcome are skipped."""
        records = [r for r in records if r.fraud is not None]
        if not records:
            return
        keys = self._keys(records, "votes", grow=True)  # the groups of every key, then the line
        groups = keys[:-1]
        pairs, inverse = np.unique(_pair(groups, keys[-1]).ravel(), return_inverse=True)
        y = np.tile([float(r.fraud) for r in records], len(_VOTES))
        added = np.column_stack([np.bincount(inverse, minlength=len(pairs)), np.bincount(inverse, y, len(pairs))])
        n, f = self.pairs.add(pairs, added.astype(np.float64)).T
        old = np.where(n > 0, _fixed(f / np.where(n > 0, n, 1.0)), 0.0)
        first = np.zeros(len(pairs), np.intp)
        first[inverse[::-1]] = np.arange(len(inverse))[::-1]  # a row of each pair: its group
        keys, at = np.unique(groups.ravel()[first], return_inverse=True)
        rate = _fixed((f + added[:, 1]) / (n + added[:, 0]))
        self.groups.add(keys, np.column_stack([np.bincount(at, rate - old, len(keys)),
                                               np.bincount(at, (n == 0).astype(np.float64), len(keys))]))

    def votes(self, records, keys: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
        """As `Coded.votes` with every outcome recorded so far labelled: per key the group's rate shrunk toward
        the coarser level (HS) or the prior, and log(1 + lines), the row's own line left out."""
        records = list(records)
        m = len(records)
        keys = self._keys(records, "votes") if keys is None else keys
        groups = keys[:-1]
        pairs = _pair(groups, keys[-1])
        g = self.groups.get(groups.ravel()).reshape(len(_VOTES), m, 2)
        p = self.pairs.get(pairs.ravel()).reshape(len(_VOTES), m, 2)
        total, lines = self.groups.get(groups[-1, :1])[0] if m else (0.0, 0.0)
        prior = total / UNIT / lines if lines else 0.0
        mine = p[:, :, 0] > 0  # the row's own line is among the votes: left out
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.where(mine, g[:, :, 0] - _fixed(p[:, :, 1] / p[:, :, 0]), g[:, :, 0]) / UNIT
        n = np.where(mine, g[:, :, 1] - 1, g[:, :, 1])
        # parties, routes and tax toward the prior, all at once; the HS levels coarse to fine, each toward the last
        value = np.empty((len(_VOTES) - 1, m))
        value[:_TE] = (s[:_TE] + SHRINK * prior) / (n[:_TE] + SHRINK)
        rate = np.full(m, prior)
        for j in range(_TE, len(_VOTES) - 1):
            rate = value[j] = (s[j] + SHRINK * rate) / (n[j] + SHRINK)
        out = np.empty((m, 2 * len(value)))
        out[:, 0::2], out[:, 1::2] = value.T, np.log1p(n[:-1]).T
        return out, list(VOTE_NAMES)

    def prices(self, records, keys: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
        """As `PriceNorms.features`: robust z-scores of log price per kg and log mass per level, and the raw ones."""
        records = list(records)
        m = len(records)
        lp, lm = _log_price_mass(records)
        keys = self._keys(records, "prices") if keys is None else keys
        st = self.norms.get(keys.ravel()).reshape(len(_PRICES), m, 5)
        ok = st[:, :, 0] >= MIN_LINES
        out = np.empty((m, 3 * len(_PRICES) + 3))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, 0:-3:3] = np.where(ok, (lp - st[:, :, 1]) / st[:, :, 2], np.nan).T
            out[:, 1:-3:3] = np.where(ok, (lm - st[:, :, 3]) / st[:, :, 4], np.nan).T
        out[:, 2:-3:3] = np.log1p(np.where(ok, st[:, :, 0], 0)).T
        out[:, -3], out[:, -2], out[:, -1] = lp, lm, [r.tax_rate or 0.0 for r in records]
        return out, list(PRICE_NAMES)

    def features(self, records) -> tuple[np.ndarray, list[str]]:
        """The booster's columns: votes, then prices (every key of both from one pass over the records)."""
        records = list(records)
        keys = self._keys(records, "all")
        (v, a), (p, b) = self.votes(records, keys[:len(_VOTES) + 1]), self.prices(records, keys[len(_VOTES) + 1:])
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


def _log_price_mass(records) -> tuple[np.ndarray, np.ndarray]:
    """As PriceNorms: log(1 + value) - log(1 + mass), log(1 + mass), without clipping."""
    lm = np.array([np.log1p(r.net_mass) for r in records], np.float64)
    return np.array([np.log1p(r.value) for r in records], np.float64) - lm, lm
