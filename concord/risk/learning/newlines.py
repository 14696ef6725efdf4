"""The live model's second booster: declarations whose goods line has no known outcome are scored by it.

The main model's trees are mostly memory of goods lines already inspected; on a line never seen they rank
little better than plain LightGBM (KCS test: AUC 0.599 against 0.591). The cross-fitted line-vote booster
(crossfit.py) does better there (0.643). The live model routes: a declaration whose history holds no outcome
of its goods line (`goods_line.n == 0`, the main model's own feature) is scored by this booster, any other by
the main model. Its raw scores are mapped onto the main model's scores on new lines (quantile mapping fitted
on the valid rows the router sends here), so a routed declaration lands where the main model would have put a
new line of that rank: the lanes' thresholds, fitted on the main model's scale, and the share of new lines in
each lane stay as they were; only the order among new lines changes. The tables it reads (votetables.py) grow
with every outcome recorded, as the history profiles do. It may also read party novelty (PARTY: the main model's
own as-of-time columns), kept at training only where valid says they help (on KCS they do not).
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
# Party novelty, read from the main model's own history columns (features.py), so it is as of each declaration's
# time, strictly before it, and live exactly as the main model's: every outcome recorded (record_outcomes, the
# OutcomeFeed) and every declaration lodged (record_declarations, the DeclarationFeed) updates the profiles it reads.
# Declarations seen before per party and combination (first-time importer: 0; a new importer-broker-seller
# combination: 0), outcomes known per party and pair.
PARTY = ("importer.n_declared", "declarant.n_declared", "seller.n_declared", "importer_declarant.n_declared",
         "importer_seller.n_declared", "importer_declarant_seller.n_declared", "importer_hs6.n_declared",
         "importer_hs4.n_declared", "seller_hs6.n_declared",
         "importer.n", "declarant.n", "seller.n", "seller_importer.n", "declarant_importer.n")


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

    @property
    def party(self) -> list[str]:
        """The main model's columns it reads besides its tables (PARTY; none in files saved before them)."""
        return list(self.info.get("party", []))

    def columns(self, records, x_main: np.ndarray | None = None, main_names: list[str] | None = None) -> np.ndarray:
        """Its inputs: the tables' columns, then the party columns taken from the main model's matrix of the same
        records (`x_main`, columns `main_names`), which the caller has computed already."""
        x = self.tables.features(records)[0]
        if not self.party:
            return x
        return np.hstack([x, x_main[:, [main_names.index(n) for n in self.party]]])

    def raw(self, records, x_main=None, main_names=None, columns: np.ndarray | None = None) -> np.ndarray:
        """The booster's own scores (`columns`: its inputs, when the caller has them already)."""
        columns = self.columns(records, x_main, main_names) if columns is None else columns
        return self.booster.predict(columns, num_threads=1)

    def score(self, records, x_main=None, main_names=None, columns: np.ndarray | None = None) -> np.ndarray:
        """Scores on the main model's scale (monotone in the booster's: the order among new lines is its)."""
        return np.interp(self.raw(records, x_main, main_names, columns), self.raw_q, self.main_q)

    def explain(self, record, top: int = 5, x_main=None, main_names=None,
                columns: np.ndarray | None = None) -> list[dict]:
        x = self.columns([record], x_main, main_names) if columns is None else columns
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


