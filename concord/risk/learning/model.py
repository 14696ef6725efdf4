"""The learned risk model: training with early stopping, scoring, explanations, serialization."""

import io
import json
import threading
import zipfile
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import lightgbm as lgb
import numpy as np

from concord.errors import ConcordError
from concord.risk.learning.drift import drift_report, reference_profile
from concord.risk.learning.explanations import MAIN, NEW_LINES, Riskiest, contributions, from_inputs
from concord.risk.learning.features import FeatureSpec, featurize, fit_spec, forget_lines
from concord.risk.learning.history import HistoryProfiles
from concord.risk.learning.metrics import selection_metrics
from concord.risk.learning.newlines import NewLineBooster, fit_new_lines, routed

__all__ = ["DEFAULT_PARAMS", "RiskModel", "evaluate", "fit", "selection_metrics", "drift_report"]

# Chosen on valid.csv only (see docs/risk-model.md). One thread: on a shared two-core host (load 10-15) two
# OpenMP threads spin waiting for each other, and a boosting round took 17x longer by the wall clock (0.86 s
# against 0.05 s for plain LightGBM on KCS train, measured 2026-12-03); one thread is never that much slower.
DEFAULT_PARAMS = {
    "objective": "binary", "metric": "auc", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 40,
    "feature_fraction": 0.7, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "cat_smooth": 10,
    "num_threads": 1, "seed": 1, "verbose": -1,
}


