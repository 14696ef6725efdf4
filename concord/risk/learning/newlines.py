"""The live model's second booster: declarations whose goods line has no known outcome are scored by it.

The main model's trees are mostly memory of goods lines already inspected; on a line never seen they rank
little better than plain LightGBM (KCS test: AUC 0.599 against 0.591). The cross-fitted line-vote booster
(crossfit.py) does better there (0.643). The live model routes: a declaration whose history holds no outcome
of its goods line (`goods_line.n == 0`, the main model's own feature) is scored by this booster, any other by
the main model. Its raw scores are mapped onto the main model's scores on new lines (quantile mapping fitted
on the valid rows the router sends here), so a routed declaration lands where the main model would have put a
new line of that rank: the lanes' thresholds, fitted on the main model's scale, and the share of new lines in
each lane stay as they were; only the order among new lines changes. The tables it reads (votetables.py) grow
with every outcome recorded, as the history profiles do.
"""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np

from concord.risk.learning.crossfit import Coded, train_booster
from concord.risk.learning.metrics import selection_metrics
from concord.risk.learning.votetables import LineVoteTables

QUANTILES = np.linspace(0.0, 1.0, 201)
MIN_ROUTED = 30  # valid rows sent to this booster below which no mapping (and no routing) is fitted
ROUTE = "goods_line.n"  # the main model's count of earlier outcomes of the row's goods line


class NewLineBooster:
    """The booster, the tables it reads, and the map of its scores onto the main model's."""

    def __init__(self, booster: lgb.Booster, tables: LineVoteTables, raw_q: np.ndarray, main_q: np.ndarray,
                 info: dict | None = None):
        self.booster, self.tables, self.info = booster, tables, info or {}
        self.raw_q, self.main_q = np.asarray(raw_q, np.float64), np.asarray(main_q, np.float64)
        self.names = booster.feature_name()

    @property
    def routes(self) -> bool:
        """Whether the live model sends new lines here (decided at training on valid; older files: yes)."""
        return bool(self.info.get("routes", True))

    def raw(self, records) -> np.ndarray:
        return self.booster.predict(self.tables.features(records)[0], num_threads=1)

    def score(self, records) -> np.ndarray:
        """Scores on the main model's scale (monotone in the booster's: the order among new lines is its)."""
        return np.interp(self.raw(records), self.raw_q, self.main_q)

    def explain(self, record, top: int = 5) -> list[dict]:
        x = self.tables.features([record])[0]
        contrib = self.booster.predict(x, pred_contrib=True, num_threads=1)[0][:-1]
        order = np.argsort(-np.abs(contrib))[:top]
        return [{"feature": self.names[i], "value": None if np.isnan(x[0, i]) else round(float(x[0, i]), 6),
                 "contribution": round(float(contrib[i]), 6)} for i in order]

    def add_outcomes(self, records) -> None:
        self.tables.add_outcomes(records)

    def write(self, z) -> None:
        """Into the model's zip: booster text, tables (.npz), the mapping and info (json)."""
        z.writestr("newlines/model.txt", self.booster.model_to_string())
        z.writestr("newlines/tables.npz", self.tables.to_bytes())
        z.writestr("newlines/map.json", json.dumps({"raw": self.raw_q.tolist(), "main": self.main_q.tolist(),
                                                    "info": self.info}))

    @classmethod
    def read(cls, z) -> "NewLineBooster | None":
        """From the model's zip; None for a model file saved before routing existed."""
        if "newlines/model.txt" not in z.namelist():
            return None
        mapping = json.loads(z.read("newlines/map.json"))
        return cls(lgb.Booster(model_str=z.read("newlines/model.txt").decode()),
                   LineVoteTables.from_bytes(z.read("newlines/tables.npz")), mapping["raw"], mapping["main"],
                   mapping["info"])


def routed(x: np.ndarray, names: list[str]) -> np.ndarray | None:
    """Rows of the main model's feature matrix whose goods line has no known outcome (None: no such feature)."""
    return x[:, names.index(ROUTE)] == 0 if ROUTE in names else None


def fit_new_lines(train, valid, main, declared, params: dict | None = None, always: bool = False
                  ) -> NewLineBooster | None:
    """Train the cross-fitted booster on `train`, stop on the `valid` rows whose line was new, and map its scores
    onto `main`'s on the valid rows the router sends to it. None when valid has too few such rows to map.

    It routes (info["routes"]) only if it ranks those valid rows at least as well as the main model, in AUC and
    in precision at the top 10 % (the lanes' cut), unless `always`. On KCS it does (valid: AUC 0.645 against
    0.631); on the scheme benchmark, where every goods line is new and the main model learnt from new lines,
    it does not (0.827 against 0.835), and the test splits agreed (docs/risk-model.md)."""
    train, valid = list(train), list(valid)
    x_valid = main.features(valid)
    new = routed(x_valid, main.spec.names())
    if new is None or new.sum() < MIN_ROUTED or len({valid[i].fraud for i in np.flatnonzero(new)}) < 2:
        return None
    # price norms from the declarations given; votes for scoring from every outcome of train and valid
    tables = LineVoteTables.fit(train + valid, declared)
    coded = Coded(train + valid)
    a, v = len(train), len(valid)
    booster = train_booster(coded, a, v, tables.prices, params)
    best = booster.best_iteration or booster.current_iteration()
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    # the map: as the booster will see a new line live (votes of everything labelled before: train), and the
    # main model on the same rows
    asked = a + np.flatnonzero(new)
    x_new = np.hstack([coded.votes(np.arange(a), asked)[0], tables.prices([valid[i] for i in np.flatnonzero(new)])[0]])
    raw = booster.predict(x_new, num_threads=1)
    main_scores = main.booster.predict(x_valid[new], num_threads=1)
    y = np.array([valid[i].fraud for i in np.flatnonzero(new)])
    info = {"best_iteration": int(best), "valid_routed_rows": int(new.sum()),
            # how each ranks the valid rows it would score (the main model's figure is a little optimistic: it
            # stopped boosting on valid)
            "valid_routed": {name: {k: round(m, 4) for k, m in selection_metrics(y, y * 0, s).items()
                                    if k in ("auc", "precision@5", "precision@10")}
                             for name, s in (("booster", raw), ("main", main_scores))},
            "train_rows": a, "declared_lines_for_price_norms": len({(r.hs6, r.origin, r.net_mass, r.value)
                                                                   for r in declared})}
    mine, theirs = info["valid_routed"]["booster"], info["valid_routed"]["main"]
    info["routes"] = always or (mine["auc"] >= theirs["auc"] and mine["precision@10"] >= theirs["precision@10"])
    return NewLineBooster(booster, tables, *_strict(np.quantile(raw, QUANTILES), np.quantile(main_scores, QUANTILES)),
                          info)


def _strict(raw_q: np.ndarray, main_q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of a booster repeat (its scores take few values); np.interp needs increasing points: equal raw
    quantiles share the mean of their main ones (both stay nondecreasing)."""
    xs, at = np.unique(raw_q, return_inverse=True)
    return xs, np.bincount(at, main_q) / np.bincount(at)