def fit_new_lines(train, valid, main, declared, params: dict | None = None, always: bool = False,
                  party=PARTY, check_party: bool = True) -> NewLineBooster | None:
    """Train the cross-fitted booster on `train`, stop on the `valid` rows whose line was new, and map its scores
    onto `main`'s on the valid rows the router sends to it. None when valid has too few such rows to map.

    It routes (info["routes"]) only if it ranks those valid rows at least as well as the main model, in AUC and
    in precision at the top 10 % (the lanes' cut), unless `always`. On KCS it does (valid: AUC 0.645 against
    0.631); on the scheme benchmark, where every goods line is new and the main model learnt from new lines,
    it does not (0.827 against 0.835), and the test splits agreed (docs/risk-model.md).

    `party`: the main model's columns of party novelty it may read too (those the main model has). With
    `check_party`, a booster is trained with them and one without, and they are kept only if they rank the same
    valid rows at least as well, in AUC and precision@10 (info["party_check"]); KCS: they do not (docs)."""
    train, valid = list(train), list(valid)
    x_valid = main.features(valid)
    names = main.spec.names()
    new = routed(x_valid, names)
    if new is None or new.sum() < MIN_ROUTED or len({valid[i].fraud for i in np.flatnonzero(new)}) < 2:
        return None
    # price norms from the declarations given; votes for scoring from every outcome of train and valid
    tables = LineVoteTables.fit(train + valid, declared)
    coded = Coded(train + valid)
    a = len(train)
    # the valid rows the router sends here, as the booster will see a new line live (votes of everything labelled
    # before: train), and the main model on the same rows
    sent = np.flatnonzero(new)
    votes = coded.votes(np.arange(a), a + sent)[0]
    y = np.array([valid[i].fraud for i in sent])
    main_scores = main.booster.predict(x_valid[new], num_threads=1)
    party = [n for n in party if n in names]
    sent_rows = [valid[i] for i in sent]
    fitted = {"with": _fit_one(coded, a, len(valid), tables, main, party, params, votes, sent_rows, x_valid[new], y)}
    if party and check_party:
        fitted["without"] = _fit_one(coded, a, len(valid), tables, main, [], params, votes, sent_rows, x_valid[new],
                                     y)
    keep = "without" not in fitted or _at_least(fitted["with"][2], fitted["without"][2])
    booster, raw, mine = fitted["with" if keep else "without"]
    info = {"best_iteration": int(booster.current_iteration()), "valid_routed_rows": int(new.sum()),
            "party": party if keep else [],
            # how each ranks the valid rows it would score (the main model's figure is a little optimistic: it
            # stopped boosting on valid; so are the booster's, each stopped on them)
            "valid_routed": {"booster": mine, "main": _metrics(y, main_scores)},
            "train_rows": a, "declared_lines_for_price_norms": len({(r.hs6, r.origin, r.net_mass, r.value)
                                                                   for r in declared})}
    if "without" in fitted:
        info["party_check"] = {"with": fitted["with"][2], "without": fitted["without"][2], "kept": bool(keep)}
    info["routes"] = always or _at_least(mine, info["valid_routed"]["main"])
    return NewLineBooster(booster, tables, *_strict(np.quantile(raw, QUANTILES), np.quantile(main_scores, QUANTILES)),
                          info)


def _fit_one(coded, a, v, tables, main, party, params, votes, sent_rows, x_sent, y):
    """One booster reading the tables and the `party` columns of the main model: (booster, its raw scores on the
    valid rows sent here, their metrics)."""
    at = [main.spec.names().index(n) for n in party]

    def extra(rows, x_main=None):  # prices, then party novelty as the main model reads it (as of each row's time)
        p, p_names = tables.prices(rows)
        if not party:
            return p, p_names
        x_main = main.features(rows) if x_main is None else x_main
        return np.hstack([p, x_main[:, at]]), p_names + ["party." + n for n in party]

    booster = train_booster(coded, a, v, extra, params)
    best = booster.best_iteration or booster.current_iteration()
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    raw = booster.predict(np.hstack([votes, extra(sent_rows, x_sent)[0]]), num_threads=1)
    return booster, raw, _metrics(y, raw)


def _metrics(y, scores) -> dict:
    return {k: round(m, 4) for k, m in selection_metrics(y, y * 0, scores).items()
            if k in ("auc", "precision@5", "precision@10")}


def _at_least(mine: dict, theirs: dict) -> bool:
    """The gates' rule: at least as good in AUC and in precision at the top 10 % (the lanes' cut)."""
    return mine["auc"] >= theirs["auc"] and mine["precision@10"] >= theirs["precision@10"]


def _strict(raw_q: np.ndarray, main_q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of a booster repeat (its scores take few values); np.interp needs increasing points: equal raw
    quantiles share the mean of their main ones (both stay nondecreasing)."""
    xs, at = np.unique(raw_q, return_inverse=True)
    return xs, np.bincount(at, main_q) / np.bincount(at)