@dataclass
class RiskModel:
    """A trained booster with its feature spec and the history profiles it reads at scoring time."""

    booster: lgb.Booster
    spec: FeatureSpec
    profiles: HistoryProfiles
    info: dict = field(default_factory=dict)
    reference: dict = field(default_factory=dict)  # training-period distributions, for drift reports
    version: str = "unregistered"
    new_lines: NewLineBooster | None = None  # scores rows whose goods line has no known outcome (newlines.py)
    # scoring reads the history that recorded outcomes rewrite: one at a time (uncontended: ~100 ns)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def features(self, records, as_of: float | None = None) -> np.ndarray:
        """The feature matrix, from the one feature function."""
        return featurize(records, self.profiles, self.spec, as_of)

    def _routed(self, x: np.ndarray, route: bool | None = None) -> np.ndarray | None:
        """Rows for the new-line booster: those whose goods line has no known outcome, when the booster routes
        (it won on valid, see newlines.py) or `route` asks for it anyway; None when nothing is routed."""
        if self.new_lines is None or not (self.new_lines.routes if route is None else route):
            return None
        return routed(x, self.spec.names())

    def score_records(self, records, as_of: float | None = None, route: bool | None = None) -> np.ndarray:
        """Probability of an irregularity, one per record (`route` True/False overrides the model's routing)."""
        records = list(records)
        if not records:
            return np.zeros(0)
        with self._lock:
            x = self.features(records, as_of)
            return self._scored(records, x, route)[0]

    def _scored(self, records, x: np.ndarray, route: bool | None = None) -> tuple:
        """The live scores of records whose features are `x` (new goods lines by the booster, if it routes), which
        rows the booster scored, and its inputs for them (None, None when it scored none)."""
        new = self._routed(x, route)
        if new is not None and new.any():
            out = np.empty(len(records))
            columns = self.new_lines.columns([r for r, n in zip(records, new) if n], x[new], self.spec.names())
            out[new] = self.new_lines.score(None, columns=columns)
            if not new.all():  # one thread: a single assessment gains nothing from more, and the host is shared
                out[~new] = self.booster.predict(x[~new], num_threads=1)
            return out, new, columns
        return self.booster.predict(x, num_threads=1), None, None

    def routed(self, records, as_of: float | None = None, route: bool | None = None) -> np.ndarray:
        """Which records the new-line booster scores (their goods line has no known outcome)."""
        with self._lock:
            x = self.features(list(records), as_of)
        new = self._routed(x, route)
        return np.zeros(len(x), bool) if new is None else new

    def main_scores(self, records, as_of: float | None = None) -> np.ndarray:
        """The main model alone on every record (the live model before routing; for comparisons)."""
        with self._lock:
            x = self.features(list(records), as_of)
        return self.booster.predict(x, num_threads=1) if len(x) else np.zeros(0)

    def explain(self, record, top: int = 5) -> list[dict]:
        """The features that pushed this record's score most, with their value and log-odds contribution."""
        with self._lock:
            return self._explain(record, self.features([record]), top)

    def assess(self, records, top: int = 5) -> tuple[np.ndarray, int, Riskiest]:
        """A declaration's goods items: their scores, the riskiest one, and that item's inputs, which explain it
        now or later exactly (`Riskiest`). The explanation is the costly part (TreeSHAP: 0.45-2.0 ms against
        0.03-0.06 ms for the scores), so the caller asks for it only where an officer reads it (step.py)."""
        return self.assess_many([records], top)[0]

    def assess_many(self, declarations, top: int = 5) -> list[tuple[np.ndarray, int, Riskiest]]:
        """`assess` for several declarations' goods items in one feature matrix: the same figures, at a quarter of
        the CPU per declaration for a group of 8 (the features' numpy calls cost per call, not per row)."""
        declarations = [list(d) for d in declarations]
        records = [r for d in declarations for r in d]
        with self._lock:
            x = self.features(records)
            scores, new, columns = self._scored(records, x)
        booster_row = None if new is None else np.cumsum(new) - 1  # each row's row of the booster's inputs
        out, start = [], 0
        for items in declarations:
            end = start + len(items)
            worst = start + int(np.argmax(scores[start:end]))
            if new is not None and new[worst]:  # the booster that scored it explains it, from its row of inputs
                riskiest = Riskiest(self, top, NEW_LINES, columns[booster_row[worst]:booster_row[worst] + 1])
            else:
                riskiest = Riskiest(self, top, MAIN, x[worst:worst + 1])
            out.append((scores[start:end], worst - start, riskiest))
            start = end
        return out

    def _explain(self, record, x: np.ndarray, top: int) -> list[dict]:
        new = self._routed(x)
        if new is not None and new[0]:
            return self.new_lines.explain(record, top, x, self.spec.names())
        return contributions(self, x, top)

    def explain_inputs(self, inputs: dict, top: int = 5) -> list[dict]:
        """The explanation of an item from its stored inputs (`Riskiest.inputs`): what `explain` gave when it
        was assessed, by the same model version, whatever the history has learnt since."""
        with self._lock:
            return from_inputs(self, inputs, top)

    def record_outcome(self, record, known_at: float | None = None) -> None:
        """An inspection outcome becomes history at once (and a label at the next training)."""
        self.record_outcomes([record], known_at)

    def record_outcomes(self, records, known_at: float | None = None) -> None:
        """Inspection outcomes: the history profiles and, for new lines, the booster's line votes (the next new
        line of their groups reads them); one call for many is cheaper than one each, and scores the same."""
        records = list(records)
        with self._lock:
            self.profiles.add_outcomes(records, None if known_at is None else int(known_at))
            if self.new_lines is not None:
                self.new_lines.add_outcomes(records)
        self.profiles.settle(self._lock)  # merged here, outside the lock, not in the next assessment

    def record_declarations(self, records, fold_before: float | None = None) -> None:
        """Declarations' values join the price and party statistics (DeclarationFeed); with `fold_before`, each
        key's events older than it may become one (the live model asks as of now: memory stays with the keys).
        The new events are merged into the sorted history here, not in the next assessment, and assessments wait
        only for the merged arrays to be swapped in, not for the merge."""
        records = list(records)
        with self._lock:
            self.profiles.fold_before(None if fold_before is None else int(fold_before))
            self.profiles.add_declarations(records)
        self.profiles.settle(self._lock)

    def drift(self, records, as_of: float | None = None, top: int | None = 20) -> dict:
        """Compare recent score and feature distributions with the training period."""
        records = list(records)
        with self._lock:
            x = self.features(records, as_of)
            # the scores the lanes use: the booster's on new lines are mapped onto the main model's scale, whose
            # valid-period distribution is the reference, so one reference serves both
            scores = self._scored(records, x)[0] if records else np.zeros(0)
        return drift_report(self.reference, x, scores, self.spec.names(), top)

    def to_bytes(self) -> bytes:
        """One zip: booster text, feature spec, history profiles (npz), training info and drift reference."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("model.txt", self.booster.model_to_string())
            z.writestr("spec.json", json.dumps(self.spec.to_dict()))
            z.writestr("profiles.npz", self.profiles.to_bytes())
            z.writestr("info.json", json.dumps({"info": self.info, "reference": self.reference}))
            if self.new_lines is not None:
                with self._lock:
                    self.new_lines.write(z)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, version: str = "unregistered") -> "RiskModel":
        """Inverse of to_bytes."""
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            booster = lgb.Booster(model_str=z.read("model.txt").decode())
            spec = FeatureSpec.from_dict(json.loads(z.read("spec.json")))
            profiles = HistoryProfiles.from_bytes(z.read("profiles.npz"))
            meta = json.loads(z.read("info.json"))
            new_lines = NewLineBooster.read(z)
        return cls(booster, spec, profiles, meta["info"], meta["reference"], version, new_lines)


class UnlabelledData(ConcordError):
    """Training data without outcomes."""

    status = 422
    code = "unlabelled_data"


def check_splits(train: list, valid: list, *, checked: bool = True) -> None:
    """Splits a model can learn from (and, `checked`, be checked on), or UnlabelledData saying what is missing."""
    if not train or any(r.fraud is None for r in train + valid):
        raise UnlabelledData("training needs declarations with outcomes: every record of train and valid "
                             "must have `fraud` 0 or 1, and train must not be empty")
    if len({r.fraud for r in train}) < 2:  # a constant model that would become active as the first version
        raise UnlabelledData(f"train holds {len(train)} declarations, all with `fraud` {train[0].fraud}: a model "
                             "learns from both irregular and compliant outcomes")
    if checked and not valid:  # boosting would run every round with nothing to stop it, and report no figure
        raise UnlabelledData("valid holds no declarations: training stops early on them and reports its figures "
                             "there; give a later period of the same data")


def _labels(records) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([r.fraud for r in records], dtype=np.int64),
            np.array([r.critical or 0 for r in records], dtype=np.int64))


def fit(train, valid, profiles: HistoryProfiles | None = None, params: dict | None = None,
        rounds: int = 3000, patience: int = 200, spec: FeatureSpec | None = None, progress=None,
        new_lines: str = "valid", declared=None) -> RiskModel:
    """Train on `train`, stop early on `valid`; history features read outcomes strictly before each row.

    `profiles` defaults to the history of train and valid themselves; give it to add earlier history.
    `new_lines`: "valid" trains the booster for rows whose goods line has no known outcome (newlines.py) and routes
    them to it if it ranks valid's such rows at least as well as the main model; "always" routes regardless,
    "never" trains none. Its price norms come from `declared` (default train and valid: known at training).
    `progress(stage, done, total)`, when given, hears of each stage and boosting round (a console shows it).
    """
    if new_lines not in ("valid", "always", "never"):  # before a minute of training, not after
        raise ConcordError(f"--new-lines must be 'valid', 'always' or 'never', not {new_lines!r}")
    progress = progress or (lambda stage, done=None, total=None: None)
    train, valid = list(train), list(valid)
    check_splits(train, valid, checked=False)  # without valid, a fixed number of rounds (a library use)
    if profiles is None:
        profiles = HistoryProfiles().observe(train + valid)
    spec = spec or fit_spec(train)
    params = {**DEFAULT_PARAMS, **(params or {})}
    patience = int(params.pop("early_stopping_round", patience))  # LightGBM's own name for it, if given
    names, cats = spec.names(), spec.categorical_names()
    progress("features")
    x_train, x_valid = featurize(train, profiles, spec), featurize(valid, profiles, spec)
    if spec.memory_dropout:  # some rows learn as if their goods line were new (see features.MEMORY_PROFILES)
        hidden = np.flatnonzero(np.random.default_rng(1).random(len(train)) < spec.memory_dropout)
        x_train = forget_lines(x_train, spec, hidden)
    (y_train, _), (y_valid, c_valid) = _labels(train), _labels(valid)
    d_train = lgb.Dataset(x_train, y_train, feature_name=names, categorical_feature=cats, free_raw_data=False)
    d_valid = lgb.Dataset(x_valid, y_valid, reference=d_train)
    callbacks = [lgb.early_stopping(patience, first_metric_only=True, verbose=False)] if valid else []
    callbacks.append(lambda env: progress("training", env.iteration + 1, env.end_iteration))
    booster = lgb.train(params, d_train, rounds, valid_sets=[d_valid] if valid else [], callbacks=callbacks)
    best = booster.best_iteration or rounds
    # keep only the trees early stopping chose, so that scoring and explanations use exactly them
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    scores_valid = booster.predict(x_valid, num_threads=1) if valid else np.zeros(0)
    info = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "best_iteration": best, "params": params, "rows": {"train": len(train), "valid": len(valid)},
        "periods": {"train": _period(train), "valid": _period(valid)},
        "valid": selection_metrics(y_valid, c_valid, scores_valid) if valid else {},
    }
    # drift reference: the validation period when there is one, the latest the model was fitted on and
    # the first with a full year of history behind it; early training rows have almost none
    x_ref, s_ref = (x_valid, scores_valid) if valid else (x_train, booster.predict(x_train, num_threads=1))
    reference = reference_profile(x_ref, s_ref, names)
    model = RiskModel(booster, spec, profiles, info, reference)
    if new_lines != "never" and valid:
        progress("the booster for new goods lines")
        model.new_lines = fit_new_lines(train, valid, model, train + valid if declared is None else list(declared),
                                        {k: v for k, v in params.items() if k in _BOOSTER_PARAMS},
                                        always=new_lines == "always")
        if model.new_lines is not None:
            info["new_lines"] = model.new_lines.info
    return model


# the main model's parameters that the new-line booster shares when they are overridden (`--params`): the
# threads, and a faster schedule in tests; its shape (leaves, sampling, monotone rates) is its own
_BOOSTER_PARAMS = ("num_threads", "learning_rate", "seed", "verbose")


def evaluate(train, valid, test, params: dict | None = None, progress=None) -> tuple[dict, RiskModel]:
    """Train on train, stop early on valid, report the selection metrics on test once.

    When test is scored, the outcomes of train and valid are known and no outcome of test is:
    test records lose their labels before anything else sees them.
    """
    test = list(test)
    fraud, critical = _labels(test)
    unlabelled = [replace(r, fraud=None, critical=None, revenue=None) for r in test]
    profiles = HistoryProfiles().observe(list(train) + list(valid))
    profiles.add_declarations(unlabelled)  # lodged declarations: values known, outcomes not
    model = fit(train, valid, profiles, params, progress=progress)
    if progress:
        progress("scoring the test split")
    result = selection_metrics(fraud, critical, model.score_records(unlabelled))
    return {**result, "best_iteration": model.info["best_iteration"], "valid": model.info["valid"]}, model


def _period(records) -> list[str] | None:
    if not records:
        return None
    return [min(r.when for r in records).date().isoformat(), max(r.when for r in records).date().isoformat()]
